// The mock source API: the seed's Flask mock, in Fastify. Builds the app; never listens.
import Fastify, { type FastifyInstance } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import type { FastifyBaseLogger } from 'fastify';
import { CustomerSchema } from '../customer.js';
import { installErrorHandling, NotFoundError } from '../http/errors.js';
import { registerDocs } from '../http/docs.js';
import { serverOptions } from '../http/server-options.js';
import type { Dataset } from './dataset.js';
import { PageQuery } from '../http/paging.js';

export interface MockAppOptions {
  dataset: Dataset;
  /** Largest `limit` accepted (MOCK_MAX_LIMIT). */
  maxLimit?: number;
  logger?: FastifyBaseLogger | false;
}

export async function buildMockApp(opts: MockAppOptions): Promise<FastifyInstance> {
  const { dataset } = opts;
  const maxLimit = opts.maxLimit ?? 1000;
  const app = Fastify(serverOptions(opts.logger)).withTypeProvider<TypeBoxTypeProvider>();

  installErrorHandling(app);
  await registerDocs(app, {
    title: 'customer-pipeline mock source API',
    description: 'Serves customer records page by page, as the source of an ingest.',
    version: '1.0.0',
  });
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
      schema: {
        summary: 'A page of customer records, in data-file order',
        querystring: PageQuery(maxLimit),
        response: {
          200: Type.Object({
            data: Type.Array(Type.Ref('Customer')),
            total: Type.Integer(),
            page: Type.Integer(),
            limit: Type.Integer(),
          }),
          400: Type.Ref('Problem'),
        },
      },
    },
    async (request, reply) => {
      const { page, limit } = request.query;
      const start = (page - 1) * limit;
      const rows = start < dataset.size ? dataset.slice(start, start + limit) : [];
      // Pre-serialised records: the page body is a join, not a re-serialisation.
      return reply
        .type('application/json; charset=utf-8')
        .send(`{"data":[${rows.join(',')}],"total":${dataset.size},"page":${page},"limit":${limit}}`);
    },
  );

  app.get(
    '/api/customers/:customer_id',
    {
      schema: {
        summary: 'One customer record by id',
        params: Type.Object({ customer_id: Type.String() }),
        response: { 200: Type.Ref('Customer'), 404: Type.Ref('Problem') },
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
