// The loader: knows SQL, not HTTP. Streams a run's records with COPY into a
// temporary chunk table; every INGEST_CHUNK_ROWS rows the chunk is classified
// against `customers` (unchanged, or new/changed and kept) while the next
// pages are still being fetched; at the end one set-based statement merges
// what changed. Rejected records travel in the same stream (with their
// payload and reasons) so that no page is ever held back in memory.
import type { PoolClient } from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import type { ValidCustomer } from '../customer.js';
import { FIELD_TABLE, FIELDS, KEY_FIELD, stagingType, type Field, type FieldSpec } from '../fields.js';

/** What COPY fills: one chunk of the run's records, valid and rejected. */
export const CHUNK_TABLE = 'ingest_chunk';
/** Every valid record's id and place, and whether it leaves its stored row as it is. */
export const KEYS_TABLE = 'ingest_keys';
/** The records that matter to the merge: valid ones that are new or change their row, and rejected ones. */
export const ROWS_TABLE = 'ingest_rows';

/** A staged record: its place, its fields (fields.ts), and for a rejected one its payload and reasons. */
export const ROW_COLUMNS = `
  page     integer NOT NULL,
  pos      integer NOT NULL,
  ${FIELD_TABLE.map((f) => `${f.name} ${stagingType(f)}`).join(',\n  ')},
  payload  text,
  reasons  text[]`;

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

/** The fields past the key, in the table's order: what a merge writes, and the attributes of customer_image. */
const DATA_FIELDS = FIELD_TABLE.filter((f) => f.name !== KEY_FIELD);
const DATA_COLUMNS = DATA_FIELDS.map((f) => f.name).join(', ');

/** The value a staged record `s` leaves in field f of its stored row `c`: a null in the source keeps the stored value where the field says so. */
const merged = (f: FieldSpec) => (f.nullKeepsStored ? `COALESCE(s.${f.name}, c.${f.name})` : `s.${f.name}`);
const MERGED = DATA_FIELDS.map(merged).join(', ');
const STORED = DATA_FIELDS.map((f) => `c.${f.name}`).join(', ');

/**
 * One chunk: each valid record is looked up in `customers` by its primary key
 * (LATERAL … LIMIT 1: an index probe per record, whatever the table's size,
 * never a scan of it per chunk); its key goes to KEYS_TABLE with `same` when
 * it would leave its stored row as it is, and the record itself to
 * ROWS_TABLE only when it would not (or is rejected). Then the chunk table is
 * emptied for the next COPY. What a chunk saw still holds at the merge:
 * `customers` is written only by ingests, one at a time (the advisory lock),
 * and INGEST_CHANGES_SQL compares each kept record with its stored row again.
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

/** The fields of a change's images, in the order of customer_image: bit i of `fields` is CHANGE_FIELDS[i]. */
export const CHANGE_FIELDS: Exclude<Field, typeof KEY_FIELD>[] = DATA_FIELDS.map((f) => f.name);
export type ChangeField = (typeof CHANGE_FIELDS)[number];

const list = (col: (f: ChangeField) => string) => CHANGE_FIELDS.map(col).join(', ');
const image = (col: (f: ChangeField) => string) => `ROW(${list(col)})::customer_image`;
/** The bit mask of the fields whose values differ (a missing image is all nulls). */
const diffMask = (a: (f: ChangeField) => string, b: (f: ChangeField) => string) =>
  `(${CHANGE_FIELDS.map((f, i) => `CASE WHEN ${a(f)} IS DISTINCT FROM ${b(f)} THEN ${1 << i} ELSE 0 END`).join(' + ')})::smallint`;

/*
 * A change set is planned by CTEs that end in `planned` — one row per
 * customer the run changes: customer_id, change ('i' | 'u' | 'd'), fields
 * (the mask), before (the stored row, for 'u' and 'd') and a_<field> (the
 * values it leaves, for 'i' and 'u') — and `ids` (distinct ids the run read).
 * They read `customers` only; changeSetSql() then applies and logs the plan
 * in the same statement (so the plan sees the rows as they were before it).
 */

/**
 * An ingest's change set, from the staged records against `customers`: the
 * last record of each id wins; a new id is an insert; for a known id a null
 * in the source keeps the stored value, and a record that leaves its row as
 * it is is no change. With $6 (delete_missing), every stored id the run did
 * not see is a delete — not the id of a record that was rejected, which the
 * source did return.
 */
