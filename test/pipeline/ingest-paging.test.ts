// Paging and concurrency of the ingest: the data decides where the source
// ends, never the announced total; counts stay exact under concurrency.
import { afterEach, describe, expect, it } from 'vitest';
import { generatedDataset, generateRecord, type Dataset } from '../../src/core/mock/dataset.js';
import { ingestOptions } from '../../src/pipeline/app.js';
import { runIngest } from '../../src/core/ingest/ingest.js';
import { buildTestPipeline, startMockSource, testConfig, type MockSource, type TestPipeline } from '../support/apps.js';

const open: { close(): Promise<void> }[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((x) => x.close()));
});

async function setup(dataset: Dataset | unknown[], config: Parameters<typeof buildTestPipeline>[1] = {}, capLimit?: number) {
  const source: MockSource = await startMockSource(dataset, 1000, null, capLimit);
  const pipeline: TestPipeline = await buildTestPipeline(source.url, config);
  open.push(pipeline, source);
  const ingest = async () => {
    const res = await pipeline.app.inject({ method: 'POST', url: '/api/ingest' });
    expect(res.statusCode, res.body).toBe(200);
    return res.json();
  };
  const count = async () => (await pipeline.db.pool.query('SELECT count(*)::int AS n FROM customers')).rows[0].n as number;
  return { source, pipeline, ingest, count };
}

/** A dataset whose announced total differs from the records it really has. */
function lyingTotal(real: Dataset, announced: number): Dataset {
  return { size: announced, slice: (a, b) => real.slice(a, Math.min(b, real.size)), get: (id) => real.get(id) };
}

describe('POST /api/ingest paging', () => {
  it('keeps counts exact over many more pages than are in flight at once', async () => {
    const { ingest, count } = await setup(generatedDataset(5_000, 11), { ingest: { pageSize: 37, concurrency: 4 } });
    expect(await ingest()).toMatchObject({ fetched: 5_000, inserted: 5_000, pages: Math.ceil(5_000 / 37) });
    expect(await count()).toBe(5_000);
  });

  it('reads every record when the source holds more than its total announces', async () => {
    const { ingest, count } = await setup(lyingTotal(generatedDataset(230, 2), 100), { ingest: { pageSize: 20 } });
    expect(await ingest()).toMatchObject({ fetched: 230, inserted: 230 });
    expect(await count()).toBe(230);
  });

  it('ends cleanly when the source holds fewer records than its total announces', async () => {
    const { ingest, count } = await setup(lyingTotal(generatedDataset(85, 2), 400), { ingest: { pageSize: 20 } });
    expect(await ingest()).toMatchObject({ fetched: 85, inserted: 85 });
    expect(await count()).toBe(85);
  });

  it('reads every page when the source silently serves fewer records per page than asked', async () => {
    const { ingest, count } = await setup(generatedDataset(1_234, 3), { ingest: { pageSize: 1000 } }, 100);
    expect(await ingest()).toMatchObject({ fetched: 1_234, inserted: 1_234, pages: 13 });
    expect(await count()).toBe(1_234);
  });

  it('ends on an exact multiple of the page size', async () => {
    const { ingest } = await setup(generatedDataset(60, 2), { ingest: { pageSize: 20 } });
    expect(await ingest()).toMatchObject({ fetched: 60, inserted: 60, pages: 4 });
  });

  it('merges duplicate ids spread over concurrently fetched pages, the later page winning', async () => {
    const base = Array.from({ length: 300 }, (_, i) => generateRecord(9, i));
    // Ids 0..49 again at the end (pages fetched concurrently with the first ones), changed.
    const again = base.slice(0, 50).map((r) => ({ ...r, first_name: `Again-${r.customer_id}` }));
    const { ingest, pipeline } = await setup([...base, ...again], { ingest: { pageSize: 25, concurrency: 8 } });
    expect(await ingest()).toMatchObject({ fetched: 350, inserted: 300, duplicates: 50 });
    const { rows } = await pipeline.db.pool.query(`SELECT count(*)::int AS n FROM customers WHERE first_name LIKE 'Again-%'`);
    expect(rows[0].n).toBe(50);
  });

  it('counts exactly on a re-ingest with 10% of the records changed', async () => {
    const records = Array.from({ length: 2_000 }, (_, i) => generateRecord(4, i));
    const { ingest, source } = await setup(records, { ingest: { pageSize: 100 } });
    await ingest();
    source.setRecords(records.map((r, i) => (i % 10 === 3 ? { ...r, email: `changed${i}@example.com` } : r)));
    expect(await ingest()).toMatchObject({ fetched: 2_000, inserted: 0, updated: 200, unchanged: 1_800 });
  });
});

describe('an ingest stopped between two requests', () => {
  it('fails as cancelled and merges nothing, even with no request in flight when it stops', async () => {
    const { source, pipeline, count } = await setup(generatedDataset(500, 6), { ingest: { pageSize: 50, concurrency: 1 } });
    const stop = new AbortController();
    const opts = ingestOptions(testConfig({ ingest: { pageSize: 50, concurrency: 1 } }), source.url);
    // onProgress runs right after a page is staged: the one worker is between requests.
    const run = runIngest(pipeline.db.pool, opts, {
      signal: stop.signal,
      onProgress: (p) => {
        if (p.pages === 3) stop.abort(new Error('shutting down'));
      },
    });
    await expect(run).rejects.toMatchObject({ kind: 'cancelled', message: expect.stringMatching(/cancelled/) });
    expect(await count()).toBe(0);
    const { rows } = await pipeline.db.pool.query('SELECT status, error FROM ingestion_runs');
    expect(rows).toEqual([{ status: 'failed', error: expect.stringMatching(/cancelled/) }]);
  });
});
