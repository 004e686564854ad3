// The floor: PostgreSQL's own work for the same rows, through the product's
// loader (StagingWriter: COPY into the chunk table and each chunk's
// classification against `customers`, with the default INGEST_CHUNK_ROWS and
// INGEST_WORK_MEM as the ingest has them; then mergeStaging: the change set,
// applied to customers and logged in the change log as a run's), in
// one transaction, with the COPY text prepared before the clock starts. Only
// database work is timed: no HTTP, no JSON, no validation.
import type pg from 'pg';
import { validateCustomer } from '../src/customer.js';
import { StagingWriter, mergeStaging, stagingRow, type MergeCounts } from '../src/pipeline/ingest/loader.js';
import { loadConfig } from '../src/config.js';
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
 * BEGIN; stage every page; mergeStaging; then COMMIT (timed: the ingest commits
 * too) or ROLLBACK (untimed: the state stays as it was).
 */
export async function runFloor(pool: pg.Pool, pages: CopyPage[], end: 'commit' | 'rollback'): Promise<FloorResult> {
  const config = loadConfig({});
  const client = await pool.connect();
  let failed = false;
  try {
    const t0 = performance.now();
    await client.query('BEGIN');
    // As the ingest does: the pool's statement timeout is for reads (a busy machine takes longer than it to merge).
    await client.query(`SELECT set_config('statement_timeout', '0', true)`);
    const writer = await StagingWriter.open(client, { workMem: config.INGEST_WORK_MEM, chunkRows: config.INGEST_CHUNK_ROWS });
    for (const p of pages) await writer.write(p.rows, p.records);
    await writer.finish();
    const t1 = performance.now();
    // A run of its own, as the ingest's change log needs one (rolled back with the rest, or committed).
    const run = await client.query<{ id: number }>(`INSERT INTO ingestion_runs (source_url) VALUES ('bench floor') RETURNING id::int AS id`);
    const counts = await mergeStaging(client, run.rows[0]!.id);
    const t2 = performance.now();
    if (end === 'commit') await client.query('COMMIT');
    const seconds = (performance.now() - t0) / 1000;
    if (end === 'rollback') await client.query('ROLLBACK');
    // Flush this session's statistics now, so that they do not land in the
    // window in which the next ingest's row writes are counted.
    await client.query('SELECT pg_stat_force_next_flush()');
    return { seconds, stageSeconds: (t1 - t0) / 1000, mergeSeconds: (t2 - t1) / 1000, counts };
  } catch (err) {
    failed = true;
    await client.query('ROLLBACK').catch(() => {});
    throw err;
  } finally {
    client.release(failed);
  }
}
