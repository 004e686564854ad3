// The loader: knows SQL, not HTTP. Streams a run's records with COPY into a
// temporary chunk table; every INGEST_CHUNK_ROWS rows the chunk is classified
// against `customers` (unchanged, or new/changed and kept) while the next
// pages are still being fetched; at the end one set-based statement merges
// what changed. Rejected records travel in the same stream (with their
// payload and reasons) so that no page is ever held back in memory.
import { once } from 'node:events';
import type { PoolClient } from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import type { ValidCustomer } from '../../customer.js';

/** What COPY fills: one chunk of the run's records, valid and rejected. */
export const CHUNK_TABLE = 'ingest_chunk';
/** Every valid record's id and place, and whether it leaves its stored row as it is. */
export const KEYS_TABLE = 'ingest_keys';
/** The records that matter to the merge: valid ones that are new or change their row, and rejected ones. */
export const ROWS_TABLE = 'ingest_rows';

const ROW_COLUMNS = `
  page            integer NOT NULL,
  pos             integer NOT NULL,
  customer_id     text,
  first_name      text,
  last_name       text,
  email           text,
  phone           text,
  address         text,
  date_of_birth   date,
  account_balance numeric(15,2),
  created_at      timestamp,
  payload         text,
  reasons         text[]`;

export const CREATE_STAGING_SQL = `
CREATE TEMP TABLE ${CHUNK_TABLE} (${ROW_COLUMNS}
) ON COMMIT DROP;
CREATE TEMP TABLE ${ROWS_TABLE} (${ROW_COLUMNS}
) ON COMMIT DROP;
CREATE TEMP TABLE ${KEYS_TABLE} (
  customer_id text    NOT NULL,
  page        integer NOT NULL,
  pos         integer NOT NULL,
  same        boolean NOT NULL
) ON COMMIT DROP`;

export const COPY_CHUNK_SQL = `COPY ${CHUNK_TABLE} FROM STDIN`;

const DATA_COLUMNS = 'first_name, last_name, email, phone, address, date_of_birth, account_balance, created_at';

/** The values a record leaves in its stored row: a null in the source keeps the stored value. */
const MERGED = `s.first_name, s.last_name, s.email,
         COALESCE(s.phone, c.phone), COALESCE(s.address, c.address),
         COALESCE(s.date_of_birth, c.date_of_birth), COALESCE(s.account_balance, c.account_balance),
         COALESCE(s.created_at, c.created_at)`;
const STORED = `c.first_name, c.last_name, c.email, c.phone, c.address,
         c.date_of_birth, c.account_balance, c.created_at`;

/**
 * One chunk: each valid record is looked up in `customers` by its primary key
 * (LATERAL … LIMIT 1: an index probe per record, whatever the table's size,
 * never a scan of it per chunk); its key goes to KEYS_TABLE with `same` when
 * it would leave its stored row as it is, and the record itself to
 * ROWS_TABLE only when it would not (or is rejected). Then the chunk table is
 * emptied for the next COPY. What a chunk saw still holds at the merge:
 * `customers` is written only by ingests, one at a time (the advisory lock),
 * and PLAN_CHANGES_SQL compares each kept record with its stored row again.
 */
export const CLASSIFY_SQL = `
WITH s AS MATERIALIZED (
  SELECT s.*,
         s.reasons IS NULL AND c.customer_id IS NOT NULL
           AND (${MERGED}) IS NOT DISTINCT FROM (${STORED}) AS same
  FROM ${CHUNK_TABLE} AS s
  LEFT JOIN LATERAL (
    SELECT * FROM customers AS c WHERE c.customer_id = s.customer_id AND s.reasons IS NULL LIMIT 1
  ) AS c ON true
),
keys AS (
  INSERT INTO ${KEYS_TABLE} (customer_id, page, pos, same)
  SELECT customer_id, page, pos, same FROM s WHERE reasons IS NULL
)
INSERT INTO ${ROWS_TABLE} (page, pos, customer_id, ${DATA_COLUMNS}, payload, reasons)
SELECT page, pos, customer_id, ${DATA_COLUMNS}, payload, reasons FROM s WHERE NOT same`;

export const CLASSIFY_CHUNK_SQL = `${CLASSIFY_SQL};\nTRUNCATE ${CHUNK_TABLE}`;

/** The change set of one run (or revert): one row per customer it changes. */
export const CHANGES_TABLE = 'ingest_changes';

export const CREATE_CHANGES_SQL = `
CREATE TEMP TABLE ${CHANGES_TABLE} (
  customer_id text     NOT NULL,
  change      "char"   NOT NULL,
  fields      smallint NOT NULL,
  before      customer_image,
  after       customer_image
) ON COMMIT DROP`;