const PLAN_INGEST = `
last AS MATERIALIZED (
  SELECT DISTINCT ON (customer_id) customer_id, page, pos, same
  FROM ${KEYS_TABLE}
  ORDER BY customer_id, page DESC, pos DESC
),
ids AS (SELECT count(*)::int AS n FROM last),
m AS (
  SELECT s.customer_id, c.customer_id IS NOT NULL AS stored,
         ${list((f) => `c.${f} AS c_${f}`)},
         ${DATA_FIELDS.map((f) => `${merged(f)} AS a_${f.name}`).join(', ')}
  FROM last
  JOIN ${ROWS_TABLE} AS s ON s.page = last.page AND s.pos = last.pos
  LEFT JOIN customers AS c ON c.customer_id = s.customer_id
  WHERE NOT last.same
),
planned AS MATERIALIZED (
  SELECT customer_id, CASE WHEN stored THEN 'u' ELSE 'i' END::"char" AS change,
         ${diffMask(
           (f) => `c_${f}`,
           (f) => `a_${f}`,
         )} AS fields,
         CASE WHEN stored THEN ${image((f) => `c_${f}`)} END AS before,
         ${list((f) => `a_${f}`)}
  FROM m
  WHERE NOT stored OR (${list((f) => `c_${f}`)}) IS DISTINCT FROM (${list((f) => `a_${f}`)})
  UNION ALL
  SELECT c.customer_id, 'd'::"char", ${diffMask(
    (f) => `c.${f}`,
    () => 'NULL',
  )}, ${image((f) => `c.${f}`)},
         ${list(() => 'NULL')}
  FROM customers AS c
  WHERE $6::boolean
    AND NOT EXISTS (SELECT 1 FROM last WHERE last.customer_id = c.customer_id)
    AND NOT EXISTS (SELECT 1 FROM ${ROWS_TABLE} AS r WHERE r.reasons IS NOT NULL AND r.customer_id = c.customer_id)
)`;

/**
 * The change set that undoes run $6: each customer it changed is set back
 * to its before-image (a row it inserted is deleted, a row it deleted comes
 * back), against the rows as they are now; a customer already as it was is
 * no change. Only valid when each is still as the run left it
 * (REVERT_CONFLICTS_SQL in changes-repository.ts).
 */
const PLAN_REVERT = `
ids AS (SELECT 0 AS n),
r AS (
  SELECT x.customer_id, x.before AS target, c.customer_id IS NOT NULL AS stored,
         ${list((f) => `c.${f} AS c_${f}`)}
  FROM customer_changes AS x
  LEFT JOIN customers AS c ON c.customer_id = x.customer_id
  WHERE x.run_id = $6::bigint
),
planned AS MATERIALIZED (
  SELECT customer_id,
         CASE WHEN NOT stored THEN 'i' WHEN target IS NULL THEN 'd' ELSE 'u' END::"char" AS change,
         ${diffMask(
           (f) => `c_${f}`,
           (f) => `(target).${f}`,
         )} AS fields,
         CASE WHEN stored THEN ${image((f) => `c_${f}`)} END AS before,
         ${list((f) => `(target).${f} AS a_${f}`)}
  FROM r
  WHERE (CASE WHEN stored THEN ${image((f) => `c_${f}`)} END) IS DISTINCT FROM target
)`;

/**
 * Plans a change set (`plan`: PLAN_INGEST or PLAN_REVERT), checks the
 * mass-delete guard, applies it to `customers` and logs it as run $1's — in
 * one statement. Parameters: $1 run id (null: no log, the bench floor),
 * $2 dry run, $3 allow_mass_delete, $4 INGEST_DELETE_MAX_PERCENT, $5 the
 * source returned no record, $6 the plan's own.
 *
 * The guard: a plan that deletes more than $4 % of the stored rows, or any
 * from an empty source, is applied only with $3; refused, nothing is written
 * (`ok` false). A dry run ($2) writes no customer at all (not one row
 * version) and logs the after-images, which are nowhere else; otherwise the
 * log keeps only the before-images (an after-image is the next change's
 * before-image, or the current row). The counts are the plan's: a dry run
 * counts what the real run does, by construction.
 */
