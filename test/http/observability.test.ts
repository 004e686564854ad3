// Logs and request ids: one JSON line per request with the route pattern,
// status, duration and request id (the caller's when sane); no personal data
// beyond the customer id, and never a query string.
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { buildMockApp } from '../../src/mock-server/app.js';
import { datasetFromRecords } from '../../src/core/mock/dataset.js';
import { buildPipelineApp } from '../../src/pipeline/app.js';
import { createLogger } from '../../src/services.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';
import { startMockSource, TEST_CONFIG, type MockSource } from '../support/apps.js';

type Line = Record<string, unknown>;

/** The production logger, writing into an array. */
function capturedLogger() {
  const raw: string[] = [];
  const stream = new Writable({
    write(chunk, _enc, done) {
      raw.push(...String(chunk).split('\n').filter(Boolean));
      done();
    },
  });
  const logger = createLogger({ log: { level: 'info', requests: true } }, 'test', stream);
  return { logger, raw, lines: () => raw.map((l) => JSON.parse(l) as Line) };
}

const PERSON = {
  customer_id: 'OBS-1',
  first_name: 'Philippa',
  last_name: 'Quernsbury',
  email: 'philippa.quernsbury@example.org',
  phone: '+44-20-7946-0958',
  address: '221B Baker Street',
  date_of_birth: '1970-04-01',
  account_balance: 4321.09,
  created_at: '2024-01-15T10:30:00',
};
const PERSONAL = [PERSON.first_name, PERSON.last_name, PERSON.email, PERSON.phone, PERSON.address, '4321.09', '1970-04-01'];
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

describe('pipeline logs and request ids', () => {
  let db: TestDatabase;
  let source: MockSource;
  let app: FastifyInstance;
  const log = capturedLogger();

  beforeAll(async () => {
    db = await createTestDatabase();
    source = await startMockSource([PERSON]);
    app = await buildPipelineApp({ pool: db.pool, sourceUrl: source.url, config: TEST_CONFIG, logger: log.logger });
    await app.ready();
    expect((await app.inject({ method: 'POST', url: '/api/ingest', headers: { 'x-request-id': 'ingest-1' } })).statusCode).toBe(200);
  });
  afterAll(async () => {
    await app?.close();
    await source?.close();
    await db?.drop();
  });

  it('honours a sane incoming x-request-id and sends it back', async () => {
    const res = await app.inject({ url: '/api/customers/OBS-1', headers: { 'x-request-id': 'req-42.a:b_c' } });
    expect(res.statusCode).toBe(200);
    expect(res.headers['x-request-id']).toBe('req-42.a:b_c');
  });

  it('replaces a missing or unreasonable x-request-id with a fresh UUID', async () => {
    const none = await app.inject('/api/health');
    const other = await app.inject('/api/health');
    expect(none.headers['x-request-id']).toMatch(UUID);
    expect(other.headers['x-request-id']).not.toBe(none.headers['x-request-id']);
    for (const bad of ['has spaces in it', 'x'.repeat(200), '{"json":1}']) {
      const res = await app.inject({ url: '/api/health', headers: { 'x-request-id': bad } });
      expect(res.headers['x-request-id']).toMatch(UUID);
    }
  });

  it('writes one line per request: method, route pattern, status, duration, request id', async () => {
    await app.inject({ url: '/api/customers/OBS-1', headers: { 'x-request-id': 'one-line' } });
    const mine = log.lines().filter((l) => l.request_id === 'one-line');
    expect(mine).toHaveLength(1);
    expect(mine[0]).toMatchObject({ level: 30, msg: 'request', method: 'GET', route: '/api/customers/:customer_id', status: 200 });
    expect(typeof mine[0]!.ms).toBe('number');
    expect(mine[0]).not.toHaveProperty('url');
    expect(mine[0]).not.toHaveProperty('req');
  });

  it('logs the ingest with its request id and counts', async () => {
    const ingest = log.lines().filter((l) => l.request_id === 'ingest-1');
    expect(ingest.map((l) => l.msg)).toEqual(expect.arrayContaining(['ingest started', 'ingest succeeded', 'request']));
    expect(ingest.find((l) => l.msg === 'ingest succeeded')).toMatchObject({ inserted: 1 });
  });

  it('never logs a query string or a customer field other than the id', async () => {
    const q = `q=${PERSON.last_name}&email=${encodeURIComponent(PERSON.email)}`;
    await app.inject({ url: `/api/customers?${q}`, headers: { 'x-request-id': 'with-query' } });
    await app.inject({ url: `/api/customers?page=1&limit=5&${q}` });
    await app.inject({ url: `/api/nowhere/${PERSON.email}?${q}` });
    await app.inject({ url: '/api/customers/OBS-1' });
    await app.inject({ url: '/api/customers?page=0&email=x' });
    const line = log.lines().find((l) => l.request_id === 'with-query');
    expect(line).toMatchObject({ route: '/api/customers' });
    const all = log.raw.join('\n');
    for (const value of [...PERSONAL, 'email=', 'q=']) expect(all, value).not.toContain(value);
  });

  it('logs a database error without the row data the driver attached to it', async () => {
    const before = log.raw.length;
    const err = await db.pool
      .query(`CREATE TEMP TABLE t (email text UNIQUE); INSERT INTO t VALUES ('${PERSON.email}'), ('${PERSON.email}')`)
      .catch((e: Error) => e);
    expect(String((err as { detail?: string }).detail)).toContain(PERSON.email);
    log.logger.error({ err }, 'query failed');
    const line = JSON.parse(log.raw[before]!) as Line;
    expect(line.err).toMatchObject({ type: 'DatabaseError', code: '23505' });
    expect(log.raw[before]).not.toContain(PERSON.email);
  });
});

describe('request logging settings, and the mock', () => {
  it('LOG_REQUESTS=false writes no request lines', async () => {
    const log = capturedLogger();
    const app = await buildMockApp({ dataset: datasetFromRecords([PERSON]), logger: log.logger, logRequests: false });
    await app.inject('/api/customers');
    await app.close();
    expect(log.lines().filter((l) => l.msg === 'request')).toEqual([]);
  });

  it('the mock answers with request ids and logs one line per request too', async () => {
    const log = capturedLogger();
    const app = await buildMockApp({ dataset: datasetFromRecords([PERSON]), logger: log.logger });
    const res = await app.inject({ url: '/api/customers/OBS-1', headers: { 'x-request-id': 'mock-1' } });
    expect(res.headers['x-request-id']).toBe('mock-1');
    await app.inject({ method: 'DELETE', url: '/api/customers/OBS-1', headers: { 'x-request-id': 'mock-2' } });
    await app.close();
    expect(log.lines().filter((l) => l.msg === 'request')).toEqual([
      expect.objectContaining({ request_id: 'mock-1', route: '/api/customers/:customer_id', status: 200 }),
      expect.objectContaining({ request_id: 'mock-2', route: null, status: 405 }),
    ]);
    expect(log.raw.join('\n')).not.toContain(PERSON.email);
  });
});
