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
