// A client's mistake is a 400 problem naming the parameter, never a 5xx or a
// 200 with a guess: every integer parameter of both services (page, limit, run
// id) takes decimal digits only, whatever Number() or Ajv's coercion would read.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { buildMockApp } from '../../src/mock-server/app.js';
import { datasetFromRecords } from '../../src/core/mock/dataset.js';
import { buildPipelineApp } from '../../src/pipeline/app.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';
import { TEST_CONFIG } from '../support/apps.js';

/** A 400 problem whose invalid_params name `name` (in `where`), with no stack in it. */
export function expectInvalidParam(res: LightMyRequestResponse, name: string, where: 'query' | 'path'): void {
  expect(res.statusCode, res.body).toBe(400);
  expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
  const body = res.json() as { status: number; invalid_params?: { name: string; in: string; reason: string }[] };
  expect(body.status).toBe(400);
  expect(body.invalid_params).toEqual(expect.arrayContaining([expect.objectContaining({ name, in: where, reason: expect.any(String) })]));
  expect(res.body).not.toMatch(/\n\s+at |\.(ts|js):\d+/);
}

/** Texts that are not decimal integers, as they go into a URL. */
const NOT_INTEGERS: [string, string][] = [
  ['Infinity', 'Infinity'],
  ['-Infinity', '-Infinity'],
  ['NaN', 'NaN'],
  ['1e309', '1e309'],
  ['1e3', '1e3'],
  ['1.0', '1.0'],
  ['a leading space', '%201'],
  ['a trailing space', '1%20'],
  ['+1', '%2B1'],
  ['-1', '-1'],
  ['a leading zero', '01'],
  ['hex 0x10', '0x10'],
  ['binary 0b1', '0b1'],
  ['1_000', '1_000'],
  ['400 digits', '9'.repeat(400)],
  ['16 digits', '1'.repeat(16)],
  ['true', 'true'],
];
/** Only query parameters can be empty or repeated. */
const NOT_QUERY_INTEGERS: [string, string][] = [...NOT_INTEGERS, ['empty', ''], ['a bare +', '+1']];

const record = {
  customer_id: 'E-1',
  first_name: 'Ada',
  last_name: 'Lovelace',
  email: 'ada@example.com',
  phone: null,
  address: null,
  date_of_birth: null,
  account_balance: null,
  created_at: null,
};

describe('integer parameters on the mock', () => {
  let app: FastifyInstance;
  beforeAll(async () => {
    app = await buildMockApp({ dataset: datasetFromRecords([record]), maxLimit: 1000 });
  });
  afterAll(() => app?.close());

  describe.each(['page', 'limit'])('%s', (name) => {
    it.each(NOT_QUERY_INTEGERS)('%s: 400 naming it', async (_label, text) => {
      expectInvalidParam(await app.inject(`/api/customers?${name}=${text}`), name, 'query');
    });
    it('given twice: 400 naming it', async () => {
      expectInvalidParam(await app.inject(`/api/customers?${name}=1&${name}=2`), name, 'query');
    });
  });

  it('still takes decimal integers up to their maximum', async () => {
    const res = await app.inject('/api/customers?page=1000000000&limit=1000');
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ data: [], total: 1, page: 1_000_000_000, limit: 1000 });
    expectInvalidParam(await app.inject('/api/customers?page=1000000001'), 'page', 'query');
    expectInvalidParam(await app.inject('/api/customers?limit=1001'), 'limit', 'query');
  });
});

