import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { PACKAGE_ROOT } from '../../src/core/config.js';
import type { Customer } from '../../src/core/customer.js';
import { buildTestPipeline, startMockSource, type MockSource, type TestPipeline } from '../support/apps.js';

const records = JSON.parse(readFileSync(path.join(PACKAGE_ROOT, 'data', 'customers.json'), 'utf8')) as Customer[];
const byId = [...records].sort((a, b) => (a.customer_id < b.customer_id ? -1 : a.customer_id > b.customer_id ? 1 : 0));

describe('GET /api/customers', () => {
  let source: MockSource;
  let pipeline: TestPipeline;
  beforeAll(async () => {
    // Shuffled at the source, so customer_id order is the pipeline's own doing.
    source = await startMockSource([...records].reverse());
    pipeline = await buildTestPipeline(source.url);
    const res = await pipeline.app.inject({ method: 'POST', url: '/api/ingest' });
    expect(res.statusCode).toBe(200);
  });
  afterAll(async () => {
    await pipeline.close();
    await source.close();
  });

  it('answers page 1 of 10 by default, ordered by customer_id, with the exact total', async () => {
    const res = await pipeline.app.inject('/api/customers');
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ data: byId.slice(0, 10), total: records.length, page: 1, limit: 10 });
  });

  it('answers the same page twice with the same rows', async () => {
    const a = (await pipeline.app.inject('/api/customers?page=3&limit=7')).json();
    const b = (await pipeline.app.inject('/api/customers?page=3&limit=7')).json();
    expect(a).toEqual(b);
    expect(a.data).toEqual(byId.slice(14, 21));
  });

  it('walks every stored record exactly once page by page', async () => {
    const seen: Customer[] = [];
    for (let page = 1; ; page++) {
      const body = (await pipeline.app.inject(`/api/customers?page=${page}&limit=8`)).json();
      if (body.data.length === 0) break;
      seen.push(...body.data);
    }
    expect(seen).toEqual(byId);
  });

  it('answers a page past the end with empty data and the total', async () => {
    const body = (await pipeline.app.inject('/api/customers?page=1000&limit=10')).json();
    expect(body).toEqual({ data: [], total: records.length, page: 1000, limit: 10 });
  });

  it.each([
    ['page=0', 'page'],
    ['page=abc', 'page'],
    ['limit=0', 'limit'],
    ['limit=1001', 'limit'],
    ['limit=2.5', 'limit'],
    ['page=99999999999999', 'page'],
  ])('rejects %s with a 400 problem naming the parameter', async (qs, name) => {
    const res = await pipeline.app.inject(`/api/customers?${qs}`);
    expect(res.statusCode).toBe(400);
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    const body = res.json();
    expect(body).toMatchObject({ status: 400, title: 'Bad Request' });
    expect(body.invalid_params[0]).toMatchObject({ name, in: 'query' });
    expect(JSON.stringify(body)).not.toMatch(/at .*\.(ts|js):\d+/);
  });

  it('answers one record by id, and a 404 problem for an unknown id', async () => {
    const target = records[5]!;
    const ok = await pipeline.app.inject(`/api/customers/${target.customer_id}`);
    expect(ok.statusCode).toBe(200);
    expect(ok.json()).toEqual(target);
    const missing = await pipeline.app.inject('/api/customers/CUST-9999');
    expect(missing.statusCode).toBe(404);
    expect(missing.json()).toMatchObject({ status: 404, detail: 'Customer CUST-9999 not found' });
  });

  it.each(["x' OR '1'='1", '%00', '..%2F..%2Fetc', 'a'.repeat(60)])('treats the id %s as data: 404, never 500', async (id) => {
    const res = await pipeline.app.inject(`/api/customers/${id.startsWith('%') || id.includes('%2F') ? id : encodeURIComponent(id)}`);
    expect([400, 404]).toContain(res.statusCode);
    expect(res.json().status).toBe(res.statusCode);
  });

  it('answers concurrent lookups and pages each with its own rows, sharing round trips', async () => {
    const queries: string[] = [];
    const pool = pipeline.db.pool;
    const original = pool.query.bind(pool);
    pool.query = ((config: unknown, ...rest: unknown[]) => {
      const name = (config as { name?: string } | null)?.name;
      if (name) queries.push(name);
      return (original as (...a: unknown[]) => unknown)(config, ...rest);
    }) as typeof pool.query;
    try {
      const ids = [...byId.slice(0, 20).map((c) => c.customer_id), 'NOPE-1', byId[3]!.customer_id, 'NOPE-2'];
      const pages = [
        [1, 10],
        [2, 10],
        [1, 10],
        [3, 7],
        [1000, 10],
        [1, 60],
      ] as const;
      const [lookups, listed] = await Promise.all([
        Promise.all(ids.map((id) => pipeline.app.inject(`/api/customers/${encodeURIComponent(id)}`))),
        Promise.all(pages.map(([p, l]) => pipeline.app.inject(`/api/customers?page=${p}&limit=${l}`))),
      ]);
      lookups.forEach((res, i) => {
        const want = byId.find((c) => c.customer_id === ids[i]);
        expect(res.statusCode, ids[i]).toBe(want ? 200 : 404);
        if (want) expect(res.json()).toEqual(want);
      });
      listed.forEach((res, i) => {
        const [p, l] = pages[i]!;
        expect(res.json()).toEqual({ data: byId.slice((p - 1) * l, p * l), total: records.length, page: p, limit: l });
      });
      // Batched: far fewer statements than requests.
      expect(queries.filter((q) => q === 'customers-by-ids').length).toBeLessThan(ids.length / 4);
      expect(queries.filter((q) => q === 'customers-pages').length).toBeLessThan(pages.length / 2);
    } finally {
      pool.query = original;
    }
  });

  it('keeps dates, cents and seconds in every time zone of this process', async () => {
    // The suite runs at UTC+14; here a zone at UTC-11 too, changed at run time.
    const saved = process.env.TZ;
    try {
      for (const tz of ['Pacific/Pago_Pago', 'Asia/Kolkata', 'UTC']) {
        process.env.TZ = tz;
        const body = (await pipeline.app.inject('/api/customers?limit=1000')).json();
        expect(body.data).toEqual(byId);
      }
    } finally {
      process.env.TZ = saved;
    }
  });

  it('keeps dates and seconds whatever the database session time zone', async () => {
    await pipeline.db.pool.query(`ALTER DATABASE ${pipeline.db.name} SET timezone TO 'Pacific/Kiritimati'`);
    // New connections pick the setting up.
    const clients = await Promise.all(Array.from({ length: 10 }, () => pipeline.db.pool.connect()));
    clients.forEach((c) => c.release(true));
    const body = (await pipeline.app.inject('/api/customers?limit=1000')).json();
    expect(body.data).toEqual(byId);
  });
});

