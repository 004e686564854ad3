// /metrics in the Prometheus text format: HTTP latency by route and status,
// ingest runs by outcome, rows by what the merge did, source retries, and the
// database pool; each app with its own registry.
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import pg from 'pg';
import type { FastifyInstance } from 'fastify';
import { buildMockApp } from '../../src/mock-server/app.js';
import { datasetFromRecords } from '../../src/core/mock/dataset.js';
import { INGEST_LOCK_KEY } from '../../src/core/ingest/runs-repository.js';
import { buildTestPipeline, startMockSource, type MockSource, type TestPipeline } from '../support/apps.js';

const customer = (i: number, over: Record<string, unknown> = {}) => ({
  customer_id: `M-${String(i).padStart(4, '0')}`,
  first_name: `First${i}`,
  last_name: `Last${i}`,
  email: `m${i}@example.com`,
  phone: null,
  address: null,
  date_of_birth: '1990-01-31',
  account_balance: 10.25,
  created_at: '2024-01-15T10:30:00',
  ...over,
});

/** Parses the exposition text into series → value. */
async function scrape(app: FastifyInstance): Promise<Map<string, number>> {
  const res = await app.inject('/metrics');
  expect(res.statusCode).toBe(200);
  expect(res.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/);
  const series = new Map<string, number>();
  for (const line of res.body.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const at = line.lastIndexOf(' ');
    series.set(line.slice(0, at), Number(line.slice(at + 1)));
  }
  return series;
}

const runs = (m: Map<string, number>, outcome: string) => m.get(`ingest_runs_total{outcome="${outcome}"}`);
const rows = (m: Map<string, number>, result: string) => m.get(`ingest_rows_total{result="${result}"}`);

