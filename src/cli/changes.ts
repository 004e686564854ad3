// `changes <run>`, `history <customer_id>` and `revert <run>`: a run's change
// set, a customer's history, and the undo of a run — on the pipeline's
// database or, with --url, through a running pipeline's API.
import type { Config } from '../core/config.js';
import type { Customer } from '../core/customer.js';
import { DomainError } from '../core/errors.js';
import {
  customerHistory,
  listRunChanges,
  type ChangeKind,
  type CustomerChange,
  type HistoryEntry,
} from '../core/ingest/changes-repository.js';
import { IngestConflictError } from '../core/ingest/ingest.js';
import { revertRun, type RevertResult } from '../core/ingest/revert.js';
import { getRun } from '../core/ingest/runs-repository.js';
import { CliError, EXIT, duration, keyValues, out, paint, printJson, table, truncate } from './output.js';
import type { PageOf } from './remote.js';
import { read } from './records.js';

interface Options {
  url?: string;
  apiKey?: string;
  json?: boolean;
}
interface PageOptions extends Options {
  limit: number;
  page: number;
}

const show = (v: unknown) => (v === null || v === undefined ? '∅' : typeof v === 'string' ? v : JSON.stringify(v));

/** What changed, one line a field: `email: old → new` (an insert or a delete shows the one side it has). */
function described(c: Pick<CustomerChange, 'change' | 'fields' | 'before' | 'after'>): string {
  return c.fields
    .map((f) => {
      const before = c.before?.[f as keyof Customer];
      const after = c.after?.[f as keyof Customer];
      const text = c.change === 'update' ? `${show(before)} → ${show(after)}` : show(c.change === 'insert' ? after : before);
      return `${f}: ${truncate(text, 70)}`;
    })
    .join('\n');
}

const kind = (k: string) => paint(k === 'insert' ? 'green' : k === 'delete' ? 'red' : 'yellow', k);

function pageLine(page: PageOf<unknown>, what: string): string {
  const first = page.total === 0 ? 0 : (page.page - 1) * page.limit + 1;
  const last = Math.min(page.total, page.page * page.limit);
  return paint('dim', `${what} ${first}-${last} of ${page.total}`);
}

export async function changesCommand(config: Config, runId: number, opts: PageOptions & { change?: ChangeKind }): Promise<void> {
  const change = opts.change ?? null;
  const page = await read<PageOf<CustomerChange> & { dry_run?: boolean; changes_pruned_at?: string | null }>(
    config,
    opts,
    (c) => c.changes(runId, change, opts.page, opts.limit),
    async (db) => {
      const run = await getRun(db.pool, runId);
      if (!run) throw new CliError(`Run ${runId} not found`, EXIT.failed);
      const list = await listRunChanges(db.pool, run, change, opts.page, opts.limit);
      return {
        ...list,
        page: opts.page,
        limit: opts.limit,
        run_id: run.id,
        dry_run: run.dry_run,
        changes_pruned_at: run.changes_pruned_at,
      };
    },
  );
  if (opts.json) return printJson(page);
  const what = `${page.dry_run ? 'dry run' : 'run'} ${runId}`;
  if (page.changes_pruned_at) return out(`the change set of run ${runId} was pruned at ${page.changes_pruned_at} (CHANGES_RETENTION_DAYS)`);
  if (page.total === 0) return out(`${what} changed no customer${change ? ` (${change})` : ''}`);
  out(
    table(
      ['customer_id', 'change', 'what changed'],
      page.data.map((c) => [c.customer_id, kind(c.change), described(c)]),
      { align: ['left', 'left', 'left'] },
    ),
  );
  out(pageLine(page, `changes of ${what}${page.dry_run ? ' (nothing was written)' : ''}:`));
}

export async function historyCommand(config: Config, customerId: string, opts: PageOptions): Promise<void> {
  const page = await read<PageOf<HistoryEntry>>(
    config,
    opts,
    (c) => c.history(customerId, opts.page, opts.limit),
    async (db) => {
      const history = await customerHistory(db.pool, customerId, opts.page, opts.limit);
      if (!history)
        throw new CliError(`Customer ${customerId} not found: never stored (or deleted, with its history past retention)`, EXIT.failed);
      return { ...history, page: opts.page, limit: opts.limit };
    },
  );
  if (opts.json) return printJson(page);
  if (page.total === 0) return out(`no run changed ${customerId} (its history is past retention, or it predates the change log)`);
  out(
    table(
      ['run', 'at (UTC)', 'change', 'what changed'],
      page.data.map((h) => [h.run_id, (h.at ?? '-').replace('T', ' ').replace(/\.\d+Z$/, 'Z'), kind(h.change), described(h)]),
      { align: ['right', 'left', 'left', 'left'] },
    ),
  );
  out(pageLine(page, `history of ${customerId}:`));
}

export async function revertCommand(config: Config, runId: number, opts: Options): Promise<void> {
  const result = await read<RevertResult>(
    config,
    opts,
    (c) => c.revert(runId),
    async (db) => {
      try {
        return await revertRun(db.pool, runId, { retentionDays: config.ingest.changesRetentionDays, workMem: config.ingest.workMem });
      } catch (err) {
        if (err instanceof IngestConflictError) {
          throw new CliError(err.message, EXIT.conflict, { status: 'conflict', running_run_id: err.runId, error: err.message });
        }
        // A refusal (409: reason, conflicts) or an unknown run (404).
        if (err instanceof DomainError) {
          const refused = err.kind === 'refused' || err.kind === 'conflict';
          throw new CliError(err.message, refused ? EXIT.conflict : EXIT.failed, {
            status: refused ? 'conflict' : 'failed',
            error: err.message,
            ...err.details,
          });
        }
        throw err;
      }
    },
  );
  if (opts.json) return printJson(result);
  out(`run ${result.run_id} reverted run ${result.reverts} in ${duration(result.duration_ms)}`);
  out(
    keyValues([
      ['inserted (deleted rows back)', result.inserted],
      ['updated (back to before)', result.updated],
      ['deleted (inserted rows removed)', result.deleted],
    ]),
  );
  out(`see it with: customer-pipeline changes ${result.run_id}; undo it with: customer-pipeline revert ${result.run_id}`);
}
