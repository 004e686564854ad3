// Run records (ingestion_runs) and rejected records: SQL only.
import { setTimeout as sleep } from 'node:timers/promises';
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

export type RunPhase = 'fetching' | 'merging';

export interface RunRecord extends RunCounts {
  id: number;
  status: 'running' | 'succeeded' | 'failed';
  source_url: string;
  started_at: string;
  finished_at: string | null;
  duration_ms: number | null;
  error: string | null;
  /** What a running run is doing now; null once it has ended. */
  phase: RunPhase | null;
  /** Pages the source's total implies (the last, short or empty, page included); null when unknown. */
  pages_expected: number | null;
  /** Time from the start to the last page staged, and from there to the end (null until reached). */
  fetch_ms: number | null;
  merge_ms: number | null;
  /** Milliseconds since the start, by the database's clock, while the run is running. */
  elapsed_ms: number | null;
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

/** What a running run has done so far, as kept in its row. */
export interface RunProgressRow {
  pages: number;
  fetched: number;
  rejected: number;
  retries: number;
  phase: RunPhase;
  pagesExpected: number | null;
  fetchMs: number | null;
}

const RUN_COLUMNS = `id::int AS id, status, source_url,
  to_char(started_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS started_at,
  to_char(finished_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS finished_at,
  (extract(epoch FROM finished_at - started_at) * 1000)::int AS duration_ms,
  pages, fetched, inserted, updated, unchanged, rejected, retries, error,
  phase, pages_expected, fetch_ms, merge_ms,
  CASE WHEN status = 'running' THEN (extract(epoch FROM clock_timestamp() - started_at) * 1000)::int END AS elapsed_ms,
  deleted, dry_run, reverts::int AS reverts, reverted_by::int AS reverted_by,
  to_char(changes_pruned_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS changes_pruned_at`;

/** Advisory-lock key of "an ingest is running" (any process, any replica). */
export const INGEST_LOCK_KEY = 7_240_002;

/**
 * Class of a run's own advisory lock, (RUN_LOCK_CLASS, run id): the ingest
 * takes it in the transaction that holds INGEST_LOCK_KEY, right after its
 * run row is committed, so that pg_locks says which run holds the ingest.
 */
export const RUN_LOCK_CLASS = 7_240_003;

type Queryable = Pool | PoolClient;

/** Marks the lock holder's transaction as running `runId` (see RUN_LOCK_CLASS). */
export async function lockRun(client: PoolClient, runId: number): Promise<void> {
  await client.query('SELECT pg_advisory_xact_lock($1, $2)', [RUN_LOCK_CLASS, runId]);
}

// The backend holding INGEST_LOCK_KEY (a one-bigint-key lock: classid is its
// high half, objid its low half, objsubid 1) in this database, and the run
// lock (two-int key: objsubid 2) that same backend holds, if any yet.
const LOCK_HOLDER_SQL = `
SELECT (SELECT r.objid::bigint::int FROM pg_locks r
         WHERE r.locktype = 'advisory' AND r.granted AND r.pid = m.pid AND r.database = m.database
           AND r.classid = $2::bigint::oid AND r.objsubid = 2
         ORDER BY r.objid DESC LIMIT 1) AS run_id
FROM pg_locks m
WHERE m.locktype = 'advisory' AND m.granted AND m.objsubid = 1
  AND m.database = (SELECT oid FROM pg_database WHERE datname = current_database())
  AND m.classid = ($1::bigint >> 32)::oid AND m.objid = ($1::bigint & 4294967295)::oid`;

/**
 * The run of the ingest holding the lock, for the 409 of one that did not
 * get it. The holder's run row and run lock come a few statements after
 * its lock, so in that moment this looks again, for at most `waitMs`; a
 * holder without a run (a session holding the key by hand) gives null
 * then. When the lock is free again, the run that held it has just ended:
 * the newest run.
 */
export async function lockHolderRunId(db: Pool, waitMs = 2000): Promise<number | null> {
  const deadline = performance.now() + waitMs;
  for (let delay = 2; ; delay = Math.min(delay * 2, 50)) {
    const { rows } = await db.query<{ run_id: number | null }>(LOCK_HOLDER_SQL, [INGEST_LOCK_KEY, RUN_LOCK_CLASS]);
    if (rows.length === 0) {
      const newest = await db.query<{ id: number | null }>('SELECT max(id)::int AS id FROM ingestion_runs');
      return newest.rows[0]?.id ?? null;
    }
    if (rows[0]!.run_id !== null) return rows[0]!.run_id;
    if (performance.now() + delay > deadline) return null;
    await sleep(delay);
  }
}

export async function createRun(db: Queryable, sourceUrl: string, opts: { dryRun?: boolean; reverts?: number } = {}): Promise<number> {
  const { rows } = await db.query<{ id: number }>(
    'INSERT INTO ingestion_runs (source_url, dry_run, reverts) VALUES ($1, $2, $3) RETURNING id::int AS id',
    [sourceUrl, opts.dryRun === true, opts.reverts ?? null],
  );
  return rows[0]!.id;
}

/**
 * Records the end of a run; returns its duration by the database's clock
 * (what its record will say). `fetchMs`: when the run got past fetching;
 * the rest of a succeeded run is its merge.
 */
export async function finishRun(
  db: Queryable,
  id: number,
  status: 'succeeded' | 'failed',
  counts: RunCounts,
  error: string | null = null,
  fetchMs: number | null = null,
): Promise<number | null> {
  // A failure recorded late (failed-runs.ts) never overwrites a success.
  const { rows } = await db.query<{ duration_ms: number }>(
    `UPDATE ingestion_runs SET status = $2, finished_at = clock_timestamp(), pages = $3, fetched = $4,
       inserted = $5, updated = $6, unchanged = $7, rejected = $8, retries = $9, error = $10, phase = NULL, deleted = $12,
       fetch_ms = COALESCE($11, fetch_ms),
       merge_ms = CASE WHEN $2 <> 'succeeded' OR COALESCE($11, fetch_ms) IS NULL THEN NULL
                       ELSE (extract(epoch FROM clock_timestamp() - started_at) * 1000)::int - COALESCE($11, fetch_ms) END
     WHERE id = $1 AND ($2 = 'succeeded' OR status <> 'succeeded')
     RETURNING (extract(epoch FROM finished_at - started_at) * 1000)::int AS duration_ms`,
    [
      id,
      status,
      counts.pages,
      counts.fetched,
      counts.inserted,
      counts.updated,
      counts.unchanged,
      counts.rejected,
      counts.retries,
      error,
      fetchMs,
      counts.deleted ?? 0,
    ],
  );
  return rows[0]?.duration_ms ?? null;
}

/** Writes a running run's progress into its row; a run that has ended is left as it is. */
export async function saveProgress(db: Queryable, id: number, p: RunProgressRow): Promise<void> {
  await db.query(
    `UPDATE ingestion_runs SET pages = $2, fetched = $3, rejected = $4, retries = $5, phase = $6, pages_expected = $7,
       fetch_ms = $8
     WHERE id = $1 AND status = 'running'`,
    [id, p.pages, p.fetched, p.rejected, p.retries, p.phase, p.pagesExpected, p.fetchMs],
  );
}

/**
 * Milliseconds of merge per record fetched in the latest succeeded run that
 * merged anything: what the ETA of the next run's merge is estimated from.
 */
export async function recentMergeRate(db: Queryable): Promise<number | null> {
  const { rows } = await db.query<{ rate: number }>(
    `SELECT merge_ms::float8 / fetched AS rate FROM ingestion_runs
     WHERE status = 'succeeded' AND merge_ms IS NOT NULL AND fetched > 0
     ORDER BY id DESC LIMIT 1`,
  );
  return rows[0]?.rate ?? null;
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

export async function getRun(db: Queryable, id: number): Promise<RunRecord | null> {
  const { rows } = await db.query<RunRecord>(`SELECT ${RUN_COLUMNS} FROM ingestion_runs WHERE id = $1`, [id]);
  return rows[0] ?? null;
}

export async function listRuns(db: Queryable, page: number, limit: number): Promise<{ data: RunRecord[]; total: number }> {
  const [list, count] = await Promise.all([
    db.query<RunRecord>(`SELECT ${RUN_COLUMNS} FROM ingestion_runs ORDER BY id DESC LIMIT $1 OFFSET $2`, [limit, (page - 1) * limit]),
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
