// Requests refused before any route sees them (by Node's HTTP parser, by
// Fastify's router, by the URL limit) answer RFC 9457 problems like every
// other error, on both services. On real servers over raw sockets: inject
// bypasses Node's parser, which is what answers some of these.
import net from 'node:net';
import { STATUS_CODES } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { buildMockApp } from '../../src/mock-server/app.js';
import { datasetFromRecords } from '../../src/core/mock/dataset.js';
import { buildPipelineApp } from '../../src/pipeline/app.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';
import { TEST_CONFIG } from '../support/apps.js';

export interface RawResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** Writes `head` (and `body`) as is on a fresh connection; the answer once the server closes it. */
export function rawRequest(port: number, head: string, body = ''): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    socket.setTimeout(10_000, () => socket.destroy(new Error('no answer in 10 s')));
    socket.on('data', (c) => chunks.push(c));
    socket.on('error', reject);
    socket.on('close', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      const split = text.indexOf('\r\n\r\n');
      if (split < 0) return reject(new Error(`no HTTP answer: ${JSON.stringify(text.slice(0, 200))}`));
      const [statusLine, ...lines] = text.slice(0, split).split('\r\n');
      const headers: Record<string, string> = {};
      for (const line of lines) {
        const colon = line.indexOf(':');
        headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
      }
      resolve({ status: Number(statusLine!.split(' ')[1]), headers, body: text.slice(split + 4) });
    });
    socket.write(head + body);
  });
}

/** GET `target` with `extra` header lines, closing the connection after the answer. */
const get = (port: number, target: string, extra = '') =>
  rawRequest(port, `GET ${target} HTTP/1.1\r\nHost: localhost\r\n${extra}Connection: close\r\n\r\n`);

function expectRawProblem(res: RawResponse, status: number): Record<string, unknown> {
  expect(res.status, res.body.slice(0, 300)).toBe(status);
  expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
  expect(res.headers['x-request-id']).toBeTruthy();
  expect(Number(res.headers['content-length'])).toBe(Buffer.byteLength(res.body));
  const body = JSON.parse(res.body) as Record<string, unknown>;
  expect(body).toMatchObject({ type: 'about:blank', title: STATUS_CODES[status], status, detail: expect.any(String) });
  expect(res.body).not.toMatch(/\n\s+at |\.(ts|js):\d+/);
  return body;
}

describe.each([
  ['mock', async () => ({ app: await buildMockApp({ dataset: datasetFromRecords([]) }), done: async () => {} })],
  [
    'pipeline',
    async () => {
      const db: TestDatabase = await createTestDatabase();
      const app = await buildPipelineApp({ pool: db.pool, sourceUrl: 'http://127.0.0.1:9', config: TEST_CONFIG });
      return { app, done: () => db.drop() };
    },
  ],
] as const)('before routing, on the %s', (_name, build) => {
  let app: FastifyInstance;
  let done: () => Promise<void>;
  let port: number;
  beforeAll(async () => {
    ({ app, done } = await build());
    await app.listen({ host: '127.0.0.1', port: 0 });
    port = (app.server.address() as net.AddressInfo).port;
  });
  afterAll(async () => {
    await app?.close();
    await done?.();
  });

  it("431: header fields over Node's limit (16 KiB)", async () => {
    expectRawProblem(await get(port, '/api/customers', `X-Pad: ${'a'.repeat(20_000)}\r\n`), 431);
  });

  it('400, not 414: a 10 KB parameter within the URL limit is judged by its schema', async () => {
    const body = expectRawProblem(await get(port, `/api/customers?page=${'9'.repeat(10_240)}`), 400);
    expect(body.invalid_params).toEqual([expect.objectContaining({ name: 'page', in: 'query' })]);
  });

  it('431: a URL past that limit too (the request line counts)', async () => {
    expectRawProblem(await get(port, `/api/customers?q=${'a'.repeat(20_000)}`), 431);
  });

  it('414: a URL over 12288 characters, in the path or the query; not echoed back', async () => {
    const longPath = expectRawProblem(await get(port, `/api/customers/${'a'.repeat(13_000)}`), 414);
    expect(longPath).not.toHaveProperty('instance');
    expectRawProblem(await get(port, `/api/customers?q=${'a'.repeat(13_000)}`), 414);
    expectRawProblem(await get(port, `/nothing/${'a'.repeat(13_000)}`), 414);
  });

  it('400: a path that is not valid percent-encoded UTF-8', async () => {
    for (const target of ['/api/customers/%E0%A4%A', '/api/customers/%ZZ', '/api/customers/%C0%80']) {
      const body = expectRawProblem(await get(port, target), 400);
      expect(body.invalid_params).toEqual([expect.objectContaining({ name: 'path', in: 'path' })]);
    }
  });

  it('400: a query with bad percent-encoding is a bad parameter, not a crash', async () => {
    const body = expectRawProblem(await get(port, '/api/customers?page=%E0%A4%A'), 400);
    expect(body.invalid_params).toEqual([expect.objectContaining({ name: 'page', in: 'query' })]);
  });

  it('400: a request that is not HTTP', async () => {
    expectRawProblem(await rawRequest(port, 'FOO BAR\r\n\r\n'), 400);
    expectRawProblem(await rawRequest(port, 'GET / HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n'), 400);
  });

  it('a body on a GET is ignored: the read answers as without it', async () => {
    const res = await rawRequest(
      port,
      'GET /api/customers HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 5\r\nConnection: close\r\n\r\n',
      '{bad}',
    );
    expect(res.status).toBe(200);
    expect(JSON.parse(res.body)).toMatchObject({ data: [], page: 1, limit: 10 });
  });

  it('after such an answer, the server goes on answering', async () => {
    const res = await get(port, '/api/health');
    expect(res.status).toBe(200);
  });
});

describe('request bodies on the pipeline', () => {
  let db: TestDatabase;
  let app: FastifyInstance;
  beforeAll(async () => {
    db = await createTestDatabase();
    app = await buildPipelineApp({ pool: db.pool, sourceUrl: 'http://127.0.0.1:9', config: TEST_CONFIG });
  });
  afterAll(async () => {
    await app?.close();
    await db?.drop();
  });

  it.each([
    ['malformed JSON', 400, 'application/json', '{"mode":'],
    ['an empty JSON body', 400, 'application/json', ''],
    ['a type the service does not read', 415, 'application/xml', '<ingest/>'],
    ['a multipart form', 415, 'multipart/form-data; boundary=x', '--x--'],
  ] as const)('POST /api/ingest with %s: %i problem', async (_label, status, type, payload) => {
    const res = await app.inject({ method: 'POST', url: '/api/ingest', headers: { 'content-type': type }, payload });
    expect(res.statusCode, res.body).toBe(status);
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(res.json()).toMatchObject({ status });
    expect(res.body).not.toMatch(/\n\s+at |\.(ts|js):\d+/);
  });
});
