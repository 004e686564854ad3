import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import type { Pool } from 'pg';
import { NotFoundError } from '../../http/errors.js';
import { PageQuery } from '../../http/paging.js';
import { runIngest, type IngestOptions } from '../ingest/ingest.js';
import { getRun, listRejected, listRuns } from '../ingest/runs-repository.js';

const Counts = {
  pages: Type.Integer(),
  fetched: Type.Integer(),
  inserted: Type.Integer(),
  updated: Type.Integer(),
  unchanged: Type.Integer(),
  rejected: Type.Integer(),
  retries: Type.Integer(),
};

const IngestResultSchema = Type.Object({
  status: Type.Literal('success'),
  run_id: Type.Integer(),
  records_processed: Type.Integer({ description: 'valid records read from the source (fetched − rejected)' }),
  ...Counts,
  duplicates: Type.Integer({ description: 'valid records whose customer_id came again later in the same run' }),
  duration_ms: Type.Integer(),
});

const RunSchema = Type.Object(
  {
    id: Type.Integer(),
    status: Type.Union([Type.Literal('running'), Type.Literal('succeeded'), Type.Literal('failed')]),
    source_url: Type.String(),
    started_at: Type.String(),
    finished_at: Type.Union([Type.String(), Type.Null()]),
    duration_ms: Type.Union([Type.Integer(), Type.Null()]),
    ...Counts,
    error: Type.Union([Type.String(), Type.Null()]),
  },
  { $id: 'IngestionRun' },
);

const RejectedSchema = Type.Object({
  id: Type.Integer(),
  run_id: Type.Integer(),
  page: Type.Integer(),
  position: Type.Integer({ description: '0-based index of the record in its page' }),
  customer_id: Type.Union([Type.String(), Type.Null()]),
  payload: Type.String({ description: 'the record as received, JSON text' }),
  reasons: Type.Array(Type.String()),
});

const RunParams = Type.Object({ id: Type.Integer({ minimum: 1, maximum: 2 ** 31 - 1 }) });

export const ingestRoutes: FastifyPluginAsyncTypebox<{ pool: Pool; ingest: IngestOptions; signal?: AbortSignal }> = async (
  app,
  { pool, ingest, signal },
) => {
  app.addSchema(RunSchema);

  app.post(
    '/api/ingest',
    {
      schema: {
        summary: 'Pull every page of the source and merge it into customers, in one transaction',
        response: {
          200: IngestResultSchema,
          409: Type.Ref('Problem', { description: 'another ingest is running; run_id names it' }),
          502: Type.Ref('Problem', { description: 'the source failed after its retries; nothing was loaded' }),
          503: Type.Ref('Problem', { description: 'the database failed; nothing was loaded' }),
        },
      },
    },
    async (request) => runIngest(pool, ingest, { logger: request.log as never, signal }),
  );

  app.get(
    '/api/ingest/runs',
    {
      schema: {
        summary: 'Ingest runs, newest first',
        querystring: PageQuery(1000),
        response: {
          200: Type.Object({ data: Type.Array(Type.Ref('IngestionRun')), total: Type.Integer(), page: Type.Integer(), limit: Type.Integer() }),
          400: Type.Ref('Problem'),
        },
      },
    },
    async (request) => {
      const { page, limit } = request.query;
      return { ...(await listRuns(pool, page, limit)), page, limit };
    },
  );

  app.get(
    '/api/ingest/runs/:id',
    {
      schema: {
        summary: 'One ingest run',
        params: RunParams,
        response: { 200: Type.Ref('IngestionRun'), 400: Type.Ref('Problem'), 404: Type.Ref('Problem') },
      },
    },
    async (request) => {
      const run = await getRun(pool, request.params.id);
      if (!run) throw new NotFoundError(`Run ${request.params.id} not found`);
      return run;
    },
  );

  app.get(
    '/api/ingest/runs/:id/rejected',
    {
      schema: {
        summary: 'Records of a run that broke the schema, with their reasons',
        params: RunParams,
        querystring: PageQuery(1000),
        response: {
          200: Type.Object({ data: Type.Array(RejectedSchema), total: Type.Integer(), page: Type.Integer(), limit: Type.Integer() }),
          400: Type.Ref('Problem'),
          404: Type.Ref('Problem'),
        },
      },
    },
    async (request) => {
      const { page, limit } = request.query;
      if (!(await getRun(pool, request.params.id))) throw new NotFoundError(`Run ${request.params.id} not found`);
      return { ...(await listRejected(pool, request.params.id, page, limit)), page, limit };
    },
  );
};
