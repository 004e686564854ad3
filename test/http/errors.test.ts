// Every error class answers the same RFC 9457 problem on both services:
// application/problem+json with type, title, status and detail (and the
// bad parameters of a 400), never a stack, always with the request id.
import { STATUS_CODES } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import pg from 'pg';
import { buildMockApp } from '../../src/mock-server/app.js';
import { datasetFromRecords } from '../../src/core/mock/dataset.js';
import { buildPipelineApp } from '../../src/pipeline/app.js';
import { createPool } from '../../src/core/db/database.js';
import { INGEST_LOCK_KEY } from '../../src/core/ingest/runs-repository.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';
import { startMockSource, TEST_CONFIG, testConfig, type MockSource } from '../support/apps.js';

const API_KEY = 'test-key-0123456789abcdef';

/** The problem every error answer is, whatever its class. */
function expectProblem(res: LightMyRequestResponse, status: number): Record<string, unknown> {
  expect(res.statusCode, res.body).toBe(status);
  expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
  expect(res.headers['x-request-id']).toBeTruthy();
  const body = res.json() as Record<string, unknown>;
  expect(body).toMatchObject({ type: 'about:blank', title: STATUS_CODES[status], status });
  expect(typeof body.detail).toBe('string');
  expect(res.body).not.toMatch(/\n\s+at |\.(ts|js):\d+/);
  return body;
}

const record = (i: number) => ({
  customer_id: `E-${i}`,
  first_name: 'Ada',
  last_name: 'Lovelace',
  email: `ada${i}@example.com`,
  phone: null,
  address: null,
  date_of_birth: '1815-12-10',
  account_balance: 1.5,
  created_at: '2024-01-15T10:30:00',
});

describe('problem details on the pipeline', () => {
  let db: TestDatabase;
  let source: MockSource;
  let app: FastifyInstance;

  beforeAll(async () => {
    db = await createTestDatabase();
    source = await startMockSource([record(1), record(2)]);
    app = await buildPipelineApp({
      pool: db.pool,
      sourceUrl: source.url,
      config: testConfig({ security: { apiKey: API_KEY, rateLimitPerMinute: 1000 } }),
    });
    // A route that fails the way a bug does, with internals in its message.
    app.get('/test/boom', { schema: { hide: true } }, async () => {
      throw new Error('relation "secret_table" does not exist at /srv/app/internal.ts:12');
    });
    await app.ready();
  });
  afterAll(async () => {
    await app?.close();
    await source?.close();
    await db?.drop();
  });
  const auth = { authorization: `Bearer ${API_KEY}` };

  it('400: names every bad parameter with its reason', async () => {
    const body = expectProblem(await app.inject('/api/customers?page=0&limit=5000'), 400);
    expect(body.invalid_params).toEqual(
      expect.arrayContaining([expect.objectContaining({ name: 'page', in: 'query', reason: expect.any(String) })]),
    );
    const path = expectProblem(await app.inject({ url: '/api/ingest/runs/abc', headers: auth }), 400);
    expect(path.invalid_params).toEqual([expect.objectContaining({ name: 'id', in: 'path' })]);
  });

  it('401: a guarded route without the key, with WWW-Authenticate', async () => {
    const res = await app.inject({ method: 'POST', url: '/api/ingest' });
    expectProblem(res, 401);
    expect(res.headers['www-authenticate']).toMatch(/^Bearer/);
  });

  it('404: an unknown id and an unknown route', async () => {
    expect(expectProblem(await app.inject('/api/customers/NOPE-1'), 404).detail).toMatch(/NOPE-1/);
    expectProblem(await app.inject({ url: '/api/ingest/runs/999999', headers: auth }), 404);
    expect(expectProblem(await app.inject('/api/nothing-here?x=1'), 404).detail).toBe('No route GET /api/nothing-here');
  });

  it('405: a known path with another method, with Allow', async () => {
    const res = await app.inject({ method: 'DELETE', url: '/api/customers/E-1' });
    expectProblem(res, 405);
    expect(res.headers.allow).toBe('GET, HEAD');
    const post = await app.inject({ method: 'PUT', url: '/api/ingest' });
    expectProblem(post, 405);
    expect(post.headers.allow).toContain('POST');
  });

  it('409: an ingest while another holds the lock', async () => {
    const holder = new pg.Client({ connectionString: db.url });
    await holder.connect();
    try {
      await holder.query('SELECT pg_advisory_lock($1)', [INGEST_LOCK_KEY]);
      const body = expectProblem(await app.inject({ method: 'POST', url: '/api/ingest', headers: auth }), 409);
      expect(body).toHaveProperty('run_id');
    } finally {
      await holder.end();
    }
  });

  it('413: a body over the limit', async () => {
    const res = await app.inject({
      method: 'POST',
      url: '/api/ingest',
      headers: { ...auth, 'content-type': 'application/json' },
      payload: `{"pad":"${'x'.repeat(1024 * 1024)}"}`,
    });
    expectProblem(res, 413);
  });

  it('415: a body of a type the service does not read', async () => {
    const res = await app.inject({
      method: 'POST',
      url: '/api/ingest',
      headers: { ...auth, 'content-type': 'application/xml' },
      payload: '<ingest/>',
    });
    expectProblem(res, 415);
  });

  it('500: an unexpected failure tells the client nothing internal', async () => {
    const body = expectProblem(await app.inject('/test/boom'), 500);
    expect(body.detail).toBe('Internal server error');
    expect(JSON.stringify(body)).not.toMatch(/secret_table|internal\.ts/);
  });

  it('502: the source failed after its retries, naming the failed run', async () => {
    source.faults.set('errorRate=1');
    try {
      const body = expectProblem(await app.inject({ method: 'POST', url: '/api/ingest', headers: auth }), 502);
      expect(typeof body.run_id).toBe('number');
    } finally {
      source.faults.set(null);
    }
  });
});

