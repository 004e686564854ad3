// Pages are staged while the fetch goes on: memory holds a bounded number of
// pages, never the source. Watched from outside through PostgreSQL's own
// progress view of the run's COPY.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generatedDataset } from '../../src/core/mock/dataset.js';
import { buildTestPipeline, startMockSource, type MockSource, type TestPipeline } from '../support/apps.js';

const RECORDS = 4_000;
const PAGE = 50;
const CONCURRENCY = 2;

describe('POST /api/ingest streaming', () => {
  let source: MockSource;
  let pipeline: TestPipeline;
  beforeAll(async () => {
    source = await startMockSource(generatedDataset(RECORDS, 8), 1000, 'latencyMs=15');
    pipeline = await buildTestPipeline(source.url, { ingest: { pageSize: PAGE, concurrency: CONCURRENCY } });
  });
  afterAll(async () => {
    await pipeline.close();
    await source.close();
  });

  it('stages rows before the fetch ends, never more than the in-flight bound behind the source', async () => {
    const done = pipeline.app.inject({ method: 'POST', url: '/api/ingest' });
    const samples: { served: number; staged: number }[] = [];
    let finished = false;
    void done.then(() => (finished = true));
    while (!finished) {
      const served = source.faults.requests;
      const { rows } = await pipeline.db.pool.query(
        `SELECT tuples_processed::int AS n FROM pg_stat_progress_copy
         WHERE datname = current_database() AND command = 'COPY FROM'`,
      );
      if (rows[0]) samples.push({ served, staged: rows[0].n });
      await new Promise((r) => setTimeout(r, 10));
    }
    const res = await done;
    expect(res.json()).toMatchObject({ fetched: RECORDS, inserted: RECORDS });
    const pages = Math.ceil(RECORDS / PAGE) + 1;
    // Seen while most pages were still to be fetched: rows were already in the database.
    const early = samples.filter((s) => s.served < pages / 2 && s.staged > 0);
    expect(early.length).toBeGreaterThan(0);
    // Every page served and not yet staged is held by a worker (one each) or in a socket buffer.
    const slack = CONCURRENCY + 3;
    for (const s of samples) expect(s.staged).toBeGreaterThanOrEqual((s.served - slack) * PAGE);
  });
});

describe('POST /api/ingest in chunks (INGEST_CHUNK_ROWS)', () => {
  let source: MockSource;
  let pipeline: TestPipeline;
  const CHUNK = 4 * PAGE;
  beforeAll(async () => {
    source = await startMockSource(generatedDataset(RECORDS, 9), 1000, 'latencyMs=15');
    pipeline = await buildTestPipeline(source.url, { ingest: { pageSize: PAGE, concurrency: CONCURRENCY, chunkRows: CHUNK } });
  });
  afterAll(async () => {
    await pipeline.close();
    await source.close();
  });

  it('ends chunks (classified before the next COPY starts) while most pages are still to be fetched', async () => {
    const done = pipeline.app.inject({ method: 'POST', url: '/api/ingest' });
    let finished = false;
    void done.then(() => (finished = true));
    let last = -1;
    let most = 0;
    const restartsAt: number[] = [];
    while (!finished) {
      const served = source.faults.requests;
      const { rows } = await pipeline.db.pool.query(
        `SELECT tuples_processed::int AS n FROM pg_stat_progress_copy
         WHERE datname = current_database() AND command = 'COPY FROM'`,
      );
      // A COPY that counts fewer rows than the one seen before is the next chunk's.
      if (rows[0]) {
        if (rows[0].n < last) restartsAt.push(served);
        last = rows[0].n;
        most = Math.max(most, last);
      }
      await new Promise((r) => setTimeout(r, 10));
    }
    expect((await done).json()).toMatchObject({ fetched: RECORDS, inserted: RECORDS });
    const pages = Math.ceil(RECORDS / PAGE) + 1;
    expect(restartsAt.filter((served) => served < pages / 2).length).toBeGreaterThan(0);
    // No chunk holds more than CHUNK rows plus the page that reached it.
    expect(most).toBeGreaterThan(0);
    expect(most).toBeLessThanOrEqual(CHUNK + PAGE);
  });
});
