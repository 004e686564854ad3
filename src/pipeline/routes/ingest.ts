import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyBaseLogger } from 'fastify';
import { Type } from 'typebox';
import type { Pool } from 'pg';
import type { Logger } from 'pino';
import { NotFoundError } from '../../http/errors.js';
import { DEFAULT_LIMIT, DEFAULT_PAGE, PageQuery } from '../../http/paging.js';
import type { IngestOptions, IngestResult } from '../../core/ingest/ingest.js';
import { IngestService } from '../../core/ingest/service.js';
import type { ProgressRegistry } from '../../core/ingest/progress.js';
import { getRun, listRejected, listRuns, type RunRecord } from '../../core/ingest/runs-repository.js';
import { streamRunEvents, type RunEventStream, type RunEventsOptions } from './run-events.js';

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
  deleted: Type.Integer({ description: 'stored customers the source did not return, deleted (delete_missing)' }),
  dry_run: Type.Boolean({ description: 'a preview: the counts and change set of the run, nothing written to customers' }),
});

const ProgressSchema = Type.Object(
  {
    phase: Type.Union([Type.Literal('fetching'), Type.Literal('merging')], {
      description: '`fetching` pages (each chunk compared with the stored rows meanwhile), then `merging` what changed and committing',
    }),
    pages_done: Type.Integer(),
    pages_total: Type.Union([Type.Integer(), Type.Null()], {
      description: "pages the source's total implies, the last (short or empty) one included, never fewer than are done; null when unknown",
    }),
    records: Type.Integer({ description: 'records fetched so far' }),
    rejected: Type.Integer(),
    retries: Type.Integer(),
    elapsed_seconds: Type.Number(),
    records_per_second: Type.Number(),
    eta_seconds: Type.Union([Type.Number(), Type.Null()], {
      description:
        "time left for the whole run: the pages still to fetch at the rate so far, and the merge, estimated from the last run's merge time per record; null when unknown",
    }),
  },
  {
    $id: 'IngestProgress',
    description: 'progress of a running ingest: live on the process that runs it, about a second old (from its run record) on any other',
  },
);

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
    phase: Type.Union([Type.Literal('fetching'), Type.Literal('merging'), Type.Null()], {
      description: 'what a running run is doing now; null once it has ended',
    }),
    fetch_ms: Type.Union([Type.Integer(), Type.Null()], {
      description: 'time from the start until every page was read (null until then)',
    }),
    merge_ms: Type.Union([Type.Integer(), Type.Null()], {
      description: "of a succeeded run: the time from there to the commit (the last chunk's comparison, the merge, the run's record)",
    }),
    deleted: Type.Integer({ description: 'stored customers deleted (delete_missing; a revert of inserts)' }),
    dry_run: Type.Boolean({ description: 'a preview: its change set is readable, customers was not written' }),
    reverts: Type.Union([Type.Integer(), Type.Null()], { description: 'the run this one reverted (a revert is a run of its own)' }),
    reverted_by: Type.Union([Type.Integer(), Type.Null()], { description: 'the run that reverted this one' }),
    changes_pruned_at: Type.Union([Type.String(), Type.Null()], {
      description: 'when its change set was pruned (CHANGES_RETENTION_DAYS): the run can no longer be reverted',
    }),
    progress: Type.Optional(Type.Ref('IngestProgress')),
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

const RunParams = Type.Object({
  id: Type.Integer({ minimum: 1, maximum: 2 ** 31 - 1, description: 'run id (`run_id` of an ingest)', examples: [1] }),
});

const AcceptedSchema = Type.Object({
  status: Type.Literal('running'),
  run_id: Type.Integer(),
  href: Type.String({ description: 'the run record (also the Location header)' }),
  events: Type.String({ description: 'its progress as Server-Sent Events' }),
});

export interface IngestRoutesOptions {
  /** The primary: the ingest, the 409's lock lookup, the event streams of runs. */
  pool: Pool;
  /**
   * The run records' reads (lists, a run, its rejected records): a replica's
   * pool when there is one; default `pool`.
   */
  readPool?: Pool;
  ingest: IngestOptions;
  /** Aborted at shutdown: ingests in flight stop and roll back. */
  signal?: AbortSignal;
  /** Live progress of this process's runs (one per app by default). */
  progress?: ProgressRegistry;
  events?: Partial<Omit<RunEventsOptions, 'pool' | 'progress'>>;
  /** Counts each run when it settles, passing its result or error through (the app's metrics: src/pipeline/metrics.ts). */
  trackRun?: (run: Promise<IngestResult>) => Promise<IngestResult>;
}

