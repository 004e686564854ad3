// Change sets (customer_changes, migrations/0007): a run's changes, a
// customer's history, and what stands in the way of a revert. SQL only.
// Written by loader.ts (INGEST_CHANGES_SQL, REVERT_CHANGES_SQL).
import type { Pool, PoolClient } from 'pg';
import type { Customer } from '../customer.js';
import { CHANGE_FIELDS } from './loader.js';
import type { RunRecord } from './runs-repository.js';

type Queryable = Pool | PoolClient;

export type ChangeKind = 'insert' | 'update' | 'delete';
const KIND_CODE: Record<ChangeKind, string> = { insert: 'i', update: 'u', delete: 'd' };

export interface CustomerChange {
  customer_id: string;
  change: ChangeKind;
  /** The fields whose values differ between before and after. */
  fields: string[];
  before: Customer | null;
  after: Customer | null;
}

export interface HistoryEntry extends Omit<CustomerChange, 'customer_id'> {
  run_id: number;
  /** When the run that made the change committed (its finished_at). */
  at: string;
}

/**
 * The after-image of change `x`: stored for a dry run; else the next applied
 * change's before-image of the same customer (one index probe), else the
 * customer's current row; none for a delete.
 */
const AFTER = `
CASE WHEN x.change = 'd' THEN NULL
     -- COALESCE, not IS NOT NULL: a row value IS NOT NULL only when every field is.
     ELSE COALESCE(
       x.after,
       (SELECT CASE WHEN n.change = 'i' THEN NULL ELSE n.before END FROM customer_changes AS n
        WHERE n.customer_id = x.customer_id AND n.run_id > x.run_id AND NOT n.dry_run
        ORDER BY n.run_id LIMIT 1),
       (SELECT ROW(${CHANGE_FIELDS.map((f) => `c.${f}`).join(', ')})::customer_image
        FROM customers AS c WHERE c.customer_id = x.customer_id))
END`;

const CHANGE_COLUMNS = `x.customer_id,
  CASE x.change WHEN 'i' THEN 'insert' WHEN 'u' THEN 'update' ELSE 'delete' END AS change,
  x.fields,
  customer_image_json(x.customer_id, x.before) AS before,
  customer_image_json(x.customer_id, ${AFTER}) AS after`;

/** $1 run, $2 change code or null, $3 limit, $4 offset: a page in customer_id order (the primary key's order). */
export const RUN_CHANGES_SQL = `
SELECT ${CHANGE_COLUMNS}
FROM customer_changes AS x
WHERE x.run_id = $1 AND ($2::"char" IS NULL OR x.change = $2::"char")
ORDER BY x.customer_id
LIMIT $3 OFFSET $4`;

/** $1 customer id, $2 limit, $3 offset: the applied changes of one customer, newest first. */
export const HISTORY_SQL = `
SELECT x.run_id::int AS run_id,
  to_char(r.finished_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS at,
  ${CHANGE_COLUMNS}
FROM customer_changes AS x
JOIN ingestion_runs AS r ON r.id = x.run_id
WHERE x.customer_id = $1 AND NOT x.dry_run
ORDER BY x.run_id DESC
LIMIT $2 OFFSET $3`;

export const HISTORY_COUNT_SQL = `
SELECT count(*)::int AS n,
       EXISTS (SELECT 1 FROM customers WHERE customer_id = $1) AS stored
FROM customer_changes AS x WHERE x.customer_id = $1 AND NOT x.dry_run`;

/**
 * What stands in the way of reverting run $1: the customers it changed whose
 * row is no longer what the run left — what it left being the next applied
 * change's before-image (a customer no later run touched is as the run left
 * it). Later changes that were themselves reverted cancel out and are no
 * conflict. For each conflicting customer, the latest run that changed it
 * (the one to revert first); the first 100 by customer_id, their number, and
 * those runs.
 */
