// `runs`, `rejected <run>` and `migrate`: read (or prepare) what the pipeline
// keeps, from its database or, with --url, from a running pipeline's API.
import type { Config } from '../core/config.js';
import { migrate } from '../core/db/migrate.js';
import { getRun, listRejected, listRuns, type RejectedRecord, type RunRecord } from '../core/ingest/runs-repository.js';
import { explainDatabaseError, openCliDatabase } from './database.js';
import { CliError, EXIT, duration, out, paint, printJson, status, table, truncate } from './output.js';
import { PipelineClient, type PageOf } from './remote.js';

interface ReadOptions {
  url?: string;
  apiKey?: string;
  limit: number;
  page: number;
  json?: boolean;
}

/** Runs a command on the pipeline's API (--url) or on its database (the CLI's `runs`, `rejected`, `changes`, `history`, `revert`). */
export async function read<T>(
  config: Config,
  opts: { url?: string; apiKey?: string },
  remote: (c: PipelineClient) => Promise<T>,
  local: (db: Awaited<ReturnType<typeof openCliDatabase>>) => Promise<T>,
): Promise<T> {
  if (opts.url) return remote(new PipelineClient(opts.url, opts.apiKey ?? config.security.apiKey ?? null));
  const db = await openCliDatabase(config);
  try {
    return await local(db).catch(explainDatabaseError);
  } finally {
    await db.close();
  }
}

const when = (iso: string | null) => (iso ? iso.replace('T', ' ').replace(/\.\d+Z$/, 'Z') : '-');

function pageLine(page: PageOf<unknown>, what: string): string {
  const first = page.total === 0 ? 0 : (page.page - 1) * page.limit + 1;
  const last = Math.min(page.total, page.page * page.limit);
  return paint('dim', `${what} ${first}-${last} of ${page.total}`);
}

export async function runsCommand(config: Config, opts: ReadOptions): Promise<void> {
  const page = await read<PageOf<RunRecord>>(
    config,
    opts,
    (c) => c.runs(opts.page, opts.limit),
    async (db) => ({ ...(await listRuns(db.pool, opts.page, opts.limit)), page: opts.page, limit: opts.limit }),
  );
  if (opts.json) return printJson(page);
  if (page.total === 0) return out('no runs yet: customer-pipeline ingest');
  out(
    table(
      [
        'run',
        'status',
        'started (UTC)',
        'duration',
        'pages',
        'fetched',
        'inserted',
        'updated',
        'unchanged',
        'rejected',
        'retries',
        'error',
      ],
      page.data.map((r) => [
        r.id,
        status(r.status),
        when(r.started_at),
        duration(r.duration_ms),
        r.pages,
        r.fetched,
        r.inserted,
        r.updated,
        r.unchanged,
        r.rejected,
        r.retries,
        truncate(r.error ?? '', 50),
      ]),
      { align: ['right', 'left', 'left', 'right', 'right', 'right', 'right', 'right', 'right', 'right', 'right', 'left'] },
    ),
  );
  out(pageLine(page, 'runs'));
}

export async function rejectedCommand(config: Config, runId: number, opts: ReadOptions): Promise<void> {
  const page = await read<PageOf<RejectedRecord>>(
    config,
    opts,
    (c) => c.rejected(runId, opts.page, opts.limit),
    async (db) => {
      if (!(await getRun(db.pool, runId))) throw new CliError(`Run ${runId} not found`, EXIT.failed);
      return { ...(await listRejected(db.pool, runId, opts.page, opts.limit)), page: opts.page, limit: opts.limit };
    },
  );
  if (opts.json) return printJson(page);
  if (page.total === 0) return out(`run ${runId} rejected no record`);
  out(
    table(
      ['page', 'pos', 'customer_id', 'reasons', 'record as received'],
      page.data.map((r) => [r.page, r.position, r.customer_id ?? '-', r.reasons.join('\n'), truncate(r.payload, 60)]),
      { align: ['right', 'right', 'left', 'left', 'left'] },
    ),
  );
  out(pageLine(page, `rejected records of run ${runId}:`));
}

export async function migrateCommand(config: Config, opts: { json?: boolean }): Promise<void> {
  const db = await openCliDatabase(config);
  try {
    const applied = await migrate(db.pool).catch((err: Error) => {
      throw new CliError(err.message, EXIT.failed);
    });
    if (opts.json) printJson({ database: db.url, applied });
    else out(applied.length ? `applied ${applied.join(', ')} to ${db.url}` : `${db.url} is up to date`);
  } finally {
    await db.close();
  }
}
