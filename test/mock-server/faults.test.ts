// Fault injection in the mock source, against the real server on port 0:
// resets and cut bodies only show on a socket, not through inject().
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { Agent, request } from 'undici';
import type { FastifyInstance } from 'fastify';
import { buildMockApp } from '../../src/mock-server/app.js';
import { datasetFromRecords } from '../../src/core/mock/dataset.js';
import { FaultInjector } from '../../src/mock-server/faults.js';
import {
  FaultSpecError,
  FaultSpecSchema,
  formatFaultSpec,
  parseFaultSpec,
  withDefaults,
  type FaultSpec,
} from '../../src/core/mock/fault-spec.js';
import { ConfigError, loadConfig, PACKAGE_ROOT } from '../../src/core/config.js';

const records = JSON.parse(readFileSync(path.join(PACKAGE_ROOT, 'data', 'customers.json'), 'utf8')) as {
  customer_id: string;
}[];

// One client for the file; a reset or a cut body costs it only that socket.
const agent = new Agent({ keepAliveTimeout: 1000 });
afterAll(() => agent.close());

const servers: FastifyInstance[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

async function serve(faults?: FaultSpec | string | FaultInjector | null): Promise<string> {
  const app = await buildMockApp({ dataset: datasetFromRecords(records), maxLimit: 1000, faults });
  servers.push(app);
  return app.listen({ host: '127.0.0.1', port: 0 });
}

interface Outcome {
  status: number | null;
  headers: Record<string, string | string[] | undefined>;
  body: string | null;
  /** The error code when the connection failed (no answer, or a body cut short). */
  error: string | null;
}

async function get(url: string, headers: Record<string, string> = {}): Promise<Outcome> {
  let status: number | null = null;
  let resHeaders: Outcome['headers'] = {};
  try {
    const res = await request(url, { dispatcher: agent, headers });
    status = res.statusCode;
    resHeaders = res.headers;
    return { status, headers: resHeaders, body: await res.body.text(), error: null };
  } catch (err) {
    return { status, headers: resHeaders, body: null, error: (err as { code?: string }).code ?? String(err) };
  }
}

/** A short label of an outcome, for comparing sequences. */
function label(o: Outcome): string {
  if (o.error) return `${o.status ?? 'no-answer'}:${o.error}`;
  const applied = o.headers['x-mock-fault-applied'];
  return `${o.status}${applied ? `:${String(applied)}` : ''}`;
}

async function sequence(base: string, n: number, p = '/api/customers?limit=5'): Promise<string[]> {
  const out: string[] = [];
  for (let i = 0; i < n; i++) out.push(label(await get(base + p)));
  return out;
}

const isJson = (text: string | null) => {
  try {
    JSON.parse(text ?? '');
    return true;
  } catch {
    return false;
  }
};

describe('fault spec', () => {
  it('parses key=value pairs separated by ",", to the types of the schema', () => {
    expect(parseFaultSpec('errorRate=0.25,errorStatus=500,seed=7,failWith=reset,failFirst=2')).toEqual({
      errorRate: 0.25,
      errorStatus: 500,
      seed: 7,
      failWith: 'reset',
      failFirst: 2,
    });
    expect(parseFaultSpec(' rateLimitEvery=3, retryAfter=2 ,retryAfterFormat=date ')).toEqual({
      rateLimitEvery: 3,
      retryAfter: 2,
      retryAfterFormat: 'date',
    });
  });

  it('reads "none" and "" as no faults', () => {
    expect(parseFaultSpec('none')).toBeNull();
    expect(parseFaultSpec('  ')).toBeNull();
  });

  it('formats a spec back to the compact form', () => {
    const spec: FaultSpec = { latencyMs: 5, errorRate: 0.5, failWith: 'malformed' };
    expect(parseFaultSpec(formatFaultSpec(spec))).toEqual(spec);
  });

  it.each([
    ['bogus=1', /unknown fault setting "bogus"/],
    ['errorRate=2', /errorRate must be a number from 0 to 1/],
    ['errorRate=abc', /errorRate must be a number from 0 to 1/],
    ['errorStatus=200', /errorStatus must be a whole number from 400 to 599/],
    ['rateLimitEvery=0', /rateLimitEvery must be a whole number from 1/],
    ['latencyMs=1.5', /latencyMs must be a whole number/],
    ['failWith=explode', /failWith must be one of error, rateLimit, reset/],
    ['truncateMode=half', /truncateMode must be one of cut, json/],
    ['errorRate', /"errorRate" is not key=value/],
    ['errorRate=', /"errorRate=" is not key=value/],
    ['errorRate=0.6,malformedRate=0.6', /add up to 1.2, more than 1/],
    ['errorRate=0.1,errorRate=0.2', /errorRate is given twice/],
    ['constructor=1', /unknown fault setting "constructor"/],
  ])('rejects %s, naming what is wrong', (text, message) => {
    expect(() => parseFaultSpec(text)).toThrow(FaultSpecError);
    expect(() => parseFaultSpec(text)).toThrow(message);
  });

  it.each([
    ['errorRate=2', 'errorRate must be a number from 0 to 1, got "2"'],
    ['errorStatus=200', 'errorStatus must be a whole number from 400 to 599, got "200"'],
    ['latencyMs=1.5', 'latencyMs must be a whole number from 0 to 600000, got "1.5"'],
    ['failWith=explode', 'failWith must be one of error, rateLimit, reset, truncate, malformed, wrongShape, slow, got "explode"'],
    [
      'bogus=1',
      'unknown fault setting "bogus" (known: latencyMs, latencyJitterMs, errorRate, errorStatus, rateLimitEvery, retryAfter, retryAfterFormat, resetRate, resetEvery, truncateRate, truncateMode, malformedRate, wrongShapeRate, slowRate, slowMs, failFirst, failAfter, failWith, seed)',
    ],
  ])('says of %s which key, what it accepts and what it got', (text, message) => {
    expect(() => parseFaultSpec(text)).toThrow(message);
  });

  it.each([
    ['a JSON object', '{"errorRate": 0.1}', '{"errorRate": 0.1}'],
    ['":" for "="', 'errorRate:0.1', 'errorRate:0.1'],
    ['";" between pairs', 'errorRate=0.1;seed=7', 'errorRate=0.1;seed=7'],
    ['spaces between pairs', 'errorRate=0.1 seed=7', 'errorRate=0.1 seed=7'],
  ])('refuses %s (no longer a spec), showing the syntax', (_form, text, shown) => {
    expect(() => parseFaultSpec(text)).toThrow(FaultSpecError);
    expect(() => parseFaultSpec(text)).toThrow(
      `"${shown}" is not key=value: a fault spec is key=value pairs separated by "," (e.g. errorRate=0.2,errorStatus=500,seed=7), or "none"`,
    );
  });

  it('checks a spec given as an object too', () => {
    expect(() => new FaultInjector({ errorRate: 2 })).toThrow('errorRate must be a number from 0 to 1, got 2');
    expect(() => new FaultInjector({ errorRate: 0.6, slowRate: 0.6 })).toThrow(/add up to 1.2/);
  });

  it('fills in the defaults the schema declares; the every-N and failAfter settings are off when absent', () => {
    expect(withDefaults({})).toEqual({
      latencyMs: 0,
      latencyJitterMs: 0,
      errorRate: 0,
      errorStatus: 503,
      retryAfter: 1,
      retryAfterFormat: 'seconds',
      resetRate: 0,
      truncateRate: 0,
      truncateMode: 'cut',
      malformedRate: 0,
      wrongShapeRate: 0,
      slowRate: 0,
      slowMs: 10_000,
      failFirst: 0,
      failWith: 'error',
      seed: 0,
    });
    expect(withDefaults({ errorStatus: 500 }).errorStatus).toBe(500);
  });

  it('is read from MOCK_FAULTS at start; a bad value stops the start, naming the variable', () => {
    expect(loadConfig({}).mock.faults).toBeNull();
    expect(loadConfig({ MOCK_FAULTS: 'errorRate=0.1,seed=3' }).mock.faults).toEqual({ errorRate: 0.1, seed: 3 });
    expect(() => loadConfig({ MOCK_FAULTS: 'errorRate=7' })).toThrow(ConfigError);
    expect(() => loadConfig({ MOCK_FAULTS: 'errorRate=7' })).toThrow(/^MOCK_FAULTS: errorRate must be/);
    expect(() => loadConfig({ MOCK_FAULTS: '{"errorRate":0.1}' })).toThrow(/^MOCK_FAULTS: "\{"errorRate":0.1\}" is not key=value/);
  });
});

describe('fault decisions', () => {
  const run = (spec: FaultSpec, n: number) => {
    const injector = new FaultInjector(spec);
    return Array.from({ length: n }, () => {
      const d = injector.decide();
      return `${d.kind ?? '-'}/${d.delayMs}`;
    });
  };

  it('are the same for the same seed, and differ for another seed', () => {
    const spec: FaultSpec = { errorRate: 0.2, resetRate: 0.1, malformedRate: 0.1, latencyMs: 1, latencyJitterMs: 50, seed: 5 };
    expect(run(spec, 200)).toEqual(run(spec, 200));
    expect(run({ ...spec, seed: 6 }, 200)).not.toEqual(run(spec, 200));
  });

  it('apply each rate in about its share of requests', () => {
    const injector = new FaultInjector({ errorRate: 0.3, wrongShapeRate: 0.1, seed: 1 });
    for (let i = 0; i < 5000; i++) injector.decide();
    expect(injector.applied.error / 5000).toBeCloseTo(0.3, 1);
    expect(injector.applied.wrongShape / 5000).toBeCloseTo(0.1, 1);
    expect(injector.requests).toBe(5000);
  });

  it('start over when the spec is set again', () => {
    const injector = new FaultInjector('failFirst=1');
    expect(injector.decide().kind).toBe('error');
    expect(injector.decide().kind).toBeNull();
    injector.set('failFirst=1');
    expect(injector.decide().kind).toBe('error');
  });
});

describe('mock server faults', () => {
  it('answers errorRate=1 with the default 503 problem, and with errorStatus when given', async () => {
    const base = await serve('errorRate=1');
    const res = await get(`${base}/api/customers`);
    expect(res.status).toBe(503);
    expect(res.headers['content-type']).toMatch(/application\/problem\+json/);
    expect(res.headers['x-mock-fault-applied']).toBe('error');
    expect(JSON.parse(res.body!)).toMatchObject({ status: 503 });

    const other = await serve('errorRate=1,errorStatus=500');
    expect((await get(`${other}/api/customers`)).status).toBe(500);
  });

  it('fails the first N requests, then serves normally', async () => {
    const base = await serve('failFirst=2');
    expect(await sequence(base, 4)).toEqual(['503:error', '503:error', '200', '200']);
  });

  it('serves the first N requests, then fails every one after (failAfter)', async () => {
    const base = await serve('failAfter=2,failWith=malformed');
    expect(await sequence(base, 4)).toEqual(['200', '200', '200:malformed', '200:malformed']);
  });

  it('answers every Nth request 429 with Retry-After in seconds', async () => {
    const base = await serve('rateLimitEvery=3,retryAfter=2');
    const outcomes: Outcome[] = [];
    for (let i = 0; i < 6; i++) outcomes.push(await get(`${base}/api/customers`));
    expect(outcomes.map((o) => o.status)).toEqual([200, 200, 429, 200, 200, 429]);
    expect(outcomes[2]!.headers['retry-after']).toBe('2');
    expect(outcomes[0]!.headers['retry-after']).toBeUndefined();
  });

  it('states Retry-After as an HTTP date at least the asked seconds ahead, when asked', async () => {
    const base = await serve('rateLimitEvery=1,retryAfter=1,retryAfterFormat=date');
    const before = Date.now();
    const res = await get(`${base}/api/customers`);
    expect(res.status).toBe(429);
    const value = String(res.headers['retry-after']);
    expect(value).toMatch(/^\w{3}, \d{2} \w{3} \d{4} \d{2}:\d{2}:\d{2} GMT$/);
    expect(Date.parse(value) - before).toBeGreaterThanOrEqual(1000);
    expect(Date.parse(value) - before).toBeLessThanOrEqual(3000);
  });

  it('resets the connection with no answer (resetEvery)', async () => {
    const base = await serve('resetEvery=2');
    const [first, second, third] = [
      await get(`${base}/api/customers`),
      await get(`${base}/api/customers`),
      await get(`${base}/api/customers`),
    ];
    expect(first.status).toBe(200);
    expect(second.status).toBeNull();
    expect(['ECONNRESET', 'UND_ERR_SOCKET']).toContain(second.error);
    expect(third.status).toBe(200);
  });

  it('cuts a body in half and closes the connection (truncate, cut)', async () => {
    const base = await serve('failFirst=1,failWith=truncate');
    const cut = await get(`${base}/api/customers?limit=20`);
    expect(cut.status).toBe(200);
    expect(Number(cut.headers['content-length'])).toBeGreaterThan(0);
    expect(cut.body).toBeNull();
    expect(['UND_ERR_SOCKET', 'ECONNRESET']).toContain(cut.error);
    const whole = await get(`${base}/api/customers?limit=20`);
    expect(whole.status).toBe(200);
    expect(Number(cut.headers['content-length'])).toBe(Buffer.byteLength(whole.body!));
  });

  it('sends a complete 200 whose JSON is cut in half (truncate, json)', async () => {
    const base = await serve('failFirst=1,failWith=truncate,truncateMode=json');
    const cut = await get(`${base}/api/customers?limit=20`);
    const whole = await get(`${base}/api/customers?limit=20`);
    expect(cut.status).toBe(200);
    expect(cut.headers['x-mock-fault-applied']).toBe('truncate');
    expect(isJson(cut.body)).toBe(false);
    expect(whole.body!.startsWith(cut.body!)).toBe(true);
    expect(Buffer.byteLength(cut.body!)).toBe(Math.floor(Buffer.byteLength(whole.body!) / 2));
  });

  it('cuts a record looked up by id in half too (truncate, json)', async () => {
    const base = await serve('failFirst=1,failWith=truncate,truncateMode=json');
    const id = records[3]!.customer_id;
    const cut = await get(`${base}/api/customers/${id}`);
    const whole = Buffer.from(JSON.stringify(records[3]));
    expect(cut.status).toBe(200);
    expect(cut.headers['x-mock-fault-applied']).toBe('truncate');
    expect(Buffer.from(cut.body!).equals(whole.subarray(0, Math.floor(whole.length / 2)))).toBe(true);
    expect((await get(`${base}/api/customers/${id}`)).body).toBe(whole.toString());
  });

  it('answers 200 with a body that is not JSON (malformed)', async () => {
    const base = await serve('malformedRate=1');
    const res = await get(`${base}/api/customers`);
    expect(res.status).toBe(200);
    expect(res.headers['x-mock-fault-applied']).toBe('malformed');
    expect(isJson(res.body)).toBe(false);
  });

  it('answers 200 with JSON that has no data array (wrongShape)', async () => {
    const base = await serve('wrongShapeRate=1');
    const res = await get(`${base}/api/customers`);
    expect(res.status).toBe(200);
    const body = JSON.parse(res.body!);
    expect(body).toBeTypeOf('object');
    expect(body.data).toBeUndefined();
  });

  it('adds fixed latency to every answer', async () => {
    const base = await serve('latencyMs=150');
    const started = Date.now();
    const res = await get(`${base}/api/customers`);
    expect(res.status).toBe(200);
    expect(Date.now() - started).toBeGreaterThanOrEqual(145);
  });

  it('holds a slow answer for slowMs, then serves it whole', async () => {
    const base = await serve('failFirst=1,failWith=slow,slowMs=200');
    const started = Date.now();
    const res = await get(`${base}/api/customers?limit=3`);
    expect(Date.now() - started).toBeGreaterThanOrEqual(195);
    expect(res.status).toBe(200);
    expect(JSON.parse(res.body!).data).toHaveLength(3);
  });

  it('faults the record-by-id route too', async () => {
    const base = await serve('errorRate=1');
    expect((await get(`${base}/api/customers/${records[0]!.customer_id}`)).status).toBe(503);
  });

  it('never faults health, the OpenAPI document or the docs UI', async () => {
    const base = await serve('errorRate=1');
    const fault = { 'x-mock-fault': 'resetRate=1' };
    expect((await get(`${base}/api/health`, fault)).status).toBe(200);
    expect((await get(`${base}/openapi.json`, fault)).status).toBe(200);
    expect((await get(`${base}/docs/`, fault)).status).toBe(200);
    expect((await get(`${base}/api/health?fault=errorRate=1`)).status).toBe(200);
  });

  it('takes a spec per request from the x-mock-fault header or the fault query parameter', async () => {
    const base = await serve();
    expect((await get(`${base}/api/customers`)).status).toBe(200);
    expect((await get(`${base}/api/customers`, { 'x-mock-fault': 'errorRate=1,errorStatus=502' })).status).toBe(502);
    expect((await get(`${base}/api/customers?limit=2&fault=errorRate=1,errorStatus=504`)).status).toBe(504);
    expect((await get(`${base}/api/customers?fault=${encodeURIComponent('malformedRate=1')}`)).headers['x-mock-fault-applied']).toBe(
      'malformed',
    );
    // The page itself is unchanged by a fault parameter that injects nothing.
    const page = await get(`${base}/api/customers?limit=2&page=2&fault=none`);
    expect(JSON.parse(page.body!)).toMatchObject({ page: 2, limit: 2, data: records.slice(2, 4) });
  });

  it('lets a request turn the start spec off with "none"', async () => {
    const base = await serve('errorRate=1');
    expect((await get(`${base}/api/customers`, { 'x-mock-fault': 'none' })).status).toBe(200);
    expect((await get(`${base}/api/customers?fault=none`)).status).toBe(200);
  });

  it('keeps a counter per request spec, apart from the start spec', async () => {
    const base = await serve('failFirst=1,errorStatus=500');
    const header = { 'x-mock-fault': 'failFirst=2' };
    const seen = [
      await get(`${base}/api/customers`, header),
      await get(`${base}/api/customers`),
      await get(`${base}/api/customers`, header),
      await get(`${base}/api/customers`, header),
      await get(`${base}/api/customers`),
    ].map((o) => o.status);
    expect(seen).toEqual([503, 500, 503, 200, 200]);
  });

  it('answers a bad per-request spec with a 400 naming the header or parameter', async () => {
    const base = await serve();
    const byHeader = await get(`${base}/api/customers`, { 'x-mock-fault': 'errorRate=9' });
    expect(byHeader.status).toBe(400);
    const problem = JSON.parse(byHeader.body!);
    expect(problem.detail).toMatch(/^x-mock-fault: errorRate must be/);
    expect(problem.invalid_params[0]).toMatchObject({ name: 'x-mock-fault', in: 'header' });
    const byQuery = await get(`${base}/api/customers?fault=nope=1`);
    expect(byQuery.status).toBe(400);
    expect(JSON.parse(byQuery.body!).invalid_params[0]).toMatchObject({ name: 'fault', in: 'query' });
    const json = await get(`${base}/api/customers?fault=${encodeURIComponent('{"malformedRate":1}')}`);
    expect(json.status).toBe(400);
    expect(JSON.parse(json.body!).detail).toMatch(/^fault: "\{"malformedRate":1\}" is not key=value/);
  });

  it('sees the same faults for the same requests on every run of a seed', async () => {
    const spec = 'errorRate=0.2,resetRate=0.1,truncateRate=0.1,malformedRate=0.1,wrongShapeRate=0.1,seed=1234';
    const first = await sequence(await serve(spec), 40);
    const second = await sequence(await serve(spec), 40);
    expect(second).toEqual(first);
    // Every kind showed up, and so did clean answers.
    for (const kind of ['503:error', '200:malformed', '200:wrongShape', '200']) expect(first).toContain(kind);
    expect(first.some((l) => l.startsWith('no-answer:'))).toBe(true);
    expect(first.some((l) => l.startsWith('200:UND_ERR') || l.startsWith('200:ECONN'))).toBe(true);
    const otherSeed = await sequence(await serve(spec.replace('1234', '4321')), 40);
    expect(otherSeed).not.toEqual(first);
  });

  it('tallies the faults it applied on an injector the caller keeps, whose spec can change while it runs', async () => {
    const injector = new FaultInjector('failFirst=1,failWith=wrongShape');
    const base = await serve(injector);
    await sequence(base, 3);
    expect(injector.requests).toBe(3);
    expect(injector.applied.wrongShape).toBe(1);
    injector.set('errorRate=1');
    expect((await get(`${base}/api/customers`)).status).toBe(503);
    injector.set(null);
    expect((await get(`${base}/api/customers`)).status).toBe(200);
  });

  it('documents the spec, the header and the query parameter in its OpenAPI document', async () => {
    const base = await serve();
    const doc = JSON.parse((await get(`${base}/openapi.json`)).body!);
    const op = doc.paths['/api/customers'].get;
    expect(op.description).toMatch(/`key=value` pairs separated by `,`/);
    // One line per key of the schema, with what it accepts, its default and its meaning.
    for (const key of Object.keys(FaultSpecSchema.properties)) expect(op.description).toContain(`- \`${key}\` (`);
    expect(op.description).toContain('- `errorStatus` (a whole number from 400 to 599, default 503): status of injected errors');
    expect(op.description).toContain('- `failWith` (one of error, rateLimit, reset, truncate, malformed, wrongShape, slow, default error)');
    const params = op.parameters.map((p: { name: string; in: string }) => `${p.in}:${p.name}`);
    expect(params).toEqual(expect.arrayContaining(['query:page', 'query:limit', 'query:fault', 'header:x-mock-fault']));
    expect(doc.paths['/api/customers/{customer_id}'].get.description).toMatch(/x-mock-fault/);
  });
});
