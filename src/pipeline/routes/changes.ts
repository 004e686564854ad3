// Change sets over HTTP (issue #13): a run's changes, a customer's history,
// and the revert of a run. The SQL is in ingest/changes-repository.ts and
// ingest/loader.ts; the revert's transaction in ingest/revert.ts.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import type { Pool } from 'pg';
import type { Logger } from 'pino';
import { NotFoundError } from '../../http/errors.js';
import { DEFAULT_LIMIT, DEFAULT_PAGE, PageQuery } from '../../http/paging.js';
import { customerHistory, listRunChanges } from '../../core/ingest/changes-repository.js';
import { getRun } from '../../core/ingest/runs-repository.js';
import { revertRun, type RevertResult } from '../../core/ingest/revert.js';
import { CHANGE_FIELDS } from '../../core/ingest/loader.js';

export interface ChangesRoutesOptions {
  pool: Pool;
  /** CHANGES_RETENTION_DAYS: a run older than this cannot be reverted. */
  retentionDays: number;
  workMem?: string;
  /** Called with each revert that succeeded (the app's metrics). */
  onRevert?: (result: RevertResult) => void;
}

const ChangeKindSchema = Type.Union([Type.Literal('insert'), Type.Literal('update'), Type.Literal('delete')], {
  description: '`insert` (a new id), `update` (a stored row changed), `delete` (a stored row removed)',
});
const FieldsSchema = Type.Array(Type.Union(CHANGE_FIELDS.map((f) => Type.Literal(f))), {
  description: 'the fields whose values differ between `before` and `after` (a null in the source keeps the stored value: no change)',
});
const ImageSchema = (what: string) => Type.Union([Type.Ref('Customer'), Type.Null()], { description: what });

const ChangeSchema = Type.Object(
  {
    customer_id: Type.String(),
    change: ChangeKindSchema,
    fields: FieldsSchema,
    before: ImageSchema('the stored record before the run; null for an insert'),
    after: ImageSchema('the record the run left; null for a delete'),
  },
  { $id: 'CustomerChange', description: "one customer's change in a run" },
);

const HistoryEntrySchema = Type.Object(
  {
    run_id: Type.Integer(),
    at: Type.Union([Type.String(), Type.Null()], { description: 'when the run committed (UTC)' }),
    change: ChangeKindSchema,
    fields: FieldsSchema,
    before: ImageSchema('the stored record before the run; null for an insert'),
    after: ImageSchema('the record the run left; null for a delete'),
  },
  { description: 'one run that inserted, changed or deleted the customer' },
);

const RevertResultSchema = Type.Object({
  status: Type.Literal('success'),
  run_id: Type.Integer({ description: 'the revert: a run of its own, with its own change set' }),
  reverts: Type.Integer({ description: 'the run it undid' }),
  records_processed: Type.Integer(),
  pages: Type.Integer(),
  fetched: Type.Integer(),
  inserted: Type.Integer({ description: 'rows the reverted run had deleted, back' }),
  updated: Type.Integer({ description: 'rows the reverted run had updated, back to their before values' }),
  deleted: Type.Integer({ description: 'rows the reverted run had inserted, deleted' }),
  unchanged: Type.Integer(),
  rejected: Type.Integer(),
  retries: Type.Integer(),
  duplicates: Type.Integer(),
  dry_run: Type.Boolean(),
  duration_ms: Type.Integer(),
});

const RunParams = Type.Object({
  id: Type.Integer({ minimum: 1, maximum: 2 ** 31 - 1, description: 'run id (`run_id` of an ingest)', examples: [1] }),
});

