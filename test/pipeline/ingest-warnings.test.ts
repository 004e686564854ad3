// An ingest of many chunks runs one statement at a time on its connection:
// pg (8.x) warns, once per process, when a query is queued behind a running
// one (its implicit queue goes in pg 9), and that warning would land in the
// CLI's progress bar and the logs. pg emits it through util.deprecate, that
// is process.emitWarning: the 'warning' event.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generatedDataset } from '../../src/core/mock/dataset.js';
import { buildTestPipeline, startMockSource, type MockSource, type TestPipeline } from '../support/apps.js';

const RECORDS = 3_000;
const PAGE = 50;
const CHUNK = 200; // 15 chunks

describe('an ingest of several chunks', () => {
  let source: MockSource;
  let pipeline: TestPipeline;
  const warnings: Error[] = [];
  const onWarning = (w: Error) => warnings.push(w);
  beforeAll(async () => {
    source = await startMockSource(generatedDataset(RECORDS, 21));
    pipeline = await buildTestPipeline(source.url, { ingest: { pageSize: PAGE, concurrency: 4, chunkRows: CHUNK } });
    process.on('warning', onWarning);
  });
  afterAll(async () => {
    process.off('warning', onWarning);
    await pipeline.close();
    await source.close();
  });

  it('emits no process warning, first run and unchanged re-run alike', async () => {
    const first = await pipeline.app.inject({ method: 'POST', url: '/api/ingest' });
    expect(first.json()).toMatchObject({ status: 'success', inserted: RECORDS });
    const again = await pipeline.app.inject({ method: 'POST', url: '/api/ingest' });
    expect(again.json()).toMatchObject({ status: 'success', unchanged: RECORDS });
    await new Promise((r) => setImmediate(r)); // emitWarning delivers on the next tick
    expect(warnings.map((w) => `${w.name}: ${w.message}`)).toEqual([]);

    // The channel is live, and pg's one-time warning was still to come: a
    // query queued behind another queued one (the old loader's next COPY
    // behind a chunk's classification behind its COPY) raises it here.
    const client = await pipeline.db.pool.connect();
    try {
      await Promise.all([client.query('SELECT 1'), client.query('SELECT 2'), client.query('SELECT 3')]);
    } finally {
      client.release();
    }
    await new Promise((r) => setImmediate(r));
    expect(warnings.map((w) => w.message)).toEqual([expect.stringMatching(/already executing a query is deprecated/)]);
  });
});
