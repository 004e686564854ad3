// The pipeline's HTTP app: routes, errors, docs, metrics, security. Builds; never listens.
import Fastify, { type FastifyInstance, type FastifyRequest, type RouteOptions } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { Pool } from 'pg';
import type { FastifyBaseLogger } from 'fastify';
import type { IngestSettings, LogSettings, SecuritySettings, SourceSettings } from '../core/config.js';
import { CustomerSchema } from '../core/customer.js';
import { DomainError, type DomainErrorKind } from '../core/errors.js';
import { HttpError, installErrorHandling } from '../http/errors.js';
import { registerDocs, type RouteErrors } from '../http/docs.js';
import { installMetrics } from '../http/metrics.js';
import { installResponseHeaders, prependOnRequest, registerCors, registerRateLimit, requireBearer } from '../http/security.js';
import { serverOptions } from '../http/server-options.js';
import { PipelineMetrics } from './metrics.js';
import { databaseTimeout, isDatabaseUnavailable } from '../core/db/database.js';
import type { IngestOptions } from '../core/ingest/ingest.js';
import { changesRoutes } from './routes/changes.js';
import type { ReadReplica } from '../core/db/replica.js';
import { customersRoutes } from './routes/customers.js';
import { dashboardRoutes } from './routes/dashboard.js';
import { healthRoutes } from './routes/health.js';
import { ingestRoutes } from './routes/ingest.js';

export interface PipelineAppDeps {
  /** The primary. */
  pool: Pool;
  /** Where the read API's reads go (a replica's pool that falls back to the primary); default `pool`. */
  readPool?: Pool;
  /** The replica behind `readPool`, for readiness and metrics. */
  replica?: ReadReplica | null;
  /** DB_TRANSACTION_POOLER: the pools go through PgBouncer (or another pooler) in transaction mode. */
  transactionPooler?: boolean;
  /** The source API ingests read from, as `sourceUrl(config)` decides it (config.source.url is not read here). */
  sourceUrl: string;
  config: {
    ingest: IngestSettings;
    source: SourceSettings;
    // Operations and security; each is off (or the default) when absent.
    log?: Partial<LogSettings>;
    security?: Partial<SecuritySettings>;
  };
  logger?: FastifyBaseLogger | false;
  /** Aborted at shutdown: an ingest in flight stops fetching and rolls back. */
  shutdownSignal?: AbortSignal;
}

export function ingestOptions(config: { ingest: IngestSettings; source: SourceSettings }, sourceUrl: string): IngestOptions {
  const { ingest, source } = config;
  return {
    sourceUrl,
    pageSize: ingest.pageSize,
    concurrency: ingest.concurrency,
    workMem: ingest.workMem,
    chunkRows: ingest.chunkRows,
    timeoutMs: source.timeoutMs,
    maxPageBytes: source.maxPageBytes,
    retry: { maxRetries: source.maxRetries, baseMs: source.retryBaseMs, maxMs: source.retryMaxMs, budgetMs: source.retryBudgetMs },
    limits: { maxPages: ingest.maxPages, maxRecords: ingest.maxRecords, maxDurationMs: ingest.maxDurationMs },
    deleteMissing: ingest.deleteMissing,
    deleteMaxPercent: ingest.deleteMaxPercent,
    changesRetentionDays: ingest.changesRetentionDays,
  };
}

/** The HTTP status of each kind of the engine's errors (core/errors.ts). */
const STATUS_OF: Record<DomainErrorKind, number> = {
  conflict: 409,
  refused: 409,
  not_found: 404,
  source_failed: 502,
  database_failed: 503,
  cancelled: 503,
  database_unavailable: 503,
};

/**
 * The one translation of errors into problems beyond HTTP's own: the
 * engine's errors by their kind (with their details), and a database that is
 * away or too slow — the service's trouble, not the client's: 503, to be
 * tried again.
 */
function problemOf(err: Error): HttpError | null {
  if (err instanceof DomainError) return new HttpError(STATUS_OF[err.kind], err.message, err.details);
  if (isDatabaseUnavailable(err)) return new HttpError(503, 'Database unavailable; try again shortly');
  const timeout = databaseTimeout(err);
  if (timeout === 'lock') {
    return new HttpError(
      503,
      'The database is busy: a lock held by other work did not come free in time (DB_LOCK_TIMEOUT_MS); try again shortly',
      {},
      { 'retry-after': '1' },
    );
  }
  if (timeout === 'statement') {
    return new HttpError(
      503,
      'The database did not answer in time (DB_STATEMENT_TIMEOUT_MS); try again shortly',
      {},
      { 'retry-after': '1' },
    );
  }
  return null;
}