/** The fields of a change's images, in the order of customer_image: bit i of `fields` is CHANGE_FIELDS[i]. */
export const CHANGE_FIELDS = [
  'first_name',
  'last_name',
  'email',
  'phone',
  'address',
  'date_of_birth',
  'account_balance',
  'created_at',
] as const;
export type ChangeField = (typeof CHANGE_FIELDS)[number];

const image = (col: (f: ChangeField) => string) => `ROW(${CHANGE_FIELDS.map(col).join(', ')})::customer_image`;
/** The bit mask of the fields whose values differ (a missing image is all nulls). */
const diffMask = (a: (f: ChangeField) => string, b: (f: ChangeField) => string) =>
  `(${CHANGE_FIELDS.map((f, i) => `CASE WHEN ${a(f)} IS DISTINCT FROM ${b(f)} THEN ${1 << i} ELSE 0 END`).join(' + ')})::smallint`;

/**
 * A run's change set, computed without writing `customers` (the same for a
 * dry run and a real one): the last record of each id wins; a new id is an
 * insert; for a known id a null in the source keeps the stored value, and a
 * record that leaves its row as it is is no change at all. With $1
 * (delete_missing), every stored id the run did not see is a delete — not
 * the id of a record that was rejected, which the source did return.
 * Answers the counts of each kind and of the stored rows.
 */
export const PLAN_CHANGES_SQL = `
WITH last AS MATERIALIZED (
  SELECT DISTINCT ON (customer_id) customer_id, page, pos, same
  FROM ${KEYS_TABLE}
  ORDER BY customer_id, page DESC, pos DESC
),
m AS (
  SELECT s.customer_id, c.customer_id IS NOT NULL AS stored,
         ${CHANGE_FIELDS.map((f) => `c.${f} AS c_${f}`).join(', ')},
         s.first_name AS m_first_name, s.last_name AS m_last_name, s.email AS m_email,
         COALESCE(s.phone, c.phone) AS m_phone, COALESCE(s.address, c.address) AS m_address,
         COALESCE(s.date_of_birth, c.date_of_birth) AS m_date_of_birth,
         COALESCE(s.account_balance, c.account_balance) AS m_account_balance,
         COALESCE(s.created_at, c.created_at) AS m_created_at
  FROM last
  JOIN ${ROWS_TABLE} AS s ON s.page = last.page AND s.pos = last.pos
  LEFT JOIN customers AS c ON c.customer_id = s.customer_id
  WHERE NOT last.same
),
planned AS (
  INSERT INTO ${CHANGES_TABLE} (customer_id, change, fields, before, after)
  SELECT customer_id, CASE WHEN stored THEN 'u' ELSE 'i' END::"char",
         ${diffMask((f) => `c_${f}`, (f) => `m_${f}`)},
         CASE WHEN stored THEN ${image((f) => `c_${f}`)} END,
         ${image((f) => `m_${f}`)}
  FROM m
  WHERE NOT stored
     OR (${CHANGE_FIELDS.map((f) => `c_${f}`).join(', ')}) IS DISTINCT FROM (${CHANGE_FIELDS.map((f) => `m_${f}`).join(', ')})
  UNION ALL
  SELECT c.customer_id, 'd'::"char", ${diffMask((f) => `c.${f}`, () => 'NULL')}, ${image((f) => `c.${f}`)}, NULL
  FROM customers AS c
  WHERE $1::boolean
    AND NOT EXISTS (SELECT 1 FROM last WHERE last.customer_id = c.customer_id)
    AND NOT EXISTS (SELECT 1 FROM ${ROWS_TABLE} AS r WHERE r.reasons IS NOT NULL AND r.customer_id = c.customer_id)
  RETURNING change
)
SELECT (SELECT count(*) FROM last)::int AS distinct_ids,
       count(*) FILTER (WHERE change = 'i')::int AS inserted,
       count(*) FILTER (WHERE change = 'u')::int AS updated,
       count(*) FILTER (WHERE change = 'd')::int AS deleted,
       (SELECT n FROM customers_count)::int AS stored
FROM planned`;

/**
 * The change set that undoes run $1: each customer it changed is set back
 * to its before-image (a row it inserted is deleted, a row it deleted comes
 * back), against the rows as they are now; a customer already as it was is
 * no change. Only valid when no later run changed the same customers
 * (REVERT_CONFLICTS_SQL in changes-repository.ts).
 */
