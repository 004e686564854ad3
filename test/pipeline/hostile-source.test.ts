// The ingest against sources that misbehave on purpose (issue #11): bare
// node:http servers on port 0 (test/support/raw-source.ts) and the pipeline
// on a real PostgreSQL database, one per file.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { buildTestPipeline, mergeConfig, startMockSource, type TestConfigOverrides, type TestPipeline } from '../support/apps.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';
import { pageBody, recordText, startRawSource, type RawHandler } from '../support/raw-source.js';

let db: TestDatabase;
const open: { close(): Promise<void> }[] = [];

beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(async () => {
  await db.drop();
});
afterEach(async () => {
  // Pipeline first: it holds the source client's connections.
  for (const o of open.splice(0).reverse()) await o.close();
  await db.pool.query('TRUNCATE customers');
});

async function setup(handler: RawHandler, config: TestConfigOverrides = {}) {
  const source = await startRawSource(handler);
  open.push(source);
  const pipeline = await buildTestPipeline(source.url, mergeConfig({ ingest: { pageSize: 10, concurrency: 2 } }, config), db);
  open.push(pipeline);
  return { source, pipeline };
}

async function ingest(pipeline: TestPipeline) {
  const started = performance.now();
  const res = await pipeline.app.inject({ method: 'POST', url: '/api/ingest' });
  return { status: res.statusCode, headers: res.headers, text: res.body, body: res.json(), elapsedMs: performance.now() - started };
}

const json = (
  res: { writeHead(status: number, headers: Record<string, string | number>): unknown; end(b: string): unknown },
  status: number,
  body: string,
) => {
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
  res.end(body);
};

const deep = (n: number, inner = '1') => '['.repeat(n) + inner + ']'.repeat(n);

describe('a source whose records are odd', () => {
  it('rejects a record nested 10,000 levels deep as one record with a reason, and loads the rest of the page', async () => {
    const good = ['D-1', 'D-2', 'D-3'].map(recordText);
    const nested = [
      recordText('D-10').replace('"first_name":"Ada"', `"first_name":${deep(10_000, '"Ada"')}`),
      recordText('D-11').replace('{', `{"extra":${deep(10_000)},`),
      deep(10_000, '{}'),
    ];
    const { pipeline } = await setup(({ page }, res) =>
      json(res, 200, page === 1 ? pageBody([good[0]!, ...nested, good[1]!, good[2]!]) : pageBody([])),
    );
    const result = await ingest(pipeline);
    expect(result.status, result.text).toBe(200);
    expect(result.body).toMatchObject({ fetched: 6, rejected: 2, inserted: 4 });
    const rejected = (await pipeline.app.inject(`/api/ingest/runs/${result.body.run_id}/rejected`)).json();
    expect(
      rejected.data.map((r: { position: number; customer_id: string | null; reasons: string[]; payload: string }) => [
        r.position,
        r.customer_id,
        r.reasons,
        r.payload,
      ]),
    ).toEqual([
      [1, 'D-10', ['first_name: must be a string'], nested[0]],
      [3, null, ['record: must be a JSON object'], nested[2]],
    ]);
    const ids = (await db.pool.query('SELECT customer_id FROM customers ORDER BY customer_id')).rows.map((r) => r.customer_id);
    expect(ids).toEqual(['D-1', 'D-11', 'D-2', 'D-3']);
  });

  it('keeps a rejected record exactly as the source sent it: 1e400 stays 1e400, 1.0 stays 1.0, its keys and spacing as they were', async () => {
    const odd = [
      `{"customer_id":"E-1","first_name":"A","last_name":"B","email":"e1@example.com","account_balance":1e400}`,
      `{ "email": "not an email",  "account_balance": 1.0,\n  "customer_id": "E-2", "first_name": "A", "last_name": "B", "n": -0.0E+00 }`,
      `{"customer_id":"E-3","first_name":"\\u00c9mile","last_name":"","email":"e3@example.com","n":123456789012345678901234567890}`,
    ];
    // Page 1 goes by the byte scan; page 2 (its "data" key spelt with an escape) by JSON.parse.
    const bodies = [
      pageBody([recordText('E-0'), ...odd]),
      pageBody(odd.map((t) => t.replaceAll('E-', 'F-'))).replace('"data"', '"d\\u0061ta"'),
    ];
    const { pipeline } = await setup(({ page }, res) => json(res, 200, bodies[page - 1] ?? pageBody([])), { ingest: { pageSize: 4 } });
    const result = await ingest(pipeline);
    expect(result.status, result.text).toBe(200);
    expect(result.body).toMatchObject({ fetched: 7, rejected: 6, inserted: 1 });
    const rejected = (await pipeline.app.inject(`/api/ingest/runs/${result.body.run_id}/rejected`)).json();
    expect(rejected.data.map((r: { payload: string }) => r.payload)).toEqual([...odd, ...odd.map((t) => t.replaceAll('E-', 'F-'))]);
    expect(rejected.data[0].reasons).toEqual(['account_balance: must be a number or null']);
  });
});