const changeSetSql = (plan: string) => `
WITH ${plan.trimStart()},
counts AS (
  SELECT count(*) FILTER (WHERE change = 'i')::int AS inserted,
         count(*) FILTER (WHERE change = 'u')::int AS updated,
         count(*) FILTER (WHERE change = 'd')::int AS deleted,
         (SELECT n FROM customers_count)::int AS stored
  FROM planned
),
go AS (
  SELECT $3::boolean OR deleted = 0 OR (NOT $5::boolean AND deleted * 100 <= $4::int * stored) AS ok FROM counts
),
upd AS (
  UPDATE customers AS c SET
    ${CHANGE_FIELDS.map((f) => `${f} = p.a_${f}`).join(',\n    ')}
  FROM planned AS p
  WHERE (SELECT ok FROM go) AND NOT $2::boolean AND p.change = 'u' AND c.customer_id = p.customer_id
  RETURNING 1
),
ins AS (
  INSERT INTO customers (customer_id, ${DATA_COLUMNS})
  SELECT p.customer_id, ${list((f) => `p.a_${f}`)}
  FROM planned AS p
  WHERE (SELECT ok FROM go) AND NOT $2::boolean AND p.change = 'i'
  RETURNING 1
),
del AS (
  DELETE FROM customers AS c USING planned AS p
  WHERE (SELECT ok FROM go) AND NOT $2::boolean AND p.change = 'd' AND c.customer_id = p.customer_id
  RETURNING 1
),
logged AS (
  INSERT INTO customer_changes (run_id, fields, change, dry_run, customer_id, before, after)
  SELECT $1::bigint, p.fields, p.change, $2::boolean, p.customer_id, p.before,
         CASE WHEN $2::boolean AND p.change <> 'd' THEN ${image((f) => `p.a_${f}`)} END
  FROM planned AS p
  WHERE (SELECT ok FROM go) AND $1::bigint IS NOT NULL
)
SELECT (SELECT n FROM ids) AS distinct_ids, k.inserted, k.updated, k.deleted, k.stored, (SELECT ok FROM go) AS ok,
       (SELECT count(*) FROM ins)::int AS applied_inserted,
       (SELECT count(*) FROM upd)::int AS applied_updated,
       (SELECT count(*) FROM del)::int AS applied_deleted
FROM counts AS k`;

/** An ingest's change set, planned, guarded, applied and logged (changeSetSql over PLAN_INGEST). */
export const INGEST_CHANGES_SQL = changeSetSql(PLAN_INGEST);
/** A revert's change set (changeSetSql over PLAN_REVERT; never guarded, never dry). */
export const REVERT_CHANGES_SQL = changeSetSql(PLAN_REVERT);

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

/** A valid record's staging row: its place, its fields in the table's order, no payload or reasons. */
export function stagingRow(page: number, pos: number, c: ValidCustomer): string {
  let row = `${page}\t${pos}`;
  for (const f of FIELDS) row += `\t${copyText(c[f])}`;
  return `${row}\t\\N\t\\N\n`;
}

/** The data fields of a rejected record's row: all null (only its id, if readable, is kept). */
const NO_DATA = '\t\\N'.repeat(FIELDS.length - 1);

export function rejectedRow(page: number, pos: number, customerId: string | null, payload: string, reasons: string[]): string {
  const id = customerId !== null && customerId.isWellFormed() && !customerId.includes('\u0000') ? customerId : null;
  return `${page}\t${pos}\t${copyText(id)}${NO_DATA}\t` + `${copyText(payload)}\t${copyText(arrayLiteral(reasons))}\n`;
}

export interface MergeCounts {
  distinctIds: number;
  inserted: number;
  updated: number;
  unchanged: number;
}

/**
 * Bytes of COPY text held in memory before write() waits: rows keep arriving
 * while a chunk is being classified, up to this much.
 */
const BUFFER_BYTES = 8 * 1024 * 1024;

/** Resolves when `stream` can take more; rejects when it fails first. */
function drained(stream: ReturnType<typeof copyFrom>): Promise<void> {
  if (stream.destroyed) return Promise.reject(stream.errored ?? new Error('COPY stream closed'));
  return new Promise((resolve, reject) => {
    const done = (err?: Error) => {
      stream.off('drain', onDrain);
      stream.off('error', done);
      if (err) reject(err);
      else resolve();
    };
    const onDrain = () => done();
    stream.on('drain', onDrain);
    stream.on('error', done);
  });
}

