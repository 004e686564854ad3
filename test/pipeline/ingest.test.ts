import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { Customer } from '../../src/core/customer.js';
import { buildTestPipeline, startMockSource, type MockSource, type TestPipeline } from '../support/apps.js';

const base = (i: number, over: Partial<Customer> = {}): Customer => ({
  customer_id: `C-${String(i).padStart(5, '0')}`,
  first_name: `First${i}`,
  last_name: `Last${i}`,
  email: `user${i}@example.com`,
  phone: `+1-555-${String(i).padStart(4, '0')}`,
  address: `${i} Main St`,
  date_of_birth: '1990-01-31',
  account_balance: 100.5,
  created_at: '2024-01-15T10:30:00',
  ...over,
});

const range = (n: number, f: (i: number) => Customer = base) => Array.from({ length: n }, (_, i) => f(i + 1));

// Every behaviour holds whether a run is classified in one chunk (the default
// INGEST_CHUNK_ROWS is far above these sources) or page by page (1: every
// page after the first starts a chunk, so ids repeat across chunks).
describe.each([25_000, 1])('POST /api/ingest (INGEST_CHUNK_ROWS=%i)', (chunkRows) => {
  let source: MockSource;
  let pipeline: TestPipeline;

  beforeAll(async () => {
    source = await startMockSource([]);
  });
  afterAll(async () => {
    await source.close();
  });
  beforeEach(async () => {
    pipeline = await buildTestPipeline(source.url, { ingest: { pageSize: 7, concurrency: 3, chunkRows } });
  });
  afterEach(async () => {
    await pipeline.close();
  });

  const ingest = async () => {
    const res = await pipeline.app.inject({ method: 'POST', url: '/api/ingest' });
    return { status: res.statusCode, body: res.json() };
  };
  const stored = async () =>
    (await pipeline.db.pool.query(`SELECT customer_id, xmin::text AS xmin FROM customers ORDER BY customer_id`)).rows as {
      customer_id: string;
      xmin: string;
    }[];
  const read = async (id: string) => (await pipeline.app.inject(`/api/customers/${id}`)).json();

  it('inserts every record of every page and answers the seed fields plus counts', async () => {
    source.setRecords(range(50));
    const { status, body } = await ingest();
    expect(status).toBe(200);
    expect(body).toMatchObject({
      status: 'success',
      records_processed: 50,
      fetched: 50,
      inserted: 50,
      updated: 0,
      unchanged: 0,
      rejected: 0,
      pages: 8,
    });
    expect(body.run_id).toBeTypeOf('number');
    expect(body.duration_ms).toBeTypeOf('number');
    expect(await stored()).toHaveLength(50);
    expect(await read('C-00042')).toEqual(base(42));
  });

  it('reads back every field exactly as ingested', async () => {
    const edge = [
      base(1, { date_of_birth: '2000-02-29', account_balance: 0.1, created_at: '1999-12-31T23:59:59' }),
      base(2, { date_of_birth: '1970-01-01', account_balance: -0.01, created_at: '2024-03-10T00:00:00' }),
      base(3, { account_balance: 1234567890123.45, date_of_birth: '0001-01-01' }),
      base(4, { first_name: 'Zoë', last_name: 'Łęcki-Ørsted 山田', address: 'Tab\there\nnew line \\ backslash "quoted"' }),
      base(5, { phone: null, address: null, date_of_birth: null, account_balance: null, created_at: null }),
      base(6, { account_balance: 19.99, first_name: 'x'.repeat(100), customer_id: 'Y'.repeat(50) }),
      base(7, { first_name: '😀 emoji', account_balance: 0 }),
    ];
    source.setRecords(edge);
    expect((await ingest()).body.inserted).toBe(edge.length);
    for (const c of edge) expect(await read(encodeURIComponent(c.customer_id))).toEqual(c);
  });

  it('keeps stored values when the source sends null, and overwrites with non-null values', async () => {
    source.setRecords([base(1), base(2)]);
    await ingest();
    source.setRecords([
      base(1, { phone: null, address: null, date_of_birth: null, account_balance: null, created_at: null }),
      base(2, { phone: '+44 20 7946 0000', account_balance: 42.42, first_name: 'Renamed' }),
    ]);
    const { body } = await ingest();
    expect(body).toMatchObject({ inserted: 0, updated: 1, unchanged: 1 });
    expect(await read('C-00001')).toEqual(base(1));
    expect(await read('C-00002')).toEqual(base(2, { phone: '+44 20 7946 0000', account_balance: 42.42, first_name: 'Renamed' }));
  });

  it('treats an absent optional field like null: it never erases data', async () => {
    source.setRecords([base(1)]);
    await ingest();
    const { phone: _p, address: _a, ...partial } = base(1);
    source.setRecords([partial]);
    expect((await ingest()).body).toMatchObject({ updated: 0, unchanged: 1 });
    expect(await read('C-00001')).toEqual(base(1));
  });

  it('writes no row version for records that did not change', async () => {
    source.setRecords(range(30));
    await ingest();
    const before = await stored();
    source.setRecords(range(30, (i) => (i === 7 ? base(i, { email: 'changed@example.com' }) : base(i))));
    const { body } = await ingest();
    expect(body).toMatchObject({ inserted: 0, updated: 1, unchanged: 29 });
    const after = await stored();
    const changed = after.filter((r, i) => r.xmin !== before[i]!.xmin).map((r) => r.customer_id);
    expect(changed).toEqual(['C-00007']);
  });

  it('leaves the database exactly as the first time when the same source is ingested twice', async () => {
    source.setRecords(range(40));
    await ingest();
    const snapshot = async () =>
      (await pipeline.db.pool.query('SELECT c.*, xmin::text AS xmin FROM customers c ORDER BY customer_id')).rows;
    const first = await snapshot();
    const { body } = await ingest();
    expect(body).toMatchObject({ inserted: 0, updated: 0, unchanged: 40 });
    expect(await snapshot()).toEqual(first);
  });

  it('raises work_mem for its own merge only: no pooled connection keeps it', async () => {
    source.setRecords(range(20));
    expect((await ingest()).body).toMatchObject({ fetched: 20 });
    const pool = pipeline.db.pool;
    const clients = await Promise.all(Array.from({ length: pool.totalCount }, () => pool.connect()));
    try {
      for (const c of clients) {
        const { rows } = await c.query(`SELECT current_setting('work_mem') AS now`);
        expect(rows[0].now).not.toBe('64MB');
      }
    } finally {
      clients.forEach((c) => c.release());
    }
  });

  it('merges the same customer_id twice in one run into one row, the later one winning', async () => {
    const records = range(20);
    records.push(base(3, { first_name: 'Later', phone: null }));
    records.splice(10, 0, base(15, { first_name: 'Earlier' })); // an earlier copy before the original
    source.setRecords(records);
    const { status, body } = await ingest();
    expect(status).toBe(200);
    expect(body).toMatchObject({ fetched: 22, inserted: 20, duplicates: 2, rejected: 0 });
    // The later copy wins; its null phone is inserted as null (nothing stored yet to keep).
    expect(await read('C-00003')).toEqual(base(3, { first_name: 'Later', phone: null }));
    expect(await read('C-00015')).toEqual(base(15));
  });

  it('reads a source whose last page is short and a source that is empty', async () => {
    source.setRecords(range(15));
    expect((await ingest()).body).toMatchObject({ fetched: 15, inserted: 15, pages: 3 });
    source.setRecords([]);
    expect((await ingest()).body).toMatchObject({ fetched: 0, inserted: 0, pages: 1 });
    expect(await stored()).toHaveLength(15);
  });

  it('records every run with its counts', async () => {
    source.setRecords(range(9));
    const { body } = await ingest();
    const run = (await pipeline.app.inject(`/api/ingest/runs/${body.run_id}`)).json();
    expect(run).toMatchObject({ id: body.run_id, status: 'succeeded', fetched: 9, inserted: 9, error: null, phase: null });
    expect(run.duration_ms).toBeGreaterThanOrEqual(0);
    // The answer and the record say the same duration, and its two phases add up to it.
    expect(body.duration_ms).toBe(run.duration_ms);
    expect(run.fetch_ms + run.merge_ms).toBeGreaterThanOrEqual(run.duration_ms - 1);
    expect(run.fetch_ms + run.merge_ms).toBeLessThanOrEqual(run.duration_ms + 1);
    const list = (await pipeline.app.inject('/api/ingest/runs')).json();
    expect(list.data[0].id).toBe(body.run_id);
  });
});