/** The answer is a 502 problem naming the failed run, with no internals; the run is recorded failed with the same message. */
async function expectFailedRun(pipeline: TestPipeline, result: Awaited<ReturnType<typeof ingest>>, error: RegExp) {
  expect(result.status, result.text).toBe(502);
  expect(result.headers['content-type']).toMatch(/^application\/problem\+json/);
  expect(result.body).toMatchObject({ status: 502, title: 'Bad Gateway', run_id: expect.any(Number) });
  expect(result.body.detail).toMatch(error);
  expect(result.text).not.toMatch(/\n\s+at |node_modules|\.ts:\d+/);
  const stored = (await pipeline.app.inject(`/api/ingest/runs/${result.body.run_id}`)).json();
  expect(stored).toMatchObject({ status: 'failed', inserted: 0, updated: 0, unchanged: 0 });
  expect(stored.error).toMatch(error);
  expect(stored.finished_at).not.toBeNull();
  return stored;
}

/** Loads two customers from an honest source first, so that a failed run can be seen to leave them as they were. */
async function seedCustomers() {
  const honest = await startRawSource(({ page }, res) =>
    json(res, 200, page === 1 ? pageBody(['S-1', 'S-2'].map(recordText)) : pageBody([])),
  );
  const pipeline = await buildTestPipeline(honest.url, {}, db);
  expect((await pipeline.app.inject({ method: 'POST', url: '/api/ingest' })).statusCode).toBe(200);
  await pipeline.close();
  await honest.close();
  return snapshot();
}
const snapshot = async () => (await db.pool.query('SELECT * FROM customers ORDER BY customer_id')).rows;

/** Writes a body one byte every `everyMs`, until the client hangs up (or `bytes` are out). */
function drip(body: string, everyMs: number, send: (c: string) => Promise<boolean>): void {
  let i = 0;
  const t = setInterval(() => {
    if (i >= body.length) return clearInterval(t);
    void send(body[i++]!).then((ok) => ok || clearInterval(t));
  }, everyMs);
}

describe('a source that answers too slowly', () => {
  const TIMEOUT = 300;
  const body = pageBody(['T-1', 'T-2'].map(recordText));

  it('times out a body that drips a byte every 50 ms (never a gap near SOURCE_TIMEOUT_MS), retries it, then fails the run', async () => {
    const before = await seedCustomers();
    const { source, pipeline } = await setup(
      (_req, res, send) => {
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
        drip(body, 50, send);
      },
      { source: { timeoutMs: TIMEOUT, maxRetries: 2 } },
    );
    const result = await ingest(pipeline);
    const stored = await expectFailedRun(pipeline, result, /source page 1 failed: no complete answer within 300 ms \(SOURCE_TIMEOUT_MS\)/);
    expect(stored.retries).toBe(2);
    expect(source.requests).toBe(3);
    // Each request was cut at its deadline: ~6 of its bytes, not the body.
    for (const n of source.sent) expect(n).toBeLessThan(body.length / 4);
    expect(result.elapsedMs).toBeLessThan(3 * TIMEOUT + 1500);
    expect(await snapshot()).toEqual(before);
  });

  it('times out headers that drip a byte at a time', async () => {
    const { source, pipeline } = await setup(
      (_req, res) => {
        // Below node:http: a status line and headers that never finish.
        const socket = res.socket!;
        const head = `HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nx-pad: ${'a'.repeat(1000)}\r\n`;
        let i = 0;
        const t = setInterval(() => (socket.destroyed || i >= head.length ? clearInterval(t) : socket.write(head[i++]!)), 50);
      },
      { source: { timeoutMs: TIMEOUT, maxRetries: 1 } },
    );
    const stored = await expectFailedRun(pipeline, await ingest(pipeline), /no complete answer within 300 ms \(SOURCE_TIMEOUT_MS\)/);
    expect(stored.retries).toBe(1);
    expect(source.requests).toBe(2);
    expect(await snapshot()).toEqual([]);
  });

  it('retries a timed-out request as a transient error: the next answer loads', async () => {
    const { source, pipeline } = await setup(
      ({ page, n }, res, send) => {
        if (page > 1) return json(res, 200, pageBody([]));
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
        if (n === 1) drip(body, 50, send);
        else res.end(body);
      },
      { source: { timeoutMs: TIMEOUT } },
    );
    const result = await ingest(pipeline);
    expect(result.status, result.text).toBe(200);
    expect(result.body).toMatchObject({ inserted: 2, retries: 1 });
    expect(source.requests).toBe(2);
  });
});

