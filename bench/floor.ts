// The floor: PostgreSQL's own COPY of the same rows into the product's
// staging table, then the product's merge (mergeStaging: ANALYZE + MERGE_SQL, with
// the default INGEST_WORK_MEM as the ingest has it),
// in one transaction, with the COPY text prepared before the clock starts.
// Only database work is timed.
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { validateCustomer } from '../src/customer.js';
import { COPY_STAGING_SQL, CREATE_STAGING_SQL, mergeStaging, stagingRow, type MergeCounts } from '../src/pipeline/ingest/loader.js';
import { loadConfig } from '../src/config.js';
import { PAGE_SIZE, benchRecord } from './variants.js';

/**
 * The COPY text the pipeline would stream for `size` records of `version`:
 * one chunk per source page, each record through the same JSON round trip,
 * validator and stagingRow as in the product.
 */
export function prepareCopyText(size: number, version: number): string[] {
  const chunks: string[] = [];
  for (let start = 0; start < size; start += PAGE_SIZE) {
    const page = start / PAGE_SIZE + 1;
    let text = '';
    for (let i = start; i < Math.min(size, start + PAGE_SIZE); i++) {
      const v = validateCustomer(JSON.parse(JSON.stringify(benchRecord(i, version))));
      if (!v.ok) throw new Error(`bench record ${i} is invalid: ${v.reasons.join('; ')}`);
      text += stagingRow(page, i - start, v.value);
    }
    chunks.push(text);
  }
  return chunks;
}

export interface FloorResult {
  seconds: number;
  /** Of which: the COPY, and mergeStaging (ANALYZE + MERGE_SQL). */
  copySeconds: number;
  mergeSeconds: number;
  counts: MergeCounts;
}

/**
 * BEGIN; CREATE TEMP staging; COPY; ANALYZE + MERGE_SQL; then COMMIT (timed:
 * the ingest commits too) or ROLLBACK (untimed: the state stays as it was).
 */
export async function runFloor(pool: pg.Pool, chunks: string[], end: 'commit' | 'rollback'): Promise<FloorResult> {
  const client = await pool.connect();
  let failed = false;
  try {
    const t0 = performance.now();
    await client.query('BEGIN');
    await client.query(CREATE_STAGING_SQL);
    await pipeline(Readable.from(chunks, { objectMode: false }), client.query(copyFrom(COPY_STAGING_SQL)));
    const t1 = performance.now();
    const counts = await mergeStaging(client, null, loadConfig({}).INGEST_WORK_MEM);
    const t2 = performance.now();
    if (end === 'commit') await client.query('COMMIT');
    const seconds = (performance.now() - t0) / 1000;
    if (end === 'rollback') await client.query('ROLLBACK');
    // Flush this session's statistics now, so that they do not land in the
    // window in which the next ingest's row writes are counted.
    await client.query('SELECT pg_stat_force_next_flush()');
    return { seconds, copySeconds: (t1 - t0) / 1000, mergeSeconds: (t2 - t1) / 1000, counts };
  } catch (err) {
    failed = true;
    await client.query('ROLLBACK').catch(() => {});
    throw err;
  } finally {
    client.release(failed);
  }
}
