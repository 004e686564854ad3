// Run records (ingestion_runs) and rejected records: SQL only.
import type { Pool, PoolClient } from 'pg';

export interface RunCounts {
  pages: number;
  fetched: number;
  inserted: number;
  updated: number;
  unchanged: number;
  rejected: number;
  retries: number;
  /** Stored customers the run deleted (delete_missing; a revert of an insert). */
  deleted?: number;
}

export interface RunRecord extends RunCounts {
  id: number;
  status: 'running' | 'succeeded' | 'failed';
  source_url: string;
  started_at: string;
  finished_at: string | null;
  duration_ms: number | null;
  error: string | null;
  deleted: number;
  /** A preview: its change set is readable, `customers` was not written. */
  dry_run: boolean;
  /** The run this one reverted (a revert is a run of its own). */
  reverts: number | null;
  /** The run that reverted this one. */
  reverted_by: number | null;
  /** When its change set was pruned (CHANGES_RETENTION_DAYS); it can no longer be reverted. */
  changes_pruned_at: string | null;
}

const RUN_COLUMNS = `id::int AS id, status, source_url,
  to_char(started_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS started_at,
  to_char(finished_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS finished_at,
  (extract(epoch FROM finished_at - started_at) * 1000)::int AS duration_ms,
  pages, fetched, inserted, updated, unchanged, rejected, retries, error,
  deleted, dry_run, reverts::int AS reverts, reverted_by::int AS reverted_by,
  to_char(changes_pruned_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS changes_pruned_at`;

/** Advisory-lock key of "an ingest is running" (any process, any replica). */
export const INGEST_LOCK_KEY = 7_240_002;

type Queryable = Pool | PoolClient;

export async function createRun(db: Queryable, sourceUrl: string, opts: { dryRun?: boolean; reverts?: number } = {}): Promise<number> {
  const { rows } = await db.query<{ id: number }>(
    'INSERT INTO ingestion_runs (source_url, dry_run, reverts) VALUES ($1, $2, $3) RETURNING id::int AS id',
    [sourceUrl, opts.dryRun === true, opts.reverts ?? null],
  );
  return rows[0]!.id;
}

export async function finishRun(
  db: Queryable,
  id: number,
  status: 'succeeded' | 'failed',
  counts: RunCounts,
  error: string | null = null,
): Promise<void> {
  // A failure recorded late (failed-runs.ts) never overwrites a success.
  await db.query(
    `UPDATE ingestion_runs SET status = $2, finished_at = clock_timestamp(), pages = $3, fetched = $4,
       inserted = $5, updated = $6, unchanged = $7, rejected = $8, retries = $9, error = $10, deleted = $11
     WHERE id = $1 AND ($2 = 'succeeded' OR status <> 'succeeded')`,
    [id, status, counts.pages, counts.fetched, counts.inserted, counts.updated, counts.unchanged, counts.rejected, counts.retries, error, counts.deleted ?? 0],
  );
}

/** Runs left `running` by a process that died. Call only while holding the ingest lock. */
export async function failAbandonedRuns(db: Queryable): Promise<number> {
  const { rowCount } = await db.query(
    `UPDATE ingestion_runs SET status = 'failed', finished_at = clock_timestamp(),
       error = 'abandoned: the process running it stopped before it finished'
     WHERE status = 'running'`,
  );
  return rowCount ?? 0;
}

/** The newest run still marked running (the one holding the lock). */
export async function runningRunId(db: Queryable): Promise<number | null> {
  const { rows } = await db.query<{ id: number }>(
    `SELECT id::int AS id FROM ingestion_runs WHERE status = 'running' ORDER BY id DESC LIMIT 1`,
  );
  return rows[0]?.id ?? null;
}

export async function getRun(db: Queryable, id: number): Promise<RunRecord | null> {
  const { rows } = await db.query<RunRecord>(`SELECT ${RUN_COLUMNS} FROM ingestion_runs WHERE id = $1`, [id]);
  return rows[0] ?? null;
}

export async function listRuns(db: Queryable, page: number, limit: number): Promise<{ data: RunRecord[]; total: number }> {
  const [list, count] = await Promise.all([
    db.query<RunRecord>(`SELECT ${RUN_COLUMNS} FROM ingestion_runs ORDER BY id DESC LIMIT $1 OFFSET $2`, [
      limit,
      (page - 1) * limit,
    ]),
    db.query<{ n: number }>('SELECT count(*)::int AS n FROM ingestion_runs'),
  ]);
  return { data: list.rows, total: count.rows[0]!.n };
}

export interface RejectedRecord {
  id: number;
  run_id: number;
  page: number;
  position: number;
  customer_id: string | null;
  payload: string;
  reasons: string[];
}

export async function listRejected(
  db: Queryable,
  runId: number,
  page: number,
  limit: number,
): Promise<{ data: RejectedRecord[]; total: number }> {
  const [list, count] = await Promise.all([
    db.query<RejectedRecord>(
      `SELECT id::int AS id, run_id::int AS run_id, page, position, customer_id, payload, reasons
       FROM rejected_records WHERE run_id = $1 ORDER BY id LIMIT $2 OFFSET $3`,
      [runId, limit, (page - 1) * limit],
    ),
    db.query<{ n: number }>('SELECT count(*)::int AS n FROM rejected_records WHERE run_id = $1', [runId]),
  ]);
  return { data: list.rows, total: count.rows[0]!.n };
}