describe('a source whose page is too large', () => {
  const LIMIT = 1024 * 1024;

  it('refuses a body that never ends as soon as it passes SOURCE_MAX_PAGE_BYTES, without reading on', async () => {
    // Larger than the few MB loopback sockets buffer, so that the bound below says something.
    const LIMIT = 8 * 1024 * 1024;
    const before = await seedCustomers();
    const chunk = Buffer.alloc(64 * 1024, ' ');
    const { source, pipeline } = await setup(
      async (_req, res, send) => {
        res.writeHead(200, { 'content-type': 'application/json' }); // chunked, no length
        await send('{"data":[');
        while (await send(chunk));
      },
      { source: { maxPageBytes: LIMIT, timeoutMs: 10_000 } },
    );
    const result = await ingest(pipeline);
    const stored = await expectFailedRun(
      pipeline,
      result,
      /source page 1 failed: its body \(refused unread past \d+ bytes\) is larger than SOURCE_MAX_PAGE_BYTES \(8388608 bytes\)/,
    );
    await source.closed(1);
    // Not retried (the same page would be as large again), and not read on:
    // what the server got out before the client hung up is the limit and
    // what the sockets buffer, not the endless rest.
    expect(stored.retries).toBe(0);
    expect(source.requests).toBe(1);
    expect(source.sent[0]).toBeGreaterThan(LIMIT);
    expect(source.sent[0]).toBeLessThan(4 * LIMIT);
    expect(await snapshot()).toEqual(before);
  });

  it('refuses a Content-Length past SOURCE_MAX_PAGE_BYTES before reading the body', async () => {
    const { source, pipeline } = await setup(
      async (_req, res, send) => {
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': 1024 ** 3 });
        await send('{"data":[');
      },
      { source: { maxPageBytes: LIMIT, timeoutMs: 10_000 } },
    );
    const result = await ingest(pipeline);
    await expectFailedRun(
      pipeline,
      result,
      /source page 1 failed: its body of 1073741824 bytes \(Content-Length\) is larger than SOURCE_MAX_PAGE_BYTES \(1048576 bytes\)/,
    );
    await source.closed(1);
    expect(source.requests).toBe(1);
    expect(result.elapsedMs).toBeLessThan(5_000); // not the 10 s deadline
    expect(await snapshot()).toEqual([]);
  });

  it('loads a page of exactly SOURCE_MAX_PAGE_BYTES, chunked or with its length', async () => {
    const records = ['L-1', 'L-2'].map(recordText);
    const base = pageBody(records);
    // Padded with spaces inside the envelope to exactly the limit.
    const body = base.slice(0, -1) + ' '.repeat(LIMIT - Buffer.byteLength(base)) + '}';
    expect(Buffer.byteLength(body)).toBe(LIMIT);
    for (const chunked of [true, false]) {
      const { pipeline } = await setup(
        async (_req, res, send) => {
          res.writeHead(
            200,
            chunked ? { 'content-type': 'application/json' } : { 'content-type': 'application/json', 'content-length': LIMIT },
          );
          for (let i = 0; i < body.length; i += 100_000) await send(body.slice(i, i + 100_000));
          res.end();
        },
        { source: { maxPageBytes: LIMIT } },
      );
      const result = await ingest(pipeline);
      expect(result.status, result.text).toBe(200);
      expect(result.body).toMatchObject({ fetched: 2, rejected: 0 });
    }
  });
});