describe('GET /metrics on the pipeline', () => {
  let source: MockSource;
  let pipeline: TestPipeline;
  const records = [...Array.from({ length: 20 }, (_, i) => customer(i + 1)), customer(99, { email: 'not an email' })];

  beforeAll(async () => {
    source = await startMockSource(records);
    pipeline = await buildTestPipeline(source.url, { ingest: { pageSize: 8 } });
  });
  afterAll(async () => {
    await pipeline?.close();
    await source?.close();
  });

  it('starts every ingest series at zero', async () => {
    const m = await scrape(pipeline.app);
    for (const outcome of ['succeeded', 'failed', 'conflict']) expect(runs(m, outcome), outcome).toBe(0);
    for (const result of ['inserted', 'updated', 'unchanged', 'rejected']) expect(rows(m, result), result).toBe(0);
    expect(m.get('ingest_source_retries_total')).toBe(0);
  });

  it('counts a run and what it did to rows after an ingest', async () => {
    expect((await pipeline.app.inject({ method: 'POST', url: '/api/ingest' })).statusCode).toBe(200);
    let m = await scrape(pipeline.app);
    expect(runs(m, 'succeeded')).toBe(1);
    expect(rows(m, 'inserted')).toBe(20);
    expect(rows(m, 'rejected')).toBe(1);

    // The same source again changes nothing; then one record changes.
    expect((await pipeline.app.inject({ method: 'POST', url: '/api/ingest' })).statusCode).toBe(200);
    source.setRecords([customer(1, { first_name: 'Changed' }), ...records.slice(1)]);
    expect((await pipeline.app.inject({ method: 'POST', url: '/api/ingest' })).statusCode).toBe(200);
    m = await scrape(pipeline.app);
    expect(runs(m, 'succeeded')).toBe(3);
    expect(rows(m, 'inserted')).toBe(20);
    expect(rows(m, 'unchanged')).toBe(20 + 19);
    expect(rows(m, 'updated')).toBe(1);
    expect(rows(m, 'rejected')).toBe(3);
  });

  it('counts a conflict, and a failed run with its source retries', async () => {
    const holder = new pg.Client({ connectionString: pipeline.db.url });
    await holder.connect();
    try {
      await holder.query('SELECT pg_advisory_lock($1)', [INGEST_LOCK_KEY]);
      expect((await pipeline.app.inject({ method: 'POST', url: '/api/ingest' })).statusCode).toBe(409);
    } finally {
      await holder.end();
    }
    source.faults.set('errorRate=1');
    try {
      expect((await pipeline.app.inject({ method: 'POST', url: '/api/ingest' })).statusCode).toBe(502);
    } finally {
      source.faults.set(null);
    }
    // TEST_CONFIG retries a page 3 times; a failed run's retries are read from its record.
    await vi.waitFor(async () => expect((await scrape(pipeline.app)).get('ingest_source_retries_total')).toBe(3));
    const m = await scrape(pipeline.app);
    expect(runs(m, 'conflict')).toBe(1);
    expect(runs(m, 'failed')).toBe(1);
    expect(runs(m, 'succeeded')).toBe(3);
  });

  it('times requests by route pattern and status, never by raw URL', async () => {
    await pipeline.app.inject('/api/customers/M-0001');
    await pipeline.app.inject('/api/customers/M-0002');
    await pipeline.app.inject('/api/customers/NOPE');
    await pipeline.app.inject('/api/customers?limit=0');
    await pipeline.app.inject('/no/such/route/M-0003');
    const m = await scrape(pipeline.app);
    const count = (labels: string) => m.get(`http_request_duration_seconds_count{${labels}}`);
    expect(count('method="GET",route="/api/customers/:customer_id",status_code="200"')).toBeGreaterThanOrEqual(2);
    expect(count('method="GET",route="/api/customers/:customer_id",status_code="404"')).toBe(1);
    expect(count('method="GET",route="/api/customers",status_code="400"')).toBe(1);
    expect(count('method="GET",route="unmatched",status_code="404"')).toBe(1);
    expect(count('method="POST",route="/api/ingest",status_code="200"')).toBe(3);
    expect(
      m.get('http_request_duration_seconds_bucket{le="+Inf",method="GET",route="/api/customers/:customer_id",status_code="200"}'),
    ).toBeGreaterThanOrEqual(2);
    expect([...m.keys()].join('\n')).not.toMatch(/M-000\d|limit=/);
  });

  it('reports the database pool and the process', async () => {
    const m = await scrape(pipeline.app);
    expect(m.get('db_pool_connections{state="idle"}')).toBeGreaterThanOrEqual(1);
    expect(m.get('db_pool_connections{state="in_use"}')).toBe(0);
    expect(m.get('db_pool_waiting_clients')).toBe(0);
    expect(m.get('db_pool_max_connections')).toBe(10);
    expect(m.get('process_cpu_user_seconds_total')).toBeGreaterThan(0);
    expect(m.get('nodejs_eventloop_lag_seconds')).toBeDefined();
  });

  it("keeps each app's counters apart in one process", async () => {
    const other = await buildTestPipeline(source.url, {}, pipeline.db);
    try {
      const m = await scrape(other.app);
      expect(runs(m, 'succeeded')).toBe(0);
      expect(runs(await scrape(pipeline.app), 'succeeded')).toBe(3);
    } finally {
      await other.close();
    }
  });
});

describe('GET /metrics on the mock', () => {
  it('times the source API requests', async () => {
    const app = await buildMockApp({ dataset: datasetFromRecords([customer(1)]) });
    try {
      await app.inject('/api/customers?page=1&limit=5');
      await app.inject({ url: '/api/customers', headers: { 'x-mock-fault': 'errorRate=1' } });
      const m = await scrape(app);
      expect(m.get('http_request_duration_seconds_count{method="GET",route="/api/customers",status_code="200"}')).toBe(1);
      expect(m.get('http_request_duration_seconds_count{method="GET",route="/api/customers",status_code="503"}')).toBe(1);
    } finally {
      await app.close();
    }
  });
});