export const PLAN_REVERT_SQL = `
WITH r AS (
  SELECT x.customer_id, x.before AS target, c.customer_id IS NOT NULL AS stored,
         ${CHANGE_FIELDS.map((f) => `c.${f} AS c_${f}`).join(', ')}
  FROM customer_changes AS x
  LEFT JOIN customers AS c ON c.customer_id = x.customer_id
  WHERE x.run_id = $1
),
planned AS (
  INSERT INTO ${CHANGES_TABLE} (customer_id, change, fields, before, after)
  SELECT customer_id,
         CASE WHEN NOT stored THEN 'i' WHEN target IS NULL THEN 'd' ELSE 'u' END::"char",
         ${diffMask((f) => `CASE WHEN stored THEN c_${f} END`, (f) => `(target).${f}`)},
         CASE WHEN stored THEN ${image((f) => `c_${f}`)} END,
         target
  FROM r
  WHERE (CASE WHEN stored THEN ${image((f) => `c_${f}`)} END) IS DISTINCT FROM target
  RETURNING change
)
SELECT 0 AS distinct_ids,
       count(*) FILTER (WHERE change = 'i')::int AS inserted,
       count(*) FILTER (WHERE change = 'u')::int AS updated,
       count(*) FILTER (WHERE change = 'd')::int AS deleted,
       (SELECT n FROM customers_count)::int AS stored
FROM planned`;

/**
 * Applies a planned change set and logs it as run $1's, in one statement.
 * $2 (dry run): `customers` is not written at all (not one row version) and
 * the log keeps the after-images, which are nowhere else. Otherwise the log
 * keeps only the before-images (an after-image is the next change's
 * before-image, or the current row). $1 null: apply without a log (the bench floor).
 */
export const APPLY_CHANGES_SQL = `
WITH upd AS (
  UPDATE customers AS c SET
    ${CHANGE_FIELDS.map((f) => `${f} = (x.after).${f}`).join(',\n    ')}
  FROM ${CHANGES_TABLE} AS x
  WHERE NOT $2::boolean AND x.change = 'u' AND c.customer_id = x.customer_id
  RETURNING 1
),
ins AS (
  INSERT INTO customers (customer_id, ${DATA_COLUMNS})
  SELECT x.customer_id, ${CHANGE_FIELDS.map((f) => `(x.after).${f}`).join(', ')}
  FROM ${CHANGES_TABLE} AS x
  WHERE NOT $2::boolean AND x.change = 'i'
  RETURNING 1
),
del AS (
  DELETE FROM customers AS c USING ${CHANGES_TABLE} AS x
  WHERE NOT $2::boolean AND x.change = 'd' AND c.customer_id = x.customer_id
  RETURNING 1
),
logged AS (
  INSERT INTO customer_changes (run_id, fields, change, dry_run, customer_id, before, after)
  SELECT $1::bigint, x.fields, x.change, $2::boolean, x.customer_id, x.before, CASE WHEN $2::boolean THEN x.after END
  FROM ${CHANGES_TABLE} AS x
  WHERE $1::bigint IS NOT NULL
)
SELECT (SELECT count(*) FROM ins)::int AS inserted,
       (SELECT count(*) FROM upd)::int AS updated,
       (SELECT count(*) FROM del)::int AS deleted`;

/**
 * Retention: the change sets of runs older than $1 days are deleted; their
 * runs stay, marked (changes_pruned_at), and can no longer be reverted.
 */
export const PRUNE_CHANGES_SQL = `
WITH old AS (
  UPDATE ingestion_runs SET changes_pruned_at = now()
  WHERE changes_pruned_at IS NULL AND started_at < now() - make_interval(days => $1::int) AND status <> 'running'
  RETURNING id
),
gone AS (
  DELETE FROM customer_changes WHERE run_id IN (SELECT id FROM old) RETURNING 1
)
SELECT (SELECT count(*) FROM old)::int AS runs, (SELECT count(*) FROM gone)::int AS changes`;

export const SAVE_REJECTED_SQL = `
INSERT INTO rejected_records (run_id, page, position, customer_id, payload, reasons)
SELECT $1, page, pos, customer_id, payload, reasons
FROM ${ROWS_TABLE} WHERE reasons IS NOT NULL
ORDER BY page, pos`;

// COPY text format: backslash, tab, newline and carriage return are escaped; \N is NULL.
const COPY_SPECIAL = /[\\\t\n\r]/g;
const HAS_COPY_SPECIAL = /[\\\t\n\r]/;
const COPY_ESCAPES: Record<string, string> = { '\\': '\\\\', '\t': '\\t', '\n': '\\n', '\r': '\\r' };
function copyText(v: string | number | null): string {
  if (v === null) return '\\N';
  const s = typeof v === 'number' ? String(v) : v;
  return HAS_COPY_SPECIAL.test(s) ? s.replace(COPY_SPECIAL, (c) => COPY_ESCAPES[c]!) : s;
}

