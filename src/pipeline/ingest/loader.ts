// The loader: knows SQL, not HTTP. Streams a run's records with COPY into a
// temporary chunk table; every INGEST_CHUNK_ROWS rows the chunk is classified
// against `customers` (unchanged, or new/changed and kept) while the next
// pages are still being fetched; at the end one set-based statement merges
// what changed. Rejected records travel in the same stream (with their
// payload and reasons) so that no page is ever held back in memory.
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
 * and MERGE_SQL's update checks again that each row it writes changes.
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

/**
 * The merge, in one statement: the last record of each id wins; when it
 * leaves its row as it is, nothing is written (no new row version); new ids
 * are inserted; for known ids a null in the source keeps the stored value.
 * Counts are exact. The update checks again that the row changes, so a row is
 * never written for nothing.
 */
export const MERGE_SQL = `
WITH last AS MATERIALIZED (
  SELECT DISTINCT ON (customer_id) customer_id, page, pos, same
  FROM ${KEYS_TABLE}
  ORDER BY customer_id, page DESC, pos DESC
),
src AS MATERIALIZED (
  SELECT r.customer_id, r.first_name, r.last_name, r.email, r.phone, r.address,
         r.date_of_birth, r.account_balance, r.created_at
  FROM last JOIN ${ROWS_TABLE} AS r ON r.page = last.page AND r.pos = last.pos
  WHERE NOT last.same
),
updated AS (
  UPDATE customers AS c SET
    first_name      = s.first_name,
    last_name       = s.last_name,
    email           = s.email,
    phone           = COALESCE(s.phone, c.phone),
    address         = COALESCE(s.address, c.address),
    date_of_birth   = COALESCE(s.date_of_birth, c.date_of_birth),
    account_balance = COALESCE(s.account_balance, c.account_balance),
    created_at      = COALESCE(s.created_at, c.created_at)
  FROM src AS s
  WHERE c.customer_id = s.customer_id
    AND (${MERGED}) IS DISTINCT FROM (${STORED})
  RETURNING 1
),
inserted AS (
  INSERT INTO customers (customer_id, ${DATA_COLUMNS})
  SELECT s.customer_id, s.first_name, s.last_name, s.email, s.phone, s.address,
         s.date_of_birth, s.account_balance, s.created_at
  FROM src AS s
  WHERE NOT EXISTS (SELECT 1 FROM customers AS c WHERE c.customer_id = s.customer_id)
  RETURNING 1
)
SELECT (SELECT count(*) FROM last)::int     AS distinct_ids,
       (SELECT count(*) FROM inserted)::int AS inserted,
       (SELECT count(*) FROM updated)::int  AS updated`;

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
    if (this.failure) throw this.failure;
    if (rows.length === 0) return;
    this.pending.push({ rows, records });
    this.pendingBytes += rows.length;
    this.wakeDrainer?.();
    while (this.pendingBytes >= BUFFER_BYTES && !this.failure) {
      await new Promise<void>((resolve) => this.roomWaiters.push(resolve));
    }
    if (this.failure) throw this.failure;
  }

  /** Ends the last chunk's COPY and classifies it: the run's records are all staged. */
  async finish(): Promise<void> {
    if (this.failure) throw this.failure;
    this.closed = true;
    this.wakeDrainer?.();
    await this.drainer;
    if (this.failure) throw this.failure;
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
      if (this.failure) throw this.failure;
      await this.client.query(CLASSIFY_CHUNK_SQL);
    }
  }
}

/** Runs the merge over a finished staging; counts are exact. */
export async function mergeStaging(client: PoolClient, runId: number | null): Promise<MergeCounts & { rejected: number }> {
  const { rows } = await client.query<{ distinct_ids: number; inserted: number; updated: number }>(MERGE_SQL);
  const r = rows[0]!;
  const rejected = runId === null ? 0 : (await client.query(SAVE_REJECTED_SQL, [runId])).rowCount ?? 0;
  return {
    distinctIds: r.distinct_ids,
    inserted: r.inserted,
    updated: r.updated,
    unchanged: r.distinct_ids - r.inserted - r.updated,
    rejected,
  };
}
