// The mock source API: the seed's Flask mock, in Fastify. Builds the app; never listens.
import Fastify, { type FastifyInstance } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { Registry } from 'prom-client';
import type { FastifyBaseLogger } from 'fastify';
import { CustomerSchema, LIMITS } from '../core/customer.js';
import { installErrorHandling, NotFoundError } from '../http/errors.js';
import { registerDocs } from '../http/docs.js';
import { installMetrics } from '../http/metrics.js';
import { installResponseHeaders } from '../http/security.js';
import { serverOptions } from '../http/server-options.js';
import type { Dataset } from '../core/mock/dataset.js';
import { DEFAULT_LIMIT, DEFAULT_PAGE, PageQuery } from '../http/paging.js';
import { FaultInjector, faultHooks, type FaultSpec } from './faults.js';
import { FAULT_SPEC_DOC } from '../core/mock/fault-spec.js';

export interface MockAppOptions {
  dataset: Dataset;
  /** Largest `limit` accepted (MOCK_MAX_LIMIT). */
  maxLimit?: number;
  /**
   * Serve at most this many records per page whatever `limit` asks, and
   * answer with the asked limit: a source that caps its pages silently.
   */
  capLimit?: number;
  logger?: FastifyBaseLogger | false;
  /** One log line per request (LOG_REQUESTS); default on when there is a logger. */
  logRequests?: boolean;
  /**
   * Faults injected into /api/customers routes (MOCK_FAULTS): a spec, its
   * compact text, or an injector the caller keeps (to read its tallies or
   * change the spec while the server runs). See fault-spec.ts.
   */
  faults?: FaultSpec | string | FaultInjector | null;
}

const FaultQuery = {
  fault: Type.Optional(Type.String({ description: 'a fault spec for this request (see the description)' })),
};
// Answers only an injected fault gives (documentation; they are sent pre-serialised).
const FaultResponses = {
  429: Type.Ref('Problem', { description: 'injected fault: rate limited, with Retry-After' }),
  '5xx': Type.Ref('Problem', { description: 'injected fault: errorStatus (503 by default)' }),
};
const FaultHeaders = Type.Object({
  'x-mock-fault': Type.Optional(Type.String({ description: 'a fault spec for this request (see the description)' })),
});

const PAGE_HEAD = Buffer.from('{"data":[');

export async function buildMockApp(opts: MockAppOptions): Promise<FastifyInstance> {
  const { dataset } = opts;
  const maxLimit = opts.maxLimit ?? 1000;
  const app = Fastify(serverOptions(opts.logger, { logRequests: opts.logRequests })).withTypeProvider<TypeBoxTypeProvider>();
  const injector = opts.faults instanceof FaultInjector ? opts.faults : new FaultInjector(opts.faults ?? null);
  // Route-level hooks: faults touch the data routes, never health or docs.
  const faults = faultHooks(injector);

  installErrorHandling(app);
  installResponseHeaders(app);
  await registerDocs(
    app,
    {
      title: 'customer-pipeline mock source API',
      description: 'Serves customer records page by page, as the source of an ingest.',
      version: '1.0.0',
    },
    {
      tags: [
        { name: 'customers', description: 'The source records, page by page or by id', routes: (url) => url.startsWith('/api/customers') },
        { name: 'operations', description: 'Liveness and metrics', routes: () => true },
      ],
    },
  );
  installMetrics(app, new Registry());
  app.addSchema(CustomerSchema);

  app.get(
    '/api/health',
    {
      schema: {
        summary: 'Liveness of the mock server',
        response: {
          200: Type.Object({ status: Type.Literal('ok'), service: Type.String(), records: Type.Integer() }),
        },
      },
    },
    async () => ({ status: 'ok' as const, service: 'mock', records: dataset.size }),
  );

  app.get(
    '/api/customers',
    {
      onRequest: faults.onRequest,
      onSend: faults.onSend,
      schema: {
        summary: 'A page of customer records, in data-file order',
        description: FAULT_SPEC_DOC,
        querystring: Type.Object({ ...PageQuery(maxLimit).properties, ...FaultQuery }),
        headers: FaultHeaders,
        response: {
          200: Type.Object({
            data: Type.Array(Type.Ref('Customer')),
            total: Type.Integer(),
            page: Type.Integer(),
            limit: Type.Integer(),
          }),
          400: Type.Ref('Problem'),
          ...FaultResponses,
        },
      },
    },
    async (request, reply) => {
      const { page = DEFAULT_PAGE, limit = DEFAULT_LIMIT } = request.query;
      const served = Math.min(limit, opts.capLimit ?? limit);
      const start = (page - 1) * served;
      // The records' JSON is kept as bytes: the body is one copy of them between the envelope's ends.
      const tail = Buffer.from(`],"total":${dataset.size},"page":${page},"limit":${limit}}`, 'latin1');
      const body = Buffer.concat([PAGE_HEAD, ...dataset.slice(start, start + served), tail]);
      return reply.type('application/json; charset=utf-8').send(body);
    },
  );

  app.get(
    '/api/customers/:customer_id',
    {
      onRequest: faults.onRequest,
      onSend: faults.onSend,
      schema: {
        summary: 'One customer record by id',
        description: FAULT_SPEC_DOC,
        params: Type.Object({
          customer_id: Type.String({
            maxLength: LIMITS.customer_id,
            description: `the record's customer_id (at most ${LIMITS.customer_id} characters, as the record schema has it; longer: 400)`,
            examples: ['CUST-0001'],
          }),
        }),
        querystring: Type.Object(FaultQuery),
        headers: FaultHeaders,
        response: { 200: Type.Ref('Customer'), 400: Type.Ref('Problem'), 404: Type.Ref('Problem'), ...FaultResponses },
      },
    },
    async (request, reply) => {
      const json = dataset.get(request.params.customer_id);
      if (json === undefined) throw new NotFoundError(`Customer ${request.params.customer_id} not found`);
      return reply.type('application/json; charset=utf-8').send(json);
    },
  );

  return app;
}