describe('integer parameters on the pipeline', () => {
  let db: TestDatabase;
  let app: FastifyInstance;
  beforeAll(async () => {
    db = await createTestDatabase();
    app = await buildPipelineApp({ pool: db.pool, sourceUrl: 'http://127.0.0.1:9', config: TEST_CONFIG });
    await app.ready();
  });
  afterAll(async () => {
    await app?.close();
    await db?.drop();
  });

  const paged = ['/api/customers', '/api/customers?sort=-created_at', '/api/ingest/runs', '/api/ingest/runs/1/rejected'];
  describe.each(paged.flatMap((route) => ['page', 'limit'].map((name) => [route, name] as const)))('%s %s', (route, name) => {
    const sep = route.includes('?') ? '&' : '?';
    it.each(NOT_QUERY_INTEGERS)('%s: 400 naming it', async (_label, text) => {
      expectInvalidParam(await app.inject(`${route}${sep}${name}=${text}`), name, 'query');
    });
    it('given twice: 400 naming it', async () => {
      expectInvalidParam(await app.inject(`${route}${sep}${name}=1&${name}=2`), name, 'query');
    });
  });

  describe.each(['/api/ingest/runs/%s', '/api/ingest/runs/%s/events', '/api/ingest/runs/%s/rejected'])('run id of %s', (route) => {
    it.each(NOT_INTEGERS)('%s: 400 naming it', async (_label, text) => {
      expectInvalidParam(await app.inject(route.replace('%s', text)), 'id', 'path');
    });
    it('past the largest run id: 400 naming it; the largest is looked up (404)', async () => {
      expectInvalidParam(await app.inject(route.replace('%s', '2147483648')), 'id', 'path');
      const res = await app.inject(route.replace('%s', '2147483647'));
      expect(res.statusCode).toBe(404);
      expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    });
  });

  it('still takes decimal integers up to their maximum', async () => {
    const res = await app.inject('/api/customers?page=1000000000&limit=1000');
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ data: [], page: 1_000_000_000, limit: 1000 });
    const runs = await app.inject('/api/ingest/runs?page=1000000000&limit=1000');
    expect(runs.statusCode).toBe(200);
  });
});

// customer_id is at most 50 characters (LIMITS, the record schema): any id up
// to that is looked up, even when percent-encoding makes its path 600
// characters long; a longer one cannot exist and is a 400 naming it.
const MAX_IDS: [string, string][] = [
  ['ASCII', 'A'.repeat(50)],
  ['3-byte UTF-8', '語'.repeat(50)],
  ['4-byte UTF-8 (surrogate pairs)', '𝄞'.repeat(50)],
  ['mixed', `${'é'.repeat(20)}${'𝄞'.repeat(20)}${'x'.repeat(10)}`],
];
const STORED_MAX_ID = `${'𝄞'.repeat(49)}Z`;
const TOO_LONG_IDS: [string, string][] = [
  ['51 ASCII', 'A'.repeat(51)],
  ['51 4-byte', '𝄞'.repeat(51)],
  ['5000 ASCII', 'A'.repeat(5000)],
];

describe.each([
  [
    'mock',
    async () => ({
      app: await buildMockApp({ dataset: datasetFromRecords([{ ...record, customer_id: STORED_MAX_ID }]) }),
      done: async () => {},
    }),
  ],
  [
    'pipeline',
    async () => {
      const db = await createTestDatabase();
      const app = await buildPipelineApp({ pool: db.pool, sourceUrl: 'http://127.0.0.1:9', config: TEST_CONFIG });
      return { app, done: () => db.drop() };
    },
  ],
] as const)('customer ids on the %s', (service, build) => {
  let app: FastifyInstance;
  let done: () => Promise<void>;
  beforeAll(async () => {
    ({ app, done } = await build());
    await app.ready();
  });
  afterAll(async () => {
    await app?.close();
    await done?.();
  });

  it.each(MAX_IDS)('an unknown id of the maximum length (%s) is looked up: 404 problem', async (_label, id) => {
    const url = `/api/customers/${encodeURIComponent(id)}`;
    const res = await app.inject(url);
    expect(res.statusCode, res.body).toBe(404);
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(res.json().detail).toContain(id);
  });

  it.each(TOO_LONG_IDS)('an id longer than the maximum (%s): 400 naming customer_id', async (_label, id) => {
    expectInvalidParam(await app.inject(`/api/customers/${encodeURIComponent(id)}`), 'customer_id', 'path');
  });

  it.runIf(service === 'mock')('a stored id of the maximum length, 600 characters encoded, is found', async () => {
    const url = `/api/customers/${encodeURIComponent(STORED_MAX_ID)}`;
    expect(url.length).toBeGreaterThan(600);
    const res = await app.inject(url);
    expect(res.statusCode).toBe(200);
    expect(res.json().customer_id).toBe(STORED_MAX_ID);
  });
});