function arrayLiteral(items: string[]): string {
  return `{${items.map((i) => `"${i.replace(/[\\"]/g, '\\$&')}"`).join(',')}}`;
}

export function stagingRow(page: number, pos: number, c: ValidCustomer): string {
  return (
    `${page}\t${pos}\t${copyText(c.customer_id)}\t${copyText(c.first_name)}\t${copyText(c.last_name)}\t` +
    `${copyText(c.email)}\t${copyText(c.phone)}\t${copyText(c.address)}\t${copyText(c.date_of_birth)}\t` +
    `${copyText(c.account_balance)}\t${copyText(c.created_at)}\t\\N\t\\N\n`
  );
}

export function rejectedRow(page: number, pos: number, customerId: string | null, payload: string, reasons: string[]): string {
  const id = customerId !== null && customerId.isWellFormed() && !customerId.includes('\u0000') ? customerId : null;
  return (
    `${page}\t${pos}\t${copyText(id)}\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t` +
    `${copyText(payload)}\t${copyText(arrayLiteral(reasons))}\n`
  );
}

export interface MergeCounts {
  distinctIds: number;
  inserted: number;
  updated: number;
  unchanged: number;
}

/**
 * Bytes of COPY text a chunk's stream takes before write() waits: rows keep
 * arriving while the previous chunk is being classified, up to this much.
 */
const COPY_BUFFER_BYTES = 8 * 1024 * 1024;

/**
 * The COPY of one run, a chunk at a time: after `chunkRows` rows the chunk's
 * COPY ends, its classification and the next chunk's COPY are queued on the
 * connection (pg runs a client's queries in order), and writes go on into the
 * next chunk's stream, which holds them until its COPY starts.
 */
export class StagingWriter {
  private copy: ReturnType<typeof copyFrom>;
  private rowsInChunk = 0;
  private failure: Error | null = null;

  private constructor(
    private readonly client: PoolClient,
    private readonly chunkRows: number,
  ) {
    this.copy = this.startCopy();
  }

  /**
   * Creates the run's temporary tables. `workMem` (INGEST_WORK_MEM) is set
   * for the rest of the transaction only: with the server's default (4MB)
   * the merge of 200,000 rows sorts and hashes on disk.
   */
  static async open(client: PoolClient, opts: { workMem: string; chunkRows: number }): Promise<StagingWriter> {
    await client.query(`SELECT set_config('work_mem', $1, true)`, [opts.workMem]);
    await client.query(CREATE_STAGING_SQL);
    return new StagingWriter(client, opts.chunkRows);
  }

  private startCopy(): ReturnType<typeof copyFrom> {
    const stream = this.client.query(copyFrom(COPY_CHUNK_SQL, { highWaterMark: COPY_BUFFER_BYTES }));
    stream.on('error', (err: Error) => {
      this.failure ??= err;
    });
    return stream;
  }

  /** Writes `records` rows (COPY text as UTF-8 bytes); resolves when the stream can take more. */
  async write(rows: Uint8Array, records: number): Promise<void> {
    if (this.failure) throw this.failure;
    if (rows.length === 0) return;
    if (this.rowsInChunk >= this.chunkRows) this.nextChunk();
    this.rowsInChunk += records;
    const stream = this.copy;
    if (!stream.write(rows)) {
      await Promise.race([once(stream, 'drain'), once(stream, 'error').then(([e]) => Promise.reject(e))]);
    }
  }

  private nextChunk(): void {
    this.copy.end();
    this.client.query(CLASSIFY_CHUNK_SQL).catch((err: Error) => {
      this.failure ??= err;
    });
    this.copy = this.startCopy();
    this.rowsInChunk = 0;
  }

  /** Ends the last chunk's COPY and classifies it: the run's records are all staged. */
  async finish(): Promise<void> {
    if (this.failure) throw this.failure;
    const done = once(this.copy, 'finish');
    this.copy.end();
    await done;
    await this.client.query(CLASSIFY_CHUNK_SQL);
    if (this.failure) throw this.failure;
  }

  /** Ends the COPY with an error so that the server discards what it has. */
  abort(): void {
    if (!this.copy.destroyed) this.copy.destroy(new Error('ingest aborted'));
  }
}