describe('POST /api/ingest with bad records', () => {
  let source: MockSource;
  let pipeline: TestPipeline;
  beforeAll(async () => {
    source = await startMockSource([]);
    pipeline = await buildTestPipeline(source.url, { ingest: { pageSize: 4 } });
  });
  afterAll(async () => {
    await pipeline.close();
    await source.close();
  });

  it('loads the good records and keeps each bad one with its payload and reasons', async () => {
    const bad: [unknown, RegExp][] = [
      [{ ...base(100), email: 'not-an-email' }, /email: not a valid email/],
      [{ ...base(101), first_name: '' }, /first_name: must not be empty/],
      [{ ...base(102), last_name: undefined }, /last_name: is required/],
      [{ ...base(103), date_of_birth: '2023-02-29' }, /date_of_birth: must be a real calendar date/],
      [{ ...base(104), created_at: '2024-01-15 10:30:00' }, /created_at: must be a real timestamp/],
      [{ ...base(105), account_balance: 10.123 }, /account_balance: more than 2 decimal places/],
      [{ ...base(106), account_balance: '10.00' }, /account_balance: must be a number/],
      [{ ...base(107), phone: '1'.repeat(21) }, /phone: longer than 20 characters/],
      [{ ...base(108), customer_id: 'Z'.repeat(51) }, /customer_id: longer than 50/],
      [{ ...base(109), account_balance: 1e13 }, /account_balance: out of range/],
      [{ ...base(110), address: 'nul\u0000byte' }, /address: contains a NUL/],
      ['just a string', /record: must be a JSON object/],
    ];
    const good = range(6);
    source.setRecords([...good.slice(0, 3), ...bad.map(([r]) => r), ...good.slice(3)]);
    const res = await pipeline.app.inject({ method: 'POST', url: '/api/ingest' });
    expect(res.statusCode).toBe(200);
    const body = res.json();
    expect(body).toMatchObject({ fetched: 18, rejected: bad.length, inserted: 6, records_processed: 6 });
    const rejected = (await pipeline.app.inject(`/api/ingest/runs/${body.run_id}/rejected?limit=100`)).json();
    expect(rejected.total).toBe(bad.length);
    rejected.data.forEach((r: { reasons: string[]; payload: string }, i: number) => {
      expect(r.reasons.join('; ')).toMatch(bad[i]![1]);
      expect(JSON.parse(r.payload)).toEqual(JSON.parse(JSON.stringify(bad[i]![0])));
    });
    expect(rejected.data[0]).toMatchObject({ customer_id: 'C-00100', page: 1, position: 3 });
  });
});
