// The pipeline's HTTP app: routes, errors, docs. Builds; never listens.
import Fastify, { type FastifyInstance } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { Pool } from 'pg';
import type { FastifyBaseLogger } from 'fastify';
import type { Config } from '../config.js';
import { CustomerSchema } from '../customer.js';
import { HttpError, installErrorHandling } from '../http/errors.js';
import { registerDocs } from '../http/docs.js';
import { serverOptions } from '../http/server-options.js';
import { isDatabaseUnavailable } from './db/database.js';
import type { IngestOptions } from './ingest/ingest.js';
import { customersRoutes } from './routes/customers.js';
import { healthRoutes } from './routes/health.js';
import { ingestRoutes } from './routes/ingest.js';

export interface PipelineAppDeps {
  pool: Pool;
  config: Pick<
    Config,
    'sourceUrl' | 'INGEST_PAGE_SIZE' | 'INGEST_CONCURRENCY' | 'SOURCE_TIMEOUT_MS' | 'SOURCE_MAX_RETRIES' | 'SOURCE_RETRY_BASE_MS' | 'SOURCE_RETRY_MAX_MS' | 'SOURCE_RETRY_BUDGET_MS'
  >;
  logger?: FastifyBaseLogger | false;
  /** Aborted at shutdown: an ingest in flight stops fetching and rolls back. */
  shutdownSignal?: AbortSignal;
}

export function ingestOptions(config: PipelineAppDeps['config']): IngestOptions {
  return {
    sourceUrl: config.sourceUrl,
    pageSize: config.INGEST_PAGE_SIZE,
    concurrency: config.INGEST_CONCURRENCY,
    timeoutMs: config.SOURCE_TIMEOUT_MS,
    retry: { maxRetries: config.SOURCE_MAX_RETRIES, baseMs: config.SOURCE_RETRY_BASE_MS, maxMs: config.SOURCE_RETRY_MAX_MS, budgetMs: config.SOURCE_RETRY_BUDGET_MS },
  };
}

export async function buildPipelineApp(deps: PipelineAppDeps): Promise<FastifyInstance> {
  const app = Fastify(serverOptions(deps.logger)).withTypeProvider<TypeBoxTypeProvider>();

  installErrorHandling(app, (err) =>
    isDatabaseUnavailable(err) ? new HttpError(503, 'Database unavailable; try again shortly') : null,
  );
  await registerDocs(app, {
    title: 'customer-pipeline API',
    description: 'Ingests customer records from the source API into PostgreSQL and serves them back.',
    version: '1.0.0',
  });
  app.addSchema(CustomerSchema);

  // A response finished after shutdown began (an ingest rolled back by it)
  // closes its connection, so the server's close is not held up by keep-alive.
  const shutdownSignal = deps.shutdownSignal;
  if (shutdownSignal) {
    app.addHook('onSend', async (_request, reply) => {
      if (shutdownSignal.aborted) reply.header('connection', 'close');
    });
  }

  await app.register(healthRoutes, { pool: deps.pool });
  await app.register(customersRoutes, { pool: deps.pool, maxLimit: 1000 });
  await app.register(ingestRoutes, { pool: deps.pool, ingest: ingestOptions(deps.config), signal: deps.shutdownSignal });
  return app;
}
