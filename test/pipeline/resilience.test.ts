// The ingest against a faulty source: the real mock server on port 0 with
// faults injected, the pipeline on a real PostgreSQL database (one per file).
// Transient faults are retried and the run succeeds; persistent ones fail
// the run atomically with a 502 that names it.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { PACKAGE_ROOT } from '../../src/core/config.js';
import type { FaultSpec } from '../../src/mock-server/faults.js';
import {
  buildTestPipeline,
  mergeConfig,
  startMockSource,
  type MockSource,
  type TestConfigOverrides,
  type TestPipeline,
} from '../support/apps.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';

type Row = { customer_id: string; first_name: string; [k: string]: unknown };
const records = JSON.parse(readFileSync(path.join(PACKAGE_ROOT, 'data', 'customers.json'), 'utf8')) as Row[];
const PAGE = 10; // 60 records: 6 full pages and an empty one
const pageCount = Math.ceil(records.length / PAGE);

// Small delays so a retry costs milliseconds; SOURCE_MAX_RETRIES stays 3.
const CONFIG: TestConfigOverrides = {
  ingest: { pageSize: PAGE, concurrency: 3 },
  source: { maxRetries: 3, retryBaseMs: 10, retryMaxMs: 50, timeoutMs: 5000 },
};

let db: TestDatabase;
const open: { close(): Promise<void> }[] = [];

beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(async () => {
  await db.drop();
});
beforeEach(async () => {
  await db.pool.query('TRUNCATE customers');
});
afterEach(async () => {
  // Pipeline first: it holds the source client's connections.
  for (const o of open.splice(0).reverse()) await o.close();
});

interface Setup {
  source: MockSource;
  pipeline: TestPipeline;
}

async function setup(faults: FaultSpec | string | null, config: TestConfigOverrides = {}): Promise<Setup> {
  const source = await startMockSource(records, 1000, faults);
  open.push(source);
  const pipeline = await buildTestPipeline(source.url, mergeConfig(CONFIG, config), db);
  open.push(pipeline);
  return { source, pipeline };
}

async function ingest({ pipeline }: Setup) {
  const started = performance.now();
  const res = await pipeline.app.inject({ method: 'POST', url: '/api/ingest' });
  return { status: res.statusCode, headers: res.headers, text: res.body, body: res.json(), elapsedMs: performance.now() - started };
}

async function run({ pipeline }: Setup, id: number) {
  const res = await pipeline.app.inject(`/api/ingest/runs/${id}`);
  expect(res.statusCode).toBe(200);
  return res.json();
}

const customerCount = async () => Number((await db.pool.query('SELECT count(*) AS n FROM customers')).rows[0].n);

/** The run succeeded with every record loaded, after `retries` retries (a number, or a check). */
async function expectLoadedAfterRetries(s: Setup, result: Awaited<ReturnType<typeof ingest>>, retries: number | 'some') {
  expect(result.status, result.text).toBe(200);
  expect(result.body).toMatchObject({ status: 'success', records_processed: records.length, inserted: records.length });
  if (retries === 'some') expect(result.body.retries).toBeGreaterThan(0);
  else expect(result.body.retries).toBe(retries);
  expect(await customerCount()).toBe(records.length);
  const stored = await run(s, result.body.run_id);
  expect(stored).toMatchObject({ status: 'succeeded', retries: result.body.retries, fetched: records.length, error: null });
}

describe('POST /api/ingest against a source with transient faults', () => {
  it('loads every record after transient 503s, counting the retries', async () => {
    const s = await setup('failFirst=2');
    const result = await ingest(s);
    await expectLoadedAfterRetries(s, result, 2);
    expect(s.source.faults.applied.error).toBe(2);
  });

  it('loads every record when every third request is rate limited with 429', async () => {
    const s = await setup('rateLimitEvery=3,retryAfter=0');
    const result = await ingest(s);
    await expectLoadedAfterRetries(s, result, 'some');
    expect(result.body.retries).toBe(s.source.faults.applied.rateLimit);
  });

  it('waits the seconds a 429 asks for in Retry-After before retrying', async () => {
    // SOURCE_RETRY_MAX_MS is 50: only Retry-After can make the run wait a second.
    const s = await setup('failFirst=1,failWith=rateLimit,retryAfter=1');
    const result = await ingest(s);
    await expectLoadedAfterRetries(s, result, 1);
    expect(result.elapsedMs).toBeGreaterThanOrEqual(980);
  });

  it('waits until the HTTP date a 429 gives in Retry-After before retrying', async () => {
    const s = await setup('failFirst=1,failWith=rateLimit,retryAfter=1,retryAfterFormat=date');
    const result = await ingest(s);
    await expectLoadedAfterRetries(s, result, 1);
    expect(result.elapsedMs).toBeGreaterThanOrEqual(950);
  });

  it('retries connection resets', async () => {
    const s = await setup('failFirst=2,failWith=reset');
    await expectLoadedAfterRetries(s, await ingest(s), 2);
  });

  it('retries resets and 503s spread over the pages', async () => {
    const s = await setup('resetEvery=4,rateLimitEvery=5,retryAfter=0');
    await expectLoadedAfterRetries(s, await ingest(s), 'some');
  });

  it('retries a request that times out', async () => {
    const s = await setup('failFirst=1,failWith=slow,slowMs=10000', { source: { timeoutMs: 200 } });
    await expectLoadedAfterRetries(s, await ingest(s), 1);
  });

  it('re-requests a page whose body is cut short, counting one retry', async () => {
    const s = await setup('failFirst=1,failWith=truncate');
    await expectLoadedAfterRetries(s, await ingest(s), 1);
    // The cut page is fetched again, not resumed with a Range request the source ignores.
    expect(s.source.faults.requests).toBe(pageCount + 2);
  });

  it('re-requests a page whose JSON is cut short', async () => {
    const s = await setup('failFirst=1,failWith=truncate,truncateMode=json');
    await expectLoadedAfterRetries(s, await ingest(s), 1);
  });

  it('re-requests a page that is not JSON', async () => {
    const s = await setup('failFirst=2,failWith=malformed');
    await expectLoadedAfterRetries(s, await ingest(s), 2);
  });

  it('re-requests a page without a data array', async () => {
    const s = await setup('failFirst=1,failWith=wrongShape');
    await expectLoadedAfterRetries(s, await ingest(s), 1);
  });

  it('survives a seeded mix of every fault on every page', async () => {
    const s = await setup(
      'errorRate=0.1,resetRate=0.05,truncateRate=0.05,malformedRate=0.05,wrongShapeRate=0.05,rateLimitEvery=7,retryAfter=0,latencyJitterMs=5,seed=11',
      { source: { maxRetries: 8 }, ingest: { pageSize: 5 } },
    );
    await expectLoadedAfterRetries(s, await ingest(s), 'some');
  });
});

