// The loader: knows SQL, not HTTP. Streams a run's records into a temporary
// staging table with COPY, then merges them into `customers` with one
// set-based statement. Rejected records travel in the same stream (with their
// payload and reasons) so that no page is ever held back in memory.
import { once } from 'node:events';
import type { PoolClient } from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import type { ValidCustomer } from '../../customer.js';

export const STAGING_TABLE = 'ingest_staging';

export const CREATE_STAGING_SQL = `
CREATE TEMP TABLE ${STAGING_TABLE} (
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
  reasons         text[]
) ON COMMIT DROP`;

export const COPY_STAGING_SQL = `COPY ${STAGING_TABLE} FROM STDIN`;

/**
 * The merge, in one statement: the last record of each id wins; new ids are
 * inserted; for known ids a null in the source keeps the stored value; a row
 * whose values would not change is not written at all (no new row version).
 */
export const MERGE_SQL = `
WITH src AS MATERIALIZED (
  SELECT DISTINCT ON (customer_id)
         customer_id, first_name, last_name, email, phone, address,
         date_of_birth, account_balance, created_at
  FROM ${STAGING_TABLE}
  WHERE reasons IS NULL
  ORDER BY customer_id, page DESC, pos DESC
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
    AND (s.first_name, s.last_name, s.email,
         COALESCE(s.phone, c.phone), COALESCE(s.address, c.address),
         COALESCE(s.date_of_birth, c.date_of_birth), COALESCE(s.account_balance, c.account_balance),
         COALESCE(s.created_at, c.created_at))
        IS DISTINCT FROM
        (c.first_name, c.last_name, c.email, c.phone, c.address,
         c.date_of_birth, c.account_balance, c.created_at)
  RETURNING 1
),
inserted AS (
  INSERT INTO customers (customer_id, first_name, last_name, email, phone, address,
                         date_of_birth, account_balance, created_at)
  SELECT s.customer_id, s.first_name, s.last_name, s.email, s.phone, s.address,
         s.date_of_birth, s.account_balance, s.created_at
  FROM src AS s
  WHERE NOT EXISTS (SELECT 1 FROM customers AS c WHERE c.customer_id = s.customer_id)
  RETURNING 1
)
SELECT (SELECT count(*) FROM src)::int      AS distinct_ids,
       (SELECT count(*) FROM inserted)::int AS inserted,
       (SELECT count(*) FROM updated)::int  AS updated`;

export const SAVE_REJECTED_SQL = `
INSERT INTO rejected_records (run_id, page, position, customer_id, payload, reasons)
SELECT $1, page, pos, customer_id, payload, reasons
FROM ${STAGING_TABLE} WHERE reasons IS NOT NULL
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

/** A COPY into the staging table, open for the length of one run. */
export class StagingWriter {
  private readonly stream: ReturnType<typeof copyFrom>;
  private failure: Error | null = null;

  private constructor(client: PoolClient) {
    this.stream = client.query(copyFrom(COPY_STAGING_SQL));
    this.stream.on('error', (err: Error) => {
      this.failure ??= err;
    });
  }

  static async open(client: PoolClient): Promise<StagingWriter> {
    await client.query(CREATE_STAGING_SQL);
    return new StagingWriter(client);
  }

  get error(): Error | null {
    return this.failure;
  }

  /** Writes rows (COPY text as UTF-8 bytes); resolves when the stream can take more. */
  async write(rows: Uint8Array): Promise<void> {
    if (this.failure) throw this.failure;
    if (rows.length === 0) return;
    if (!this.stream.write(rows)) {
      await Promise.race([once(this.stream, 'drain'), once(this.stream, 'error').then(([e]) => Promise.reject(e))]);
    }
  }

  async finish(): Promise<void> {
    if (this.failure) throw this.failure;
    const done = once(this.stream, 'finish');
    this.stream.end();
    await done;
  }

  /** Ends the COPY with an error so that the server discards what it has. */
  abort(): void {
    if (!this.stream.destroyed) this.stream.destroy(new Error('ingest aborted'));
  }
}

/**
 * Runs the merge over a finished staging table; counts are exact. `workMem`
 * (INGEST_WORK_MEM) is set for the rest of the transaction only: with the
 * server's default (4MB) the merge of 200,000 rows sorts and hashes on disk.
 */
export async function mergeStaging(
  client: PoolClient,
  runId: number | null,
  workMem: string,
): Promise<MergeCounts & { rejected: number }> {
  await client.query(`SELECT set_config('work_mem', $1, true)`, [workMem]);
  // Temporary tables are never analysed by autovacuum: give the planner real numbers.
  await client.query(`ANALYZE ${STAGING_TABLE}`);
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
