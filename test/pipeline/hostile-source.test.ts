// The ingest against sources that misbehave on purpose (issue #11): bare
// node:http servers on port 0 (test/support/raw-source.ts) and the pipeline
// on a real PostgreSQL database, one per file.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { PipelineAppDeps } from '../../src/pipeline/app.js';
import { buildTestPipeline, type TestPipeline } from '../support/apps.js';
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

async function setup(handler: RawHandler, config: Partial<PipelineAppDeps['config']> = {}) {
  const source = await startRawSource(handler);
  open.push(source);
  const pipeline = await buildTestPipeline(source.url, { INGEST_PAGE_SIZE: 10, INGEST_CONCURRENCY: 2, ...config }, db);
  open.push(pipeline);
  return { source, pipeline };
}

async function ingest(pipeline: TestPipeline) {
  const started = performance.now();
  const res = await pipeline.app.inject({ method: 'POST', url: '/api/ingest' });
  return { status: res.statusCode, headers: res.headers, text: res.body, body: res.json(), elapsedMs: performance.now() - started };
}

const json = (res: { writeHead(status: number, headers: Record<string, string | number>): unknown; end(b: string): unknown }, status: number, body: string) => {
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
    const { pipeline } = await setup(({ page }, res) => json(res, 200, page === 1 ? pageBody([good[0]!, ...nested, good[1]!, good[2]!]) : pageBody([])));
    const result = await ingest(pipeline);
    expect(result.status, result.text).toBe(200);
    expect(result.body).toMatchObject({ fetched: 6, rejected: 2, inserted: 4 });
    const rejected = (await pipeline.app.inject(`/api/ingest/runs/${result.body.run_id}/rejected`)).json();
    expect(rejected.data.map((r: { position: number; customer_id: string | null; reasons: string[]; payload: string }) => [r.position, r.customer_id, r.reasons, r.payload])).toEqual([
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
    const bodies = [pageBody([recordText('E-0'), ...odd]), pageBody(odd.map((t) => t.replaceAll('E-', 'F-'))).replace('"data"', '"d\\u0061ta"')];
    const { pipeline } = await setup(({ page }, res) => json(res, 200, bodies[page - 1] ?? pageBody([])), { INGEST_PAGE_SIZE: 4 });
    const result = await ingest(pipeline);
    expect(result.status, result.text).toBe(200);
    expect(result.body).toMatchObject({ fetched: 7, rejected: 6, inserted: 1 });
    const rejected = (await pipeline.app.inject(`/api/ingest/runs/${result.body.run_id}/rejected`)).json();
    expect(rejected.data.map((r: { payload: string }) => r.payload)).toEqual([...odd, ...odd.map((t) => t.replaceAll('E-', 'F-'))]);
    expect(rejected.data[0].reasons).toEqual(['account_balance: must be a number or null']);
  });
});
