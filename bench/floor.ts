// The floors. Two are PostgreSQL's own plain COPY + INSERT ... ON CONFLICT
// (runPlainFloor): into a table with only its primary key (bare), and into
// `customers` with its indexes (same schema). The third is the product's
// own loader without the pipeline (runFloor, a diagnostic of the overhead):
// PostgreSQL's own work for the same rows, through the product's
// loader (StagingWriter: COPY into the chunk table and each chunk's
// classification against `customers`, with the default INGEST_CHUNK_ROWS and
// INGEST_WORK_MEM as the ingest has them; then mergeStaging: the change set,
// applied to customers and logged in the change log as a run's), in
// one transaction, with the COPY text prepared before the clock starts. Only
// database work is timed: no HTTP, no JSON, no validation.
import { once } from 'node:events';
import type pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { validateCustomer } from '../src/core/customer.js';
import { ROW_COLUMNS, StagingWriter, mergeStaging, stagingRow, type MergeCounts } from '../src/core/ingest/loader.js';
import { FIELD_TABLE, KEY_FIELD } from '../src/core/fields.js';
import { loadConfig } from '../src/core/config.js';
import { PAGE_SIZE, benchRecord } from './variants.js';

/** One source page's COPY text, as the pipeline stages it. */
export interface CopyPage {
  rows: Buffer;
  records: number;
}

/**
 * The COPY text the pipeline would stream for `size` records of `version`:
 * one chunk per source page, each record through the same JSON round trip,
 * validator and stagingRow as in the product (page-scan.ts is held
 * byte-identical to them).
 */
export function prepareCopyText(size: number, version: number): CopyPage[] {
  const pages: CopyPage[] = [];
  for (let start = 0; start < size; start += PAGE_SIZE) {
    const page = start / PAGE_SIZE + 1;
    let text = '';
    const end = Math.min(size, start + PAGE_SIZE);
    for (let i = start; i < end; i++) {
      const v = validateCustomer(JSON.parse(JSON.stringify(benchRecord(i, version))));
      if (!v.ok) throw new Error(`bench record ${i} is invalid: ${v.reasons.join('; ')}`);
      text += stagingRow(page, i - start, v.value);
    }
    pages.push({ rows: Buffer.from(text), records: end - start });
  }
  return pages;
}

export interface FloorResult {
  seconds: number;
  /** Of which: staging (COPY and the chunks' classification), and the merge (mergeStaging). */
  stageSeconds: number;
  mergeSeconds: number;
  counts: MergeCounts;
}

/**
 * One timed transaction of a floor: BEGIN, the statement timeout lifted (as
 * the ingest does: the pool's is for reads, and a busy machine takes longer
 * than it to merge), `work`, then COMMIT (timed: the ingest commits too) or
 * ROLLBACK (untimed: the state stays as it was). `mark()` returns the seconds
 * since the start, for the work's own phases.
 */
async function timedTransaction<T>(
  pool: pg.Pool,
  end: 'commit' | 'rollback',
  work: (client: pg.PoolClient, mark: () => number) => Promise<T>,
): Promise<T & { seconds: number }> {
  const client = await pool.connect();
  let failed = false;
  try {
    const t0 = performance.now();
    const mark = () => (performance.now() - t0) / 1000;
    await client.query('BEGIN');
    await client.query(`SELECT set_config('statement_timeout', '0', true)`);
    const result = await work(client, mark);
    if (end === 'commit') await client.query('COMMIT');
    const seconds = mark();
    if (end === 'rollback') await client.query('ROLLBACK');
    // Flush this session's statistics now, so that they do not land in the
    // window in which the next ingest's row writes are counted.
    await client.query('SELECT pg_stat_force_next_flush()');
    return { ...result, seconds };
  } catch (err) {
    failed = true;
    await client.query('ROLLBACK').catch(() => {});
    throw err;
  } finally {
    client.release(failed);
  }
}