/**
 * Ends `stream` and resolves once the server has the whole COPY and the
 * connection is ready for the next statement ('finish' comes with
 * ReadyForQuery); rejects when it fails.
 */
function ended(stream: ReturnType<typeof copyFrom>): Promise<void> {
  if (stream.destroyed) return Promise.reject(stream.errored ?? new Error('COPY stream closed'));
  return new Promise((resolve, reject) => {
    const fail = (err: Error) => {
      stream.off('finish', finish);
      reject(err);
    };
    const finish = () => {
      stream.off('error', fail);
      resolve();
    };
    stream.once('error', fail);
    stream.once('finish', finish);
    stream.end();
  });
}

interface Pending {
  rows: Uint8Array;
  records: number;
}

/**
 * The COPY of one run, a chunk at a time, one statement at a time on the
 * connection: a chunk's COPY takes rows until it holds `chunkRows`, is ended
 * and awaited, then the chunk is classified (awaited), and only then does
 * the next chunk's COPY start. Meanwhile write() goes on taking rows into a
 * buffer (BUFFER_BYTES at most before it waits), so the fetch overlaps the
 * classification.
 */
export class StagingWriter {
  private pending: Pending[] = [];
  private pendingBytes = 0;
  /** Set when the rows are all written (finish) or the run is stopped (abort). */
  private closed = false;
  private failure: Error | null = null;

  /** The first failure of a COPY or a classification, thrown to the writer. */
  private throwIfFailed(): void {
    if (this.failure) throw this.failure;
  }
  /** The drainer, when it waits for rows. */
  private wakeDrainer: (() => void) | null = null;
  /** Writers waiting for room in the buffer. */
  private roomWaiters: (() => void)[] = [];
  private readonly drainer: Promise<void>;

