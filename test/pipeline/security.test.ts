// The API key on the ingest and run routes, the read rate limit, security
// headers, CORS, and the settings behind them.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { loadConfig } from '../../src/core/config.js';
import { buildMockApp } from '../../src/mock-server/app.js';
import { datasetFromRecords } from '../../src/core/mock/dataset.js';
import { buildTestPipeline, startMockSource, type MockSource, type TestPipeline } from '../support/apps.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';

const KEY = 'correct-horse-battery-staple-42';
const record = {
  customer_id: 'S-1',
  first_name: 'Sam',
  last_name: 'Vimes',
  email: 'sam@example.com',
  phone: null,
  address: null,
  date_of_birth: null,
  account_balance: null,
  created_at: null,
};

describe('INGEST_API_KEY', () => {
  let source: MockSource;
  let db: TestDatabase;
  let guarded: TestPipeline;
  let open: TestPipeline;

  beforeAll(async () => {
    source = await startMockSource([record]);
    db = await createTestDatabase();
    guarded = await buildTestPipeline(source.url, { security: { apiKey: KEY } }, db);
    open = await buildTestPipeline(source.url, {}, db);
  });
  afterAll(async () => {
    await guarded?.close();
    await open?.close();
    await db?.drop();
    await source?.close();
  });

  const ingest = (headers: Record<string, string> = {}) => guarded.app.inject({ method: 'POST', url: '/api/ingest', headers });

  it('rejects an ingest without a key: 401 problem with WWW-Authenticate: Bearer', async () => {
    const res = await ingest();
    expect(res.statusCode).toBe(401);
    expect(res.headers['www-authenticate']).toMatch(/^Bearer realm=/);
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(res.json()).toMatchObject({ status: 401, title: 'Unauthorized' });
    expect(res.body).not.toContain(KEY);
  });

  it.each([
    ['a wrong key', `Bearer ${KEY.replace('42', '43')}`],
    ['a shorter key', `Bearer ${KEY.slice(0, -1)}`],
    ['a longer key', `Bearer ${KEY}x`],
    ['a much longer key', `Bearer ${KEY.repeat(20)}`],
    ['the key with another scheme', `Basic ${KEY}`],
    ['the key without a scheme', KEY],
    ['an empty bearer', 'Bearer '],
    ['two tokens', `Bearer ${KEY} ${KEY}`],
  ])('rejects %s with 401', async (_name, authorization) => {
    const res = await ingest({ authorization });
    expect(res.statusCode).toBe(401);
    expect(res.headers['www-authenticate']).toMatch(/^Bearer/);
  });

  it('runs the ingest with the right key (any case of "Bearer")', async () => {
    const res = await ingest({ authorization: `Bearer ${KEY}` });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ status: 'success', inserted: 1 });
    expect((await ingest({ authorization: `bearer ${KEY}` })).statusCode).toBe(200);
  });

  it('guards the run routes too; customer reads and probes stay open', async () => {
    for (const url of ['/api/ingest/runs', '/api/ingest/runs/1', '/api/ingest/runs/1/rejected', '/api/ingest/runs/1/events']) {
      expect((await guarded.app.inject(url)).statusCode, url).toBe(401);
    }
    for (const url of ['/api/ingest/runs', '/api/ingest/runs/1', '/api/ingest/runs/1/rejected']) {
      expect((await guarded.app.inject({ url, headers: { authorization: `Bearer ${KEY}` } })).statusCode, url).toBe(200);
    }
    for (const url of ['/api/customers', '/api/customers/S-1', '/api/health', '/api/ready', '/metrics', '/openapi.json']) {
      expect((await guarded.app.inject(url)).statusCode, url).toBe(200);
    }
  });

  it('leaves the ingest open when no key is set', async () => {
    expect((await open.app.inject({ method: 'POST', url: '/api/ingest' })).statusCode).toBe(200);
    expect((await open.app.inject('/api/ingest/runs')).statusCode).toBe(200);
  });
});