export const changesRoutes: FastifyPluginAsyncTypebox<ChangesRoutesOptions> = async (app, opts) => {
  const { pool } = opts;
  app.addSchema(ChangeSchema);

  app.get(
    '/api/ingest/runs/:id/changes',
    {
      schema: {
        summary: "A run's change set: every customer it inserted, updated or deleted, with before and after",
        description:
          'Ordered by customer_id. A dry run has one too (what the run would have done). `data` is empty for a run whose ' +
          'change set is past retention (the run record has `changes_pruned_at`).',
        params: RunParams,
        querystring: Type.Object({
          ...PageQuery(1000).properties,
          change: Type.Optional({ ...ChangeKindSchema, description: 'only changes of this kind' }),
        }),
        response: {
          200: Type.Object({
            data: Type.Array(Type.Ref('CustomerChange')),
            total: Type.Integer({ description: 'changes matching the filter' }),
            page: Type.Integer(),
            limit: Type.Integer(),
            run_id: Type.Integer(),
            dry_run: Type.Boolean({ description: 'the run is a dry run: nothing of this was written to customers' }),
            changes_pruned_at: Type.Union([Type.String(), Type.Null()], {
              description: 'when the change set was pruned (retention); null while it is kept',
            }),
          }),
          400: Type.Ref('Problem'),
          404: Type.Ref('Problem', { description: 'no such run' }),
        },
      },
    },
    async (request) => {
      const { page = DEFAULT_PAGE, limit = DEFAULT_LIMIT, change } = request.query;
      const run = await getRun(pool, request.params.id);
      if (!run) throw new NotFoundError(`Run ${request.params.id} not found`);
      const { data, total } = await listRunChanges(pool, run, change ?? null, page, limit);
      return { data, total, page, limit, run_id: run.id, dry_run: run.dry_run, changes_pruned_at: run.changes_pruned_at };
    },
  );

  app.post(
    '/api/ingest/runs/:id/revert',
    {
      schema: {
        summary: 'Undo a run: every customer it changed back as it was, in one transaction, as a run of its own',
        description:
          'Updated rows get their before values, inserted rows are deleted, deleted rows come back. The revert is a run ' +
          '(`reverts` names the run it undid) with its own change set, so it can be reverted in turn. Refused (409, ' +
          '`reason`) when a later run changed any of the same customers (`conflicts`: the first 100, `runs`: revert them ' +
          'first), and for a failed run, a dry run, a run already reverted or one whose change set is past retention; ' +
          'one at a time with ingests.',
        params: RunParams,
        response: {
          200: RevertResultSchema,
          400: Type.Ref('Problem'),
          404: Type.Ref('Problem', { description: 'no such run' }),
          409: Type.Ref('Problem', {
            description:
              '`reason`: `conflict` (later runs changed the same customers: `runs`, `conflicts`), `not_succeeded`, `dry_run`, ' +
              '`already_reverted`, `pruned`; or an ingest is running (`run_id`)',
          }),
        },
      },
    },
    async (request) => {
      const result = await revertRun(pool, request.params.id, {
        retentionDays: opts.retentionDays,
        workMem: opts.workMem,
        logger: request.log as Logger,
      });
      opts.onRevert?.(result);
      return result;
    },
  );

  app.get(
    '/api/customers/:customer_id/history',
    {
      schema: {
        summary: "A customer's history: every run that inserted, changed or deleted it, newest first",
        description:
          'Readable after the customer was deleted. Dry runs are not in it (they changed nothing); change sets past retention are gone from it.',
        params: Type.Object({
          customer_id: Type.String({ maxLength: 200, description: 'the customer_id of the record', examples: ['CUST-0001'] }),
        }),
        querystring: PageQuery(1000),
        response: {
          200: Type.Object({
            data: Type.Array(HistoryEntrySchema),
            total: Type.Integer(),
            page: Type.Integer(),
            limit: Type.Integer(),
          }),
          400: Type.Ref('Problem'),
          404: Type.Ref('Problem', { description: 'no customer with this id was ever stored' }),
        },
      },
    },
    async (request) => {
      const { page = DEFAULT_PAGE, limit = DEFAULT_LIMIT } = request.query;
      const id = request.params.customer_id;
      // PostgreSQL text cannot hold NUL, so no stored id contains one.
      const history = id.includes('\u0000') ? null : await customerHistory(pool, id, page, limit);
      if (!history) throw new NotFoundError(`Customer ${id} not found: never stored (or deleted, with its history past retention)`);
      return { ...history, page, limit };
    },
  );
};