describe('pipeline service', () => {
  let pipeline: TestPipeline;
  beforeAll(async () => {
    pipeline = await buildTestPipeline('http://127.0.0.1:9');
  });
  afterAll(() => pipeline.close());

  it('answers health and readiness', async () => {
    expect((await pipeline.app.inject('/api/health')).json()).toMatchObject({ status: 'ok' });
    const ready = await pipeline.app.inject('/api/ready');
    expect(ready.statusCode).toBe(200);
    expect(ready.json()).toMatchObject({ status: 'ready' });
  });

  it('answers an unreachable source with a 502 problem carrying the run id, and records the run failed', async () => {
    const res = await pipeline.app.inject({ method: 'POST', url: '/api/ingest' });
    expect(res.statusCode).toBe(502);
    const body = res.json();
    expect(body).toMatchObject({ status: 502 });
    expect(body.run_id).toBeTypeOf('number');
    expect(body.detail).toMatch(/ECONNREFUSED/);
    const run = (await pipeline.app.inject(`/api/ingest/runs/${body.run_id}`)).json();
    expect(run).toMatchObject({ status: 'failed' });
    expect(run.error).toMatch(/ECONNREFUSED/);
  });

  it('answers unknown runs and routes with 404 problems and bad run ids with 400', async () => {
    expect((await pipeline.app.inject('/api/ingest/runs/999999')).statusCode).toBe(404);
    expect((await pipeline.app.inject('/api/ingest/runs/abc')).statusCode).toBe(400);
    expect((await pipeline.app.inject('/api/nothing')).statusCode).toBe(404);
  });

  it('serves its OpenAPI document listing every route of the contract', async () => {
    const doc = (await pipeline.app.inject('/openapi.json')).json();
    expect(Object.keys(doc.paths)).toEqual(
      expect.arrayContaining(['/api/ingest', '/api/customers', '/api/customers/{customer_id}', '/api/ingest/runs/{id}']),
    );
    expect((await pipeline.app.inject('/docs/')).statusCode).toBe(200);
  });
});