export const ingestRoutes: FastifyPluginAsyncTypebox<IngestRoutesOptions> = async (app, opts) => {
  const { pool, ingest } = opts;
  const readPool = opts.readPool ?? pool;
  /**
   * A run by id from the read pool; one it does not have yet is looked up on
   * the primary: the run just started (its 202's Location) may not have
   * reached a lagging replica.
   */
  const findRun = async (id: number): Promise<RunRecord | null> =>
    (await getRun(readPool, id)) ?? (readPool === pool ? null : await getRun(pool, id));
  // The run lifecycle is the engine's (core/ingest/service.ts); these routes translate it.
  const service = new IngestService({
    pool,
    defaults: ingest,
    logger: app.log as Logger,
    signal: opts.signal,
    progress: opts.progress,
    trackRun: opts.trackRun,
  });
  const progress = service.progress;
  const eventOptions: RunEventsOptions = { pool, progress, heartbeatMs: 15_000, pollMs: 1000, minIntervalMs: 100, ...opts.events };
  const streams = new Set<RunEventStream>();
  const launch = (logger: FastifyBaseLogger, options: Partial<IngestOptions> = {}) => service.start(options, logger as Logger);
  const withProgress = (run: RunRecord) => service.withProgress(run);

  app.addSchema(ProgressSchema);
  app.addSchema(RunSchema);

  app.addHook('preClose', async () => {
    // Failed runs are recorded, and their streams get their final event, before the pool goes.
    await service.close();
    await Promise.all([...streams].map((s) => s.close()));
    await service.closeFailures();
  });

  app.post(
    '/api/ingest',
    {
      schema: {
        summary: 'Pull every page of the source and merge it into customers, in one transaction',
        description:
          'By default the answer comes when the run has ended. With `mode=async` it comes as soon as the run has started (202, ' +
          '`Location` names the run); follow it at `/api/ingest/runs/{id}` or `/api/ingest/runs/{id}/events`.',
        querystring: Type.Object({
          mode: Type.Union([Type.Literal('sync'), Type.Literal('async')], {
            default: 'sync',
            description: '`sync` (default): answer when the run has ended. `async`: answer 202 once it has started',
          }),
          dry_run: Type.Optional(
            Type.Boolean({
              description:
                'Preview: the whole run (fetch, validate, classify, merge) without writing one customer; its run record and change set stay readable, marked `dry_run`',
            }),
          ),
          delete_missing: Type.Optional(
            Type.Boolean({ description: 'Delete the stored customers the source did not return (default: INGEST_DELETE_MISSING)' }),
          ),
          allow_mass_delete: Type.Optional(
            Type.Boolean({
              description: 'Lift the mass-delete guard (INGEST_DELETE_MAX_PERCENT; a source that returns no record) for this run',
            }),
          ),
        }),
        response: {
          200: IngestResultSchema,
          202: AcceptedSchema,
          409: Type.Ref('Problem', {
            description:
              'another ingest is running (run_id names it); or the mass-delete guard refused the run (`would_delete`, `stored`, `max_percent`; nothing was written)',
          }),
          502: Type.Ref('Problem', { description: 'the source failed after its retries; nothing was loaded' }),
          503: Type.Ref('Problem', { description: 'the database failed; nothing was loaded' }),
        },
      },
    },
    async (request, reply): Promise<IngestResult | { status: 'running'; run_id: number; href: string; events: string }> => {
      const { dry_run, delete_missing, allow_mass_delete } = request.query;
      const { run, started } = launch(request.log, {
        ...(dry_run !== undefined && { dryRun: dry_run }),
        ...(delete_missing !== undefined && { deleteMissing: delete_missing }),
        ...(allow_mass_delete !== undefined && { allowMassDelete: allow_mass_delete }),
      });
      if (request.query.mode !== 'async') return run;
      // Its failure is recorded in its row (and logged); nobody awaits it here.
      run.catch(() => {});
      // A 409 (or a database down at start) rejects before the run starts, and is answered now.
      const runId = await Promise.race([started, run.then((r) => r.run_id)]);
      const href = `/api/ingest/runs/${runId}`;
      reply.code(202).header('location', href);
      return { status: 'running', run_id: runId, href, events: `${href}/events` };
    },
  );

  app.get(
    '/api/ingest/runs',
    {
      schema: {
        summary: 'Ingest runs, newest first',
        querystring: PageQuery(1000),
        response: {
          200: Type.Object({
            data: Type.Array(Type.Ref('IngestionRun')),
            total: Type.Integer(),
            page: Type.Integer(),
            limit: Type.Integer(),
          }),
          400: Type.Ref('Problem'),
        },
      },
    },
    async (request) => {
      const { page = DEFAULT_PAGE, limit = DEFAULT_LIMIT } = request.query;
      const { data, total } = await listRuns(readPool, page, limit);
      return { data: await Promise.all(data.map(withProgress)), total, page, limit };
    },
  );

  app.get(
    '/api/ingest/runs/:id',
    {
      schema: {
        summary: 'One ingest run (with its live `progress` while it runs)',
        params: RunParams,
        response: { 200: Type.Ref('IngestionRun'), 400: Type.Ref('Problem'), 404: Type.Ref('Problem') },
      },
    },
    async (request) => {
      const run = await findRun(request.params.id);
      if (!run) throw new NotFoundError(`Run ${request.params.id} not found`);
      return withProgress(run);
    },
  );

  app.get(
    '/api/ingest/runs/:id/events',
    {
      schema: {
        summary: "A run's progress as Server-Sent Events",
        description:
          '`event: progress` (an IngestProgress) while the run goes on, then `event: done` (succeeded) or `event: failed`, ' +
          'whose data is the final run record, and the stream closes. A finished run sends its final event at once. ' +
          'A comment line every 15 s keeps the connection alive.',
        params: RunParams,
        response: {
          200: { description: 'text/event-stream', content: { 'text/event-stream': { schema: Type.String() } } },
          400: Type.Ref('Problem'),
          404: Type.Ref('Problem'),
        },
      },
    },
    async (request, reply) => {
      // The primary: a stream follows a run as it is written (its row, its end), which a replica shows late.
      const run = await getRun(pool, request.params.id);
      if (!run) throw new NotFoundError(`Run ${request.params.id} not found`);
      const stream = streamRunEvents(reply, run, eventOptions);
      streams.add(stream);
      void stream.closed.then(() => streams.delete(stream));
      return reply;
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
      const { page = DEFAULT_PAGE, limit = DEFAULT_LIMIT } = request.query;
      if (!(await findRun(request.params.id))) throw new NotFoundError(`Run ${request.params.id} not found`);
      return { ...(await listRejected(readPool, request.params.id, page, limit)), page, limit };
    },
  );
};