/** The product's loader without the pipeline: stage every page, then mergeStaging (with its change log). */
export async function runFloor(pool: pg.Pool, pages: CopyPage[], end: 'commit' | 'rollback'): Promise<FloorResult> {
  const config = loadConfig({});
  return timedTransaction(pool, end, async (client, mark) => {
    const writer = await StagingWriter.open(client, { workMem: config.ingest.workMem, chunkRows: config.ingest.chunkRows });
    for (const p of pages) await writer.write(p.rows, p.records);
    await writer.finish();
    const stageSeconds = mark();
    // A run of its own, as the ingest's change log needs one (rolled back with the rest, or committed).
    const run = await client.query<{ id: number }>(
      `INSERT INTO ingestion_runs (source_url) VALUES ('bench floor') RETURNING id::int AS id`,
    );
    const counts = await mergeStaging(client, run.rows[0]!.id);
    return { stageSeconds, mergeSeconds: mark() - stageSeconds, counts };
  });
}

/** The table of the bare floor: the customers' columns with only their primary key, no index, no trigger. */
export const BARE_TABLE = 'bare_customers';

// The record's columns, from the field table (the key first).
const DATA_FIELDS = FIELD_TABLE.filter((f) => f.name !== KEY_FIELD).map((f) => f.name);
const DATA = DATA_FIELDS.join(', ');
const EXCLUDED = DATA_FIELDS.map((c) => `${c} = EXCLUDED.${c}`).join(', ');
const OLD = DATA_FIELDS.map((c) => `t.${c}`).join(', ');
const NEW = DATA_FIELDS.map((c) => `EXCLUDED.${c}`).join(', ');
const BARE_COLUMNS = FIELD_TABLE.map(
  (f) => `${f.name} ${f.column}${f.name === KEY_FIELD ? ' PRIMARY KEY' : f.required ? ' NOT NULL' : ''}`,
).join(', ');

export async function createBareTable(pool: pg.Pool): Promise<void> {
  await pool.query(`CREATE TABLE IF NOT EXISTS ${BARE_TABLE} (${BARE_COLUMNS})`);
}

/**
 * PostgreSQL's own plain load, what a user would write by hand and compare
 * with: COPY the rows into a temporary table, then one INSERT ... ON CONFLICT
 * DO UPDATE ... WHERE ... IS DISTINCT FROM (an unchanged row is not written),
 * in one transaction. Into `bare_customers` (only its primary key: the bare
 * floor) or into `customers` itself, with every query index and trigger the
 * product has (the same-schema floor). The same COPY text (into a table of
 * the staging's columns) as the ingest streams; the same work_mem.
 */
export async function runPlainFloor(
  pool: pg.Pool,
  pages: CopyPage[],
  table: typeof BARE_TABLE | 'customers',
  end: 'commit' | 'rollback',
): Promise<{ seconds: number; copySeconds: number; mergeSeconds: number; written: number }> {
  const config = loadConfig({});
  return timedTransaction(pool, end, async (client, mark) => {
    await client.query(`SELECT set_config('work_mem', $1, true)`, [config.ingest.workMem]);
    await client.query(`CREATE TEMP TABLE floor_in (${ROW_COLUMNS}) ON COMMIT DROP`);
    const copy = client.query(copyFrom('COPY floor_in FROM STDIN'));
    for (const p of pages) if (!copy.write(p.rows)) await once(copy, 'drain');
    const done = once(copy, 'finish');
    copy.end();
    await done;
    const copySeconds = mark();
    const { rowCount } = await client.query(
      `INSERT INTO ${table} AS t (customer_id, ${DATA})
       SELECT customer_id, ${DATA} FROM floor_in
       ON CONFLICT (customer_id) DO UPDATE SET ${EXCLUDED}
       WHERE (${OLD}) IS DISTINCT FROM (${NEW})`,
    );
    return { copySeconds, mergeSeconds: mark() - copySeconds, written: rowCount ?? 0 };
  });
}