describe('RATE_LIMIT_PER_MINUTE', () => {
  let source: MockSource;
  let limited: TestPipeline;
  beforeAll(async () => {
    source = await startMockSource([record]);
    limited = await buildTestPipeline(source.url, { security: { rateLimitPerMinute: 3 } });
  });
  afterAll(async () => {
    await limited?.close();
    await source?.close();
  });

  it('answers 429 with Retry-After past the limit of reads per client', async () => {
    const from = (remoteAddress: string, url = '/api/customers') => limited.app.inject({ url, remoteAddress });
    for (let i = 0; i < 3; i++) {
      const ok = await from('10.0.0.1');
      expect(ok.statusCode).toBe(200);
      expect(ok.headers['x-ratelimit-remaining']).toBe(String(2 - i));
    }
    const over = await from('10.0.0.1', '/api/customers/S-1');
    expect(over.statusCode).toBe(429);
    expect(over.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(Number(over.headers['retry-after'])).toBeGreaterThan(0);
    expect(over.json()).toMatchObject({ status: 429, title: 'Too Many Requests' });
    // Another client has its own allowance.
    expect((await from('10.0.0.2')).statusCode).toBe(200);
  });

  it('limits reads only: probes, metrics and the ingest are not limited', async () => {
    for (let i = 0; i < 5; i++) {
      for (const url of ['/api/health', '/api/ready', '/metrics']) {
        expect((await limited.app.inject({ url, remoteAddress: '10.0.0.9' })).statusCode, url).toBe(200);
      }
    }
    for (let i = 0; i < 4; i++) {
      const res = await limited.app.inject({ method: 'POST', url: '/api/ingest', remoteAddress: '10.0.0.9' });
      expect(res.statusCode).toBe(200);
      expect(res.headers['x-ratelimit-limit']).toBeUndefined();
    }
  });

  it('is off by default', async () => {
    const free = await buildTestPipeline(source.url, {}, limited.db);
    try {
      for (let i = 0; i < 20; i++) expect((await free.app.inject('/api/customers')).statusCode).toBe(200);
      expect((await free.app.inject('/api/customers')).headers['x-ratelimit-limit']).toBeUndefined();
    } finally {
      await free.close();
    }
  });
});

describe('security headers and CORS', () => {
  let source: MockSource;
  let plain: TestPipeline;
  let withCors: TestPipeline;
  let mock: FastifyInstance;
  beforeAll(async () => {
    source = await startMockSource([record]);
    plain = await buildTestPipeline(source.url);
    withCors = await buildTestPipeline(source.url, { security: { corsOrigins: ['https://app.example.com'] } }, plain.db);
    mock = await buildMockApp({ dataset: datasetFromRecords([record]) });
  });
  afterAll(async () => {
    await withCors?.close();
    await plain?.close();
    await mock?.close();
    await source?.close();
  });

  it.each([
    ['pipeline', () => plain.app, '/api/customers'],
    ['pipeline (error)', () => plain.app, '/api/customers/NOPE'],
    ['mock', () => mock, '/api/customers'],
  ])('%s answers with security headers', async (_name, app, url) => {
    const res = await app().inject(url);
    expect(res.headers).toMatchObject({
      'x-content-type-options': 'nosniff',
      'x-frame-options': 'SAMEORIGIN',
      'referrer-policy': 'no-referrer',
      'cross-origin-resource-policy': 'same-origin',
    });
    expect(res.headers['content-security-policy']).toMatch(/default-src 'self'/);
    expect(res.headers['content-security-policy']).not.toMatch(/upgrade-insecure-requests/);
    expect(res.headers['x-powered-by']).toBeUndefined();
  });

  it('has CORS off unless configured', async () => {
    const res = await plain.app.inject({ url: '/api/customers', headers: { origin: 'https://app.example.com' } });
    expect(res.headers['access-control-allow-origin']).toBeUndefined();
    const preflight = await plain.app.inject({
      method: 'OPTIONS',
      url: '/api/customers',
      headers: { origin: 'https://app.example.com', 'access-control-request-method': 'GET' },
    });
    expect(preflight.statusCode).toBe(405);
    expect(preflight.headers['access-control-allow-origin']).toBeUndefined();
  });

  it('allows the configured origins only', async () => {
    const ok = await withCors.app.inject({ url: '/api/customers', headers: { origin: 'https://app.example.com' } });
    expect(ok.headers['access-control-allow-origin']).toBe('https://app.example.com');
    expect(ok.headers['access-control-expose-headers']).toMatch(/X-Request-Id/);
    const other = await withCors.app.inject({ url: '/api/customers', headers: { origin: 'https://evil.example.net' } });
    expect(other.headers['access-control-allow-origin']).toBeUndefined();
    const preflight = await withCors.app.inject({
      method: 'OPTIONS',
      url: '/api/ingest',
      headers: {
        origin: 'https://app.example.com',
        'access-control-request-method': 'POST',
        'access-control-request-headers': 'authorization',
      },
    });
    expect(preflight.statusCode).toBe(204);
    expect(preflight.headers['access-control-allow-methods']).toContain('POST');
    expect(preflight.headers['access-control-allow-headers']).toMatch(/Authorization/);
  });

  it('answers a preflight without Origin or the requested method with a 400 problem, not plain text', async () => {
    for (const headers of [{ 'access-control-request-method': 'GET' }, { origin: 'https://app.example.com' }, {}]) {
      const res = await withCors.app.inject({ method: 'OPTIONS', url: '/api/customers', headers });
      expect(res.statusCode).toBe(400);
      expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect(res.json()).toMatchObject({ status: 400, detail: expect.stringMatching(/Origin and Access-Control-Request-Method/) });
    }
  });
});

describe('security settings', () => {
  it('reads them, off by default', () => {
    expect(loadConfig({})).toMatchObject({ security: { apiKey: null, rateLimitPerMinute: 0, corsOrigins: [] }, log: { requests: true } });
    expect(
      loadConfig({
        INGEST_API_KEY: KEY,
        RATE_LIMIT_PER_MINUTE: '600',
        CORS_ORIGINS: 'https://a.example.com, http://localhost:5173/',
        LOG_REQUESTS: 'false',
      }),
    ).toMatchObject({
      security: { apiKey: KEY, rateLimitPerMinute: 600, corsOrigins: ['https://a.example.com', 'http://localhost:5173'] },
      log: { requests: false },
    });
    expect(loadConfig({ CORS_ORIGINS: '*' }).security.corsOrigins).toEqual(['*']);
  });

  it.each([
    ['INGEST_API_KEY', 'short', /INGEST_API_KEY must be at least 16 characters/],
    ['INGEST_API_KEY', 'sixteen chars with spaces', /INGEST_API_KEY must be printable ASCII without spaces/],
    ['RATE_LIMIT_PER_MINUTE', '-1', /RATE_LIMIT_PER_MINUTE must be a whole number/],
    ['CORS_ORIGINS', 'https://a.example.com/path', /CORS_ORIGINS must list origins/],
    ['CORS_ORIGINS', 'ftp://a.example.com', /CORS_ORIGINS must list origins/],
    ['LOG_REQUESTS', 'maybe', /LOG_REQUESTS must be true or false/],
  ])('stops on a bad %s (%s)', (name, value, message) => {
    expect(() => loadConfig({ [name]: value })).toThrow(message);
  });
});