export interface ChangeOptions {
  /** Compute and log the change set, write nothing to `customers` (?dry_run=true). */
  dryRun?: boolean;
  /** Delete the stored customers the run did not see (INGEST_DELETE_MISSING, ?delete_missing). */
  deleteMissing?: boolean;
  /** The mass-delete guard: most of the stored rows a run may delete, in percent (INGEST_DELETE_MAX_PERCENT). */
  deleteMaxPercent?: number;
  /** Lifts the guard (?allow_mass_delete=true). */
  allowMassDelete?: boolean;
  /** Records the source returned, valid or not: a source that returned none never deletes without allowMassDelete. */
  sourceRecords?: number;
  /** Prune the change sets older than this many days first (CHANGES_RETENTION_DAYS). */
  retentionDays?: number;
}

/** The mass-delete guard refused a run: nothing of it was written. */
export class MassDeleteError extends Error {
  override name = 'MassDeleteError';
  constructor(
    readonly wouldDelete: number,
    readonly stored: number,
    readonly maxPercent: number,
    readonly emptySource: boolean,
  ) {
    super(
      emptySource
        ? `the source returned no record: the run would delete all ${wouldDelete} stored customers; allow_mass_delete=true lets it`
        : `the run would delete ${wouldDelete} of ${stored} stored customers (${((wouldDelete * 100) / stored).toFixed(1)}%), ` +
            `more than INGEST_DELETE_MAX_PERCENT=${maxPercent}%; allow_mass_delete=true lets it`,
    );
  }
}

export interface ChangeCounts {
  inserted: number;
  updated: number;
  deleted: number;
}

interface PlanRow extends ChangeCounts {
  distinct_ids: number;
  stored: number;
}

/** Deletes the change sets past retention (their runs stay, marked); the number of runs pruned. */
export async function pruneChangeSets(client: Pick<PoolClient, 'query'>, retentionDays: number): Promise<number> {
  const { rows } = await client.query<{ runs: number }>(PRUNE_CHANGES_SQL, [retentionDays]);
  return rows[0]!.runs;
}

/** Plans a change set into CHANGES_TABLE: PLAN_CHANGES_SQL (an ingest) or PLAN_REVERT_SQL (a revert). */
export async function planChanges(client: PoolClient, sql: string, params: unknown[]): Promise<PlanRow> {
  await client.query(CREATE_CHANGES_SQL);
  return (await client.query<PlanRow>(sql, params)).rows[0]!;
}

/**
 * Applies the planned change set (unless a dry run) and logs it as run
 * `runId`'s. The counts are the plan's: a dry run counts what the real run
 * would do, by construction.
 */
export async function applyChanges(client: PoolClient, runId: number | null, planned: ChangeCounts, dryRun: boolean): Promise<ChangeCounts> {
  const { rows } = await client.query<ChangeCounts>(APPLY_CHANGES_SQL, [runId, dryRun]);
  const applied = rows[0]!;
  if (!dryRun && (applied.inserted !== planned.inserted || applied.updated !== planned.updated || applied.deleted !== planned.deleted)) {
    // Cannot happen while only ingests and reverts write `customers`, under the lock.
    throw new Error(`the change set applied differs from the plan: ${JSON.stringify({ planned, applied })}`);
  }
  return { inserted: planned.inserted, updated: planned.updated, deleted: planned.deleted };
}

/**
 * Runs the merge over a finished staging: plans the run's change set
 * (PLAN_CHANGES_SQL), checks the mass-delete guard (MassDeleteError: nothing
 * is written), applies and logs it (APPLY_CHANGES_SQL; a dry run writes no
 * customer), and saves the rejected records. Counts are exact.
 */
export async function mergeStaging(
  client: PoolClient,
  runId: number | null,
  opts: ChangeOptions = {},
): Promise<MergeCounts & { rejected: number; deleted: number }> {
  if (opts.retentionDays !== undefined) await pruneChangeSets(client, opts.retentionDays);
  const plan = await planChanges(client, PLAN_CHANGES_SQL, [opts.deleteMissing === true]);
  if (plan.deleted > 0 && !opts.allowMassDelete) {
    const maxPercent = opts.deleteMaxPercent ?? 10;
    const emptySource = opts.sourceRecords === 0;
    if (emptySource || plan.deleted * 100 > maxPercent * plan.stored) {
      throw new MassDeleteError(plan.deleted, plan.stored, maxPercent, emptySource);
    }
  }
  const r = await applyChanges(client, runId, plan, opts.dryRun === true);
  const rejected = runId === null ? 0 : (await client.query(SAVE_REJECTED_SQL, [runId])).rowCount ?? 0;
  return {
    distinctIds: plan.distinct_ids,
    inserted: r.inserted,
    updated: r.updated,
    deleted: r.deleted,
    unchanged: plan.distinct_ids - r.inserted - r.updated,
    rejected,
  };
}