/** Routes the API key guards: the ingest and its run records (rejected records hold raw payloads). */
const isIngestRoute = (url: string) => url === '/api/ingest' || url.startsWith('/api/ingest/');
/** Probes stay out of the rate limit and answer without the database (health) or are about it (ready). */
const isProbe = (url: string) => url === '/api/health' || url === '/api/ready';
/** Reads: what RATE_LIMIT_PER_MINUTE limits. */
const isRead = (method: string, url: string | undefined) =>
  (method === 'GET' || method === 'HEAD') && url !== undefined && url.startsWith('/api/') && !isProbe(url);
const routeMethods = (route: RouteOptions) => ([] as string[]).concat(route.method);

export async function buildPipelineApp(deps: PipelineAppDeps): Promise<FastifyInstance> {
  const { config } = deps;
  const apiKey = config.security?.apiKey ?? null;
  const perMinute = config.security?.rateLimitPerMinute ?? 0;
  const app = Fastify(serverOptions(deps.logger, { logRequests: config.log?.requests })).withTypeProvider<TypeBoxTypeProvider>();
  const metrics = new PipelineMetrics(deps.pool, undefined, deps.replica ?? null);
  const readPool = deps.readPool ?? deps.pool;

  installErrorHandling(app, problemOf);
  // Before any route: the hooks below see every route as it is added.
  installResponseHeaders(app);
  await registerCors(app, config.security?.corsOrigins ?? []);
  if (perMinute > 0) {
    await registerRateLimit(app, perMinute, (request: FastifyRequest) => isRead(request.method, request.routeOptions.url));
  }
  if (apiKey) {
    const guard = requireBearer(apiKey);
    app.addHook('onRoute', (route) => {
      if (isIngestRoute(route.url)) prependOnRequest(route, guard);
    });
  }
  await registerDocs(
    app,
    {
      title: 'customer-pipeline API',
      description: 'Ingests customer records from the source API into PostgreSQL and serves them back.',
      version: '1.0.0',
    },
    {
      needsAuth: apiKey ? (route) => isIngestRoute(route.url) : undefined,
      tags: [
        {
          name: 'customers',
          description: 'The stored customers: pages, filters, sort, cursors, lookups',
          routes: (url) => url.startsWith('/api/customers'),
        },
        {
          name: 'ingest',
          description: 'Ingest runs: start one, follow it, read its record and its rejected records',
          routes: isIngestRoute,
        },
        { name: 'operations', description: 'Liveness, readiness and metrics', routes: () => true },
      ],
      errorsFor: (route) => {
        const errors: RouteErrors = {};
        if (route.url.startsWith('/api/') && route.url !== '/api/health') {
          errors['503'] = 'the database is unavailable (or the service is shutting down); try again shortly';
        }
        if (apiKey && isIngestRoute(route.url)) {
          errors['401'] = {
            description: 'INGEST_API_KEY is set and the bearer token is missing or wrong',
            headers: { 'www-authenticate': { type: 'string', description: 'Bearer realm="customer-pipeline"' } },
          };
        }
        if (perMinute > 0 && routeMethods(route).some((m) => isRead(m, route.url))) {
          errors['429'] = {
            description: `more than ${perMinute} reads in a minute from this client (RATE_LIMIT_PER_MINUTE)`,
            headers: { 'retry-after': { type: 'integer', description: 'seconds until the limit resets' } },
          };
        }
        return errors;
      },
    },
  );
  installMetrics(app, metrics.registry);
  app.addSchema(CustomerSchema);

  // A response finished after shutdown began (an ingest rolled back by it)
  // closes its connection, so the server's close is not held up by keep-alive.
  const shutdownSignal = deps.shutdownSignal;
  if (shutdownSignal) {
    app.addHook('onSend', async (_request, reply) => {
      if (shutdownSignal.aborted) reply.header('connection', 'close');
    });
  }

  await app.register(healthRoutes, { pool: deps.pool, replica: deps.replica ?? null });
  await app.register(customersRoutes, { pool: readPool, maxLimit: 1000, transactionPooler: deps.transactionPooler });
  await app.register(ingestRoutes, {
    pool: deps.pool,
    readPool,
    ingest: ingestOptions(deps.config, deps.sourceUrl),
    signal: deps.shutdownSignal,
    trackRun: (run) => metrics.trackRun(run),
  });
  await app.register(changesRoutes, {
    pool: deps.pool,
    retentionDays: config.ingest.changesRetentionDays,
    workMem: config.ingest.workMem,
    onRevert: (result) => metrics.recordRun('succeeded', result),
  });
  await app.register(dashboardRoutes);
  return app;
}