export const REVERT_CONFLICTS_SQL = `
WITH later AS MATERIALIZED (
  SELECT x.customer_id,
         (SELECT n.before FROM customer_changes AS n
          WHERE n.customer_id = x.customer_id AND n.run_id > x.run_id AND NOT n.dry_run
          ORDER BY n.run_id LIMIT 1) AS left_by_run,
         (SELECT n.run_id FROM customer_changes AS n
          WHERE n.customer_id = x.customer_id AND n.run_id > x.run_id AND NOT n.dry_run
          ORDER BY n.run_id DESC LIMIT 1) AS latest_run
  FROM customer_changes AS x
  WHERE x.run_id = $1
),
conflicts AS MATERIALIZED (
  SELECT l.customer_id, l.latest_run AS run_id
  FROM later AS l
  LEFT JOIN customers AS c ON c.customer_id = l.customer_id
  WHERE l.latest_run IS NOT NULL
    AND (CASE WHEN c.customer_id IS NOT NULL THEN ROW(${CHANGE_FIELDS.map((f) => `c.${f}`).join(', ')})::customer_image END)
        IS DISTINCT FROM l.left_by_run
)
SELECT (SELECT count(*) FROM conflicts)::int AS total,
       COALESCE((SELECT array_agg(DISTINCT run_id::int ORDER BY run_id::int) FROM conflicts), '{}') AS runs,
       COALESCE((SELECT json_agg(json_build_object('customer_id', customer_id, 'run_id', run_id::int))
                 FROM (SELECT * FROM conflicts ORDER BY customer_id LIMIT 100) AS f), '[]') AS first`;

const fieldNames = (mask: number) => CHANGE_FIELDS.filter((_, i) => (mask & (1 << i)) !== 0);

type ChangeRow<T> = Omit<T, 'fields'> & { fields: number };

/**
 * A page of a run's changes. The total is the run record's own count of that
 * kind: a run logs exactly the change set it counts (both come from the same
 * plan, in its transaction), so no count(*) over the log is needed; none once
 * the change set is pruned.
 */
export async function listRunChanges(
  db: Queryable,
  run: Pick<RunRecord, 'id' | 'inserted' | 'updated' | 'deleted' | 'changes_pruned_at'>,
  change: ChangeKind | null,
  page: number,
  limit: number,
): Promise<{ data: CustomerChange[]; total: number }> {
  const code = change === null ? null : KIND_CODE[change];
  const { rows } = await db.query<ChangeRow<CustomerChange>>(RUN_CHANGES_SQL, [run.id, code, limit, (page - 1) * limit]);
  const counts = { insert: run.inserted, update: run.updated, delete: run.deleted };
  const total = run.changes_pruned_at !== null ? 0 : change === null ? counts.insert + counts.update + counts.delete : counts[change];
  return { data: rows.map((r) => ({ ...r, fields: fieldNames(r.fields) })), total };
}

/** A customer's history, newest first; null when the id was never stored. */
export async function customerHistory(
  db: Queryable,
  customerId: string,
  page: number,
  limit: number,
): Promise<{ data: HistoryEntry[]; total: number } | null> {
  const [list, count] = await Promise.all([
    db.query<ChangeRow<HistoryEntry & { customer_id: string }>>(HISTORY_SQL, [customerId, limit, (page - 1) * limit]),
    db.query<{ n: number; stored: boolean }>(HISTORY_COUNT_SQL, [customerId]),
  ]);
  const { n, stored } = count.rows[0]!;
  if (n === 0 && !stored) return null;
  return {
    data: list.rows.map(({ customer_id: _id, ...r }) => ({ ...r, fields: fieldNames(r.fields) })),
    total: n,
  };
}

export interface RevertConflicts {
  total: number;
  runs: number[];
  first: { customer_id: string; run_id: number }[];
}

export async function revertConflicts(db: Queryable, runId: number): Promise<RevertConflicts> {
  return (await db.query<RevertConflicts>(REVERT_CONFLICTS_SQL, [runId])).rows[0]!;
}