describe('problem details when the database is unreachable', () => {
  it('503: reads and the ingest answer a problem', async () => {
    // A port nothing listens on: every connection is refused.
    const pool = createPool('postgres://postgres@127.0.0.1:9/none', 2);
    const app = await buildPipelineApp({ pool, sourceUrl: 'http://127.0.0.1:9', config: TEST_CONFIG });
    try {
      expectProblem(await app.inject('/api/customers'), 503);
      expectProblem(await app.inject('/api/ready'), 503);
      expectProblem(await app.inject({ method: 'POST', url: '/api/ingest' }), 503);
    } finally {
      await app.close();
      await pool.end();
    }
  });
});

describe('rate limited reads on the pipeline', () => {
  it('429: past the limit, with Retry-After', async () => {
    const pool = createPool('postgres://postgres@127.0.0.1:9/none', 1);
    const app = await buildPipelineApp({
      pool,
      sourceUrl: 'http://127.0.0.1:9',
      config: testConfig({ security: { rateLimitPerMinute: 1 } }),
    });
    try {
      await app.inject('/api/customers/X');
      const res = await app.inject('/api/customers/X');
      expectProblem(res, 429);
      expect(Number(res.headers['retry-after'])).toBeGreaterThan(0);
    } finally {
      await app.close();
      await pool.end();
    }
  });
});

describe('problem details on the mock', () => {
  let app: FastifyInstance;
  beforeAll(async () => {
    app = await buildMockApp({ dataset: datasetFromRecords([record(1)]), maxLimit: 100 });
    app.get('/test/boom', { schema: { hide: true } }, async () => {
      throw new Error('internal detail /srv/mock.ts:1');
    });
    await app.ready();
  });
  afterAll(() => app?.close());

  it('400: names every bad parameter with its reason', async () => {
    const body = expectProblem(await app.inject('/api/customers?page=x&limit=101'), 400);
    const names = (body.invalid_params as { name: string; in: string }[]).map((p) => `${p.in}:${p.name}`);
    expect(names).toContain('query:page');
  });

  it('404: an unknown id and an unknown route', async () => {
    expectProblem(await app.inject('/api/customers/NOPE'), 404);
    expectProblem(await app.inject('/nothing'), 404);
  });

  it('405: a known path with another method, with Allow', async () => {
    const res = await app.inject({ method: 'POST', url: '/api/customers', payload: {} });
    expectProblem(res, 405);
    expect(res.headers.allow).toBe('GET, HEAD');
  });

  it('429 and 5xx: injected faults are problems too', async () => {
    const limited = await app.inject({ url: '/api/customers', headers: { 'x-mock-fault': 'failFirst=1,failWith=rateLimit,retryAfter=2' } });
    expectProblem(limited, 429);
    expect(limited.headers['retry-after']).toBe('2');
    expectProblem(await app.inject({ url: '/api/customers', headers: { 'x-mock-fault': 'errorRate=1,errorStatus=500' } }), 500);
    expectProblem(await app.inject({ url: '/api/customers', headers: { 'x-mock-fault': 'errorRate=1' } }), 503);
  });

  it('500: an unexpected failure tells the client nothing internal', async () => {
    const body = expectProblem(await app.inject('/test/boom'), 500);
    expect(body.detail).toBe('Internal server error');
  });
});