describe('a source that refuses the request', () => {
  it("reports the mock's own reason for refusing a page size above its MOCK_MAX_LIMIT", async () => {
    const mock = await startMockSource([JSON.parse(recordText('R-1'))], 1000);
    open.push(mock);
    const pipeline = await buildTestPipeline(mock.url, { ingest: { pageSize: 5000 } }, db);
    open.push(pipeline);
    // The mock's 400 problem's detail, however its validation names the field.
    const stored = await expectFailedRun(pipeline, await ingest(pipeline), /source page 1 failed: HTTP 400: \S*limit must be <= 1000$/);
    expect(stored.retries).toBe(0); // a refusal is not retried
    expect(await snapshot()).toEqual([]);
  });

  it('quotes a bounded, printable slice of a text answer, and nothing when it says nothing', async () => {
    const text = `Forbidden:\u0000 your\r\n\u001b[31mkey\u202e expired ${'x'.repeat(10_000)}`;
    const { pipeline } = await setup(({ n }, res) => {
      if (n === 1) {
        res.writeHead(403, { 'content-type': 'text/plain; charset=utf-8' });
        res.end(text);
      } else res.writeHead(404).end();
    });
    const stored = await expectFailedRun(
      pipeline,
      await ingest(pipeline),
      /source page 1 failed: HTTP 403: Forbidden: your \[31mkey expired x+…$/,
    );
    const quoted = stored.error.slice(stored.error.indexOf('HTTP 403: ') + 'HTTP 403: '.length);
    expect(Array.from(quoted as string)).toHaveLength(201); // 200 characters and the ellipsis
    expect(quoted).not.toMatch(/[\u0000-\u001f\u007f\u202e]/);
    await expectFailedRun(pipeline, await ingest(pipeline), /source page 1 failed: HTTP 404$/);
  });
});

describe('a source that never ends its pages', () => {
  /** A full page of `limit` records, ids unique per page and position. */
  const fullPage = (page: number, limit: number) => pageBody(Array.from({ length: limit }, (_, i) => recordText(`P${page}-${i}`)));

  it('stops at INGEST_MAX_PAGES when every page comes back full', async () => {
    const before = await seedCustomers();
    const { source, pipeline } = await setup(({ page, limit }, res) => json(res, 200, fullPage(page, limit)), {
      ingest: { maxPages: 20, concurrency: 4 },
    });
    const result = await ingest(pipeline);
    const stored = await expectFailedRun(pipeline, result, /run stopped at INGEST_MAX_PAGES \(20 pages\): every page came back full/);
    expect(stored).toMatchObject({ pages: 20, fetched: 200 });
    expect(source.requests).toBe(20); // not one page more than allowed
    expect(await snapshot()).toEqual(before);
  });

  it('stops at INGEST_MAX_RECORDS when the source ignores `page` and sends the same full page every time', async () => {
    const before = await seedCustomers();
    const { source, pipeline } = await setup((_req, res) => json(res, 200, fullPage(1, 10)), { ingest: { maxRecords: 95 } });
    const stored = await expectFailedRun(
      pipeline,
      await ingest(pipeline),
      /run stopped at INGEST_MAX_RECORDS \(95 records\): 100 read by page \d+/,
    );
    expect(source.requests).toBeLessThanOrEqual(10 + 2); // what was in flight when the 10th page came in
    expect(stored.inserted).toBe(0);
    expect(await snapshot()).toEqual(before);
  });

  it('stops at INGEST_MAX_DURATION_MS, full pages or not, cutting the request in flight', async () => {
    const before = await seedCustomers();
    // Full pages, then page 5 drips forever (well within SOURCE_TIMEOUT_MS between bytes, and in total below it too).
    const { source, pipeline } = await setup(
      ({ page, limit }, res, send) => {
        if (page < 5) return json(res, 200, fullPage(page, limit));
        res.writeHead(200, { 'content-type': 'application/json' });
        drip(fullPage(page, limit), 20, send);
      },
      { ingest: { maxDurationMs: 600, concurrency: 1 }, source: { timeoutMs: 20_000 } },
    );
    const result = await ingest(pipeline);
    const stored = await expectFailedRun(pipeline, result, /run stopped at INGEST_MAX_DURATION_MS \(600 ms\): 4 pages read/);
    expect(stored).toMatchObject({ pages: 4, retries: 0 });
    await source.closed(5); // the dripping request was closed, not left to run
    expect(source.requests).toBe(5);
    expect(result.elapsedMs).toBeLessThan(3_000);
    expect(await snapshot()).toEqual(before);
  });

  it('loads an honest source whose last page is the last one INGEST_MAX_PAGES allows', async () => {
    const mock = await startMockSource(
      Array.from({ length: 25 }, (_, i) => JSON.parse(recordText(`H-${i}`))),
      1000,
    );
    open.push(mock);
    const pipeline = await buildTestPipeline(mock.url, { ingest: { pageSize: 10, maxPages: 3, maxRecords: 25 } }, db);
    open.push(pipeline);
    const result = await ingest(pipeline);
    expect(result.status, result.text).toBe(200);
    expect(result.body).toMatchObject({ pages: 3, inserted: 25 });
  });
});