describe('POST /api/ingest against a source that keeps failing', () => {
  /** The answer is a 502 problem naming the run, with no internals, and nothing was loaded. */
  async function expectFailedRun(s: Setup, result: Awaited<ReturnType<typeof ingest>>, error: RegExp) {
    expect(result.status).toBe(502);
    expect(result.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(result.body).toMatchObject({ status: 502, title: 'Bad Gateway', run_id: expect.any(Number) });
    expect(result.body.detail).toMatch(error);
    expect(result.body).not.toHaveProperty('stack');
    expect(result.text).not.toMatch(/\n\s+at |node_modules|\.ts:\d+/);
    const stored = await run(s, result.body.run_id);
    expect(stored).toMatchObject({ status: 'failed', inserted: 0, updated: 0, unchanged: 0 });
    expect(stored.error).toMatch(error);
    expect(stored.finished_at).not.toBeNull();
    return stored;
  }

  it('answers 502 with the run id after its retries run out on 500s, loads nothing and records the run failed', async () => {
    const s = await setup('errorRate=1,errorStatus=500');
    const result = await ingest(s);
    const stored = await expectFailedRun(s, result, /HTTP 500/);
    expect(stored.retries).toBe(3);
    expect(s.source.faults.requests).toBe(4); // one attempt and SOURCE_MAX_RETRIES retries
    expect(await customerCount()).toBe(0);
    const list = (await s.pipeline.app.inject('/api/ingest/runs')).json();
    expect(list.data[0]).toMatchObject({ id: result.body.run_id, status: 'failed' });
  });

  it('fails the run at once when Retry-After asks for more than the retry budget', async () => {
    const s = await setup('rateLimitEvery=1,retryAfter=3600', { source: { retryBudgetMs: 5_000 } });
    const stored = await expectFailedRun(s, await ingest(s), /HTTP 429; retry budget exhausted \(a 3600 s wait/);
    expect(stored.retries).toBe(0); // it did not wait: the test's timeout would have caught an hour
    expect(await customerCount()).toBe(0);
  });

  it('fails the run when every page is not JSON', async () => {
    const s = await setup('malformedRate=1');
    const stored = await expectFailedRun(s, await ingest(s), /not JSON/);
    expect(stored.retries).toBe(3);
    expect(await customerCount()).toBe(0);
  });

  it('spends at most SOURCE_MAX_RETRIES retries on a page, transport errors and malformed bodies together', async () => {
    // Every answer is a fault: 503s (retried inside undici) and bodies that
    // are not JSON (re-requested by the page loop), mixed.
    const s = await setup('errorRate=0.5,malformedRate=0.5,seed=5', { ingest: { concurrency: 1 } });
    const stored = await expectFailedRun(s, await ingest(s), /page 1/);
    expect(stored.retries).toBe(3);
    expect(s.source.faults.requests).toBe(4); // one request and 3 retries, however the faults alternate
    expect(await customerCount()).toBe(0);
  });

  it('fails the run when the connection is reset every time', async () => {
    const s = await setup('resetRate=1');
    await expectFailedRun(s, await ingest(s), /ECONNRESET|UND_ERR_SOCKET/);
    expect(await customerCount()).toBe(0);
  });

  it('rolls back the pages already fetched when the source dies mid-run, keeping the data of the run before', async () => {
    const s = await setup(null);
    expect((await ingest(s)).status).toBe(200);
    const before = (await db.pool.query('SELECT * FROM customers ORDER BY customer_id')).rows;

    // The next run would change every record and add new ones, but the
    // source serves three requests and then only 503s.
    const changed = [
      ...records.map((r) => ({ ...r, first_name: `${r.first_name}-v2` })),
      ...records.slice(0, 5).map((r, i) => ({ ...r, customer_id: `NEW-${i}` })),
    ];
    s.source.setRecords(changed);
    s.source.faults.set('failAfter=3');
    const stored = await expectFailedRun(s, await ingest(s), /HTTP 503/);
    expect(stored.fetched).toBeGreaterThan(0); // pages were staged, then rolled back

    const after = (await db.pool.query('SELECT * FROM customers ORDER BY customer_id')).rows;
    expect(after).toEqual(before);
    const read = (await s.pipeline.app.inject(`/api/customers/${records[0]!.customer_id}`)).json();
    expect(read.first_name).toBe(records[0]!.first_name);
    expect((await s.pipeline.app.inject('/api/customers/NEW-0')).statusCode).toBe(404);
  });
});
