// The run is classified against `customers` chunk by chunk while it is
// fetched (INGEST_CHUNK_ROWS): however the records fall into chunks, the
// stored customers, the counts and the rejected records are those of one
// chunk, and a run stopped with chunks queued on its connection leaves nothing.
import { afterEach, describe, expect, it } from 'vitest';
import type { Customer } from '../../src/core/customer.js';
import { ingestOptions } from '../../src/pipeline/app.js';
import { runIngest } from '../../src/core/ingest/ingest.js';
import { createPool } from '../../src/core/db/database.js';
import { generatedDataset } from '../../src/core/mock/dataset.js';
import { buildTestPipeline, startMockSource, testConfig, type MockSource, type TestPipeline } from '../support/apps.js';

const open: { close(): Promise<void> }[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((x) => x.close()));
});

const stored = (i: number, over: Partial<Customer> = {}): Customer => ({
  customer_id: `K-${String(i).padStart(4, '0')}`,
  first_name: `First${i}`,
  last_name: `Last${i}`,
  email: `k${i}@example.com`,
  phone: `+1-555-${String(i).padStart(4, '0')}`,
  address: `${i} Chunk St`,
  date_of_birth: '1980-05-17',
  account_balance: 10.25,
  created_at: '2023-03-04T05:06:07',
  ...over,
});

// Already stored: ids 0..99.
const BEFORE = Array.from({ length: 100 }, (_, i) => stored(i));
// The second run, in pages of 10: 0..49 as stored, 50..69 changed, 100..149 new, five bad records, then
// ids seen earlier again: 0 changed (the last wins: updated), 50 as stored (the last wins: the earlier
// change is dropped, unchanged), 60 as stored but with a null phone (the stored phone stays: unchanged),
// 100 with another name (inserted once, with the later name).
const AFTER: unknown[] = [
  ...Array.from({ length: 50 }, (_, i) => stored(i)),
  ...Array.from({ length: 20 }, (_, i) => stored(50 + i, { last_name: `Changed${50 + i}` })),
  ...Array.from({ length: 50 }, (_, i) => stored(100 + i)),
  { customer_id: 'BAD-1', first_name: '', last_name: 'X', email: 'bad1@example.com' },
  { customer_id: 'BAD-2', first_name: 'Y', last_name: 'X', email: 'not an email' },
  { first_name: 'No', last_name: 'Id', email: 'noid@example.com' },
  'not a record',
  { ...stored(999), date_of_birth: '2023-02-29' },
  stored(0, { first_name: 'Zero-again' }),
  stored(50),
  stored(60, { phone: null }),
  stored(100, { first_name: 'Hundred-again' }),
];

async function secondRun(chunkRows: number) {
  const source: MockSource = await startMockSource(BEFORE);
  const pipeline: TestPipeline = await buildTestPipeline(source.url, { ingest: { pageSize: 10, concurrency: 4, chunkRows } });
  open.push(pipeline, source);
  const ingest = async () => {
    const res = await pipeline.app.inject({ method: 'POST', url: '/api/ingest' });
    expect(res.statusCode, res.body).toBe(200);
    return res.json();
  };
  await ingest();
  source.setRecords(AFTER);
  const before = (await pipeline.db.pool.query(`SELECT customer_id, xmin::text AS xmin FROM customers`)).rows;
  const counts = await ingest();
  const { rows: customers } = await pipeline.db.pool.query(
    `SELECT c.*, c.xmin::text <> b.xmin AS written
     FROM customers c LEFT JOIN (SELECT * FROM json_to_recordset($1::json) AS b(customer_id text, xmin text)) b USING (customer_id)
     ORDER BY customer_id`,
    [JSON.stringify(before)],
  );
  const { rows: rejected } = await pipeline.db.pool.query(
    `SELECT page, position, customer_id, reasons FROM rejected_records WHERE run_id = $1 ORDER BY page, position`,
    [counts.run_id],
  );
  return { counts, customers, rejected };
}

describe('an ingest classified chunk by chunk', () => {
  it('stores the same customers, counts and rejected records however the run falls into chunks', async () => {
    const whole = await secondRun(25_000);
    expect(whole.counts).toMatchObject({
      fetched: 129,
      rejected: 5,
      inserted: 50,
      updated: 19,
      unchanged: 51,
      duplicates: 4,
    });
    // Written: the 19 changed ids and the 50 new ones; nothing else got a row version.
    expect(whole.customers.filter((c) => c.written !== false).map((c) => c.customer_id)).toHaveLength(69);
    const byId = new Map(whole.customers.map((c) => [c.customer_id, c]));
    expect(byId.get('K-0000')).toMatchObject({ first_name: 'Zero-again', written: true });
    expect(byId.get('K-0050')).toMatchObject({ last_name: 'Last50', written: false });
    expect(byId.get('K-0060')).toMatchObject({ phone: '+1-555-0060', written: false });
    expect(byId.get('K-0061')).toMatchObject({ last_name: 'Changed61', written: true });
    expect(byId.get('K-0100')).toMatchObject({ first_name: 'Hundred-again' });
    expect(whole.rejected).toHaveLength(5);

    const strip = (r: Awaited<ReturnType<typeof secondRun>>) => ({
      counts: { ...r.counts, run_id: undefined, duration_ms: undefined },
      customers: r.customers,
      rejected: r.rejected,
    });
    // A chunk per page, and chunks of two pages (13 rows: a chunk ends after the page that reaches them).
    for (const chunkRows of [1, 13]) expect(strip(await secondRun(chunkRows)), `INGEST_CHUNK_ROWS=${chunkRows}`).toEqual(strip(whole));
  });

  it('merges nothing and leaves its connection usable when stopped with chunks queued on it', async () => {
    const source = await startMockSource(generatedDataset(600, 3));
    const config = { ingest: { pageSize: 20, concurrency: 4, chunkRows: 1 } };
    const pipeline = await buildTestPipeline(source.url, config);
    // Two connections (the run's and one for its run record): the stopped run's own is one of them.
    const single = createPool(pipeline.db.url, 2);
    open.push(pipeline, source, { close: () => single.end() });
    const opts = ingestOptions(testConfig(config), source.url);
    const stop = new AbortController();
    const run = runIngest(single, opts, {
      signal: stop.signal,
      onProgress: (p) => {
        if (p.pages === 6) stop.abort(new Error('shutting down'));
      },
    });
    await expect(run).rejects.toMatchObject({ kind: 'cancelled', message: expect.stringMatching(/cancelled/) });
    const count = async () => (await pipeline.db.pool.query('SELECT count(*)::int AS n FROM customers')).rows[0].n as number;
    expect(await count()).toBe(0);
    // Both connections answer at once, outside any transaction.
    const clients = await Promise.all([single.connect(), single.connect()]);
    for (const c of clients) {
      expect((await c.query(`SELECT pg_current_xact_id_if_assigned() IS NULL AS clean`)).rows).toEqual([{ clean: true }]);
      c.release();
    }
    await expect(runIngest(single, opts)).resolves.toMatchObject({ inserted: 600 });
    expect(await count()).toBe(600);
  });
});