  private constructor(
    private readonly client: PoolClient,
    private readonly chunkRows: number,
  ) {
    this.drainer = this.drain().catch((err: Error) => {
      this.failure ??= err;
      this.pending = [];
      this.pendingBytes = 0;
      this.wakeWriters();
    });
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

  /** Writes `records` rows (COPY text as UTF-8 bytes); resolves when the buffer can take more. */
  async write(rows: Uint8Array, records: number): Promise<void> {
    this.throwIfFailed();
    if (rows.length === 0) return;
    this.pending.push({ rows, records });
    this.pendingBytes += rows.length;
    this.wakeDrainer?.();
    while (this.pendingBytes >= BUFFER_BYTES && !this.failure) {
      await new Promise<void>((resolve) => this.roomWaiters.push(resolve));
    }
    this.throwIfFailed();
  }

  /** Ends the last chunk's COPY and classifies it: the run's records are all staged. */
  async finish(): Promise<void> {
    this.throwIfFailed();
    this.closed = true;
    this.wakeDrainer?.();
    await this.drainer;
    this.throwIfFailed();
  }

  /**
   * Stops the run's staging: the rows not yet sent are dropped, a COPY in
   * progress is ended (its rows go with the transaction's ROLLBACK), no other
   * statement is started. Resolves once the connection runs nothing of the
   * writer's, so that the caller's next statement (ROLLBACK) is the only one
   * on it; never rejects.
   */
  async abort(): Promise<void> {
    this.failure ??= new Error('ingest aborted');
    this.closed = true;
    this.pending = [];
    this.pendingBytes = 0;
    this.wakeDrainer?.();
    this.wakeWriters();
    await this.drainer;
  }

  private wakeWriters(): void {
    const waiting = this.roomWaiters;
    this.roomWaiters = [];
    for (const w of waiting) w();
  }

  /** The next rows to stage, or null once the writer is closed and they are all out. */
  private async next(): Promise<Pending | null> {
    while (this.pending.length === 0) {
      if (this.closed || this.failure) return null;
      await new Promise<void>((resolve) => (this.wakeDrainer = resolve));
      this.wakeDrainer = null;
    }
    if (this.failure) return null;
    const item = this.pending.shift()!;
    this.pendingBytes -= item.rows.length;
    if (this.pendingBytes < BUFFER_BYTES) this.wakeWriters();
    return item;
  }

  /**
   * Chunk after chunk: its COPY, ended and awaited (even when the run is
   * being stopped: a COPY begun is always ended), then its classification,
   * awaited.
   */
  private async drain(): Promise<void> {
    for (let item = await this.next(); item; item = await this.next()) {
      const copy = this.client.query(copyFrom(COPY_CHUNK_SQL));
      // A failure surfaces through the awaits; this listener keeps one that
      // comes between them from being an unhandled 'error'.
      copy.on('error', (err: Error) => (this.failure ??= err));
      let rows = 0;
      for (;;) {
        rows += item.records;
        if (!copy.write(item.rows)) await drained(copy);
        if (rows >= this.chunkRows) break;
        const more = await this.next();
        if (!more) break;
        item = more;
      }
      await ended(copy);
      this.throwIfFailed();
      await this.client.query(CLASSIFY_CHUNK_SQL);
    }
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

/** Deletes the change sets past retention (their runs stay, marked); the number of runs pruned. */
export async function pruneChangeSets(client: Pick<PoolClient, 'query'>, retentionDays: number): Promise<number> {
  const { rows } = await client.query<{ runs: number }>(PRUNE_CHANGES_SQL, [retentionDays]);
  return rows[0]!.runs;
}

interface ChangeSetRow extends ChangeCounts {
  distinct_ids: number;
  stored: number;
  ok: boolean;
  applied_inserted: number;
  applied_updated: number;
  applied_deleted: number;
}

/**
 * Runs INGEST_CHANGES_SQL or REVERT_CHANGES_SQL: the change set planned,
 * guarded, applied (unless a dry run) and logged as run `runId`'s. Throws
 * MassDeleteError when the guard refused it (then nothing was written).
 */
export async function applyChangeSet(
  client: PoolClient,
  sql: string,
  runId: number | null,
  opts: { dryRun?: boolean; allowMassDelete?: boolean; deleteMaxPercent?: number; sourceEmpty?: boolean; planParam: unknown },
): Promise<ChangeCounts & { distinctIds: number }> {
  const maxPercent = opts.deleteMaxPercent ?? 10;
  const dryRun = opts.dryRun === true;
  const { rows } = await client.query<ChangeSetRow>(sql, [
    runId,
    dryRun,
    opts.allowMassDelete === true,
    maxPercent,
    opts.sourceEmpty === true,
    opts.planParam,
  ]);
  const r = rows[0]!;
  if (!r.ok) throw new MassDeleteError(r.deleted, r.stored, maxPercent, opts.sourceEmpty === true);
  if (!dryRun && (r.applied_inserted !== r.inserted || r.applied_updated !== r.updated || r.applied_deleted !== r.deleted)) {
    // Cannot happen while only ingests and reverts write `customers`, under the lock.
    throw new Error(`the change set applied differs from its plan: ${JSON.stringify(r)}`);
  }
  return { distinctIds: r.distinct_ids, inserted: r.inserted, updated: r.updated, deleted: r.deleted };
}

/**
 * Runs the merge over a finished staging: the run's change set planned,
 * checked by the mass-delete guard (MassDeleteError: nothing is written),
 * applied and logged (INGEST_CHANGES_SQL; a dry run writes no customer),
 * then the rejected records saved. Counts are exact.
 */
export async function mergeStaging(
  client: PoolClient,
  runId: number | null,
  opts: ChangeOptions = {},
): Promise<MergeCounts & { rejected: number; deleted: number }> {
  if (opts.retentionDays !== undefined) await pruneChangeSets(client, opts.retentionDays);
  const r = await applyChangeSet(client, INGEST_CHANGES_SQL, runId, {
    dryRun: opts.dryRun,
    allowMassDelete: opts.allowMassDelete,
    deleteMaxPercent: opts.deleteMaxPercent,
    sourceEmpty: opts.sourceRecords === 0,
    planParam: opts.deleteMissing === true,
  });
  const rejected = runId === null ? 0 : ((await client.query(SAVE_REJECTED_SQL, [runId])).rowCount ?? 0);
  return {
    distinctIds: r.distinctIds,
    inserted: r.inserted,
    updated: r.updated,
    deleted: r.deleted,
    unchanged: r.distinctIds - r.inserted - r.updated,
    rejected,
  };
}
