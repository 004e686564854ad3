// Reads on a streaming replica (DATABASE_READ_URL): the ingest writes on the
// primary, the read API answers from the standby (proved with replay paused:
// a row on the primary is not seen until the standby replays it), a run just
// started is found all the same, readiness and /metrics show the replica and
// its lag, and with the standby stopped reads fall back to the primary.
import pino from 'pino';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Customer } from '../../src/core/customer.js';
import { loadConfig } from '../../src/core/config.js';
import { startPipeline, type RunningPipeline } from '../../src/services.js';
import { startMockSource, type MockSource } from '../support/apps.js';
import { pgBinDir, startReplicaPair, type ReplicaPair } from '../support/replica.js';
import { skipWithout } from '../support/tools.js';

const customer = (i: number): Customer => ({
  customer_id: `R-${String(i).padStart(4, '0')}`,
  first_name: `First${i}`,
  last_name: `Last${i}`,
  email: `user${i}@example.com`,
  phone: null,
  address: null,
  date_of_birth: '1990-01-31',
  account_balance: 10.25,
  created_at: '2024-01-15T10:30:00',
});
const N = 120;

const noBinaries = () =>
  skipWithout('PostgreSQL 15 binaries with pg_basebackup', pgBinDir() !== null, 'apt-get install --no-install-recommends postgresql-15');

async function sql<T extends pg.QueryResultRow>(url: string, text: string, values: unknown[] = []): Promise<T[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<T>(text, values)).rows;
  } finally {
    await client.end();
  }
}

describe.skipIf(noBinaries())('reads on a streaming replica', () => {
  let pair: ReplicaPair;
  let source: MockSource;
  let pipeline: RunningPipeline;
  const primary = () => pair.primary.url('customer_db');
  const standby = () => pair.standby.url('customer_db');

  beforeAll(async () => {
    pair = await startReplicaPair({ database: 'customer_db' });
    source = await startMockSource(Array.from({ length: N }, (_, i) => customer(i + 1)));
    const config = loadConfig({
      DATABASE_URL: primary(),
      DATABASE_READ_URL: standby(),
      MOCK_SERVER_URL: source.url,
      HOST: '127.0.0.1',
      PIPELINE_PORT: '0',
      INGEST_PAGE_SIZE: '50',
      LOG_LEVEL: 'silent',
    });
    pipeline = await startPipeline(config, pino({ level: 'silent' }), { port: 0 });
  }, 60_000);
  afterAll(async () => {
    await pipeline?.close();
    await source?.close();
    await pair?.stop();
  }, 60_000);

  const get = (url: string) => pipeline.app.inject(url);

  it('ingests on the primary and reads from the standby', async () => {
    const res = await pipeline.app.inject({ method: 'POST', url: '/api/ingest' });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json()).toMatchObject({ inserted: N });
    expect((await sql<{ n: number }>(primary(), 'SELECT count(*)::int AS n FROM customers'))[0]!.n).toBe(N);
    await pair.waitForReplay();
    expect((await get('/api/customers?limit=5')).json()).toMatchObject({ total: N });

    // Replay paused: a row written on the primary is not seen through the API
    // (the reads are the standby's), until the standby replays it.
    await sql(standby(), 'SELECT pg_wal_replay_pause()');
    try {
      await sql(
        primary(),
        `INSERT INTO customers (customer_id, first_name, last_name, email) VALUES ('R-9999', 'Only', 'Primary', 'only@example.com')`,
      );
      expect((await get('/api/customers/R-9999')).statusCode).toBe(404);
      expect((await get('/api/customers?limit=1')).json().total).toBe(N);
      expect((await get('/api/customers?q=only')).json().total).toBe(0);
      // Its lag shows while it is behind.
      const ready = (await get('/api/ready')).json();
      expect(ready.replica).toMatchObject({ state: 'ok', reads: 'replica', streaming: true });
      expect(ready.replica.lag_seconds).toBeGreaterThan(0);
      // The read pool is the standby's (its own application_name there).
      const apps = await sql<{ application_name: string }>(
        standby(),
        `SELECT application_name FROM pg_stat_activity WHERE datname = 'customer_db'`,
      );
      expect(apps.map((a) => a.application_name)).toContain('customer-pipeline reads');

      // A run just started is found at its Location, though the standby has not seen it: the primary answers the miss.
      const started = await pipeline.app.inject({ method: 'POST', url: '/api/ingest' });
      expect(started.statusCode, started.body).toBe(200);
      const runId = started.json().run_id as number;
      const run = await get(`/api/ingest/runs/${runId}`);
      expect(run.statusCode, run.body).toBe(200);
      expect(run.json()).toMatchObject({ id: runId, status: 'succeeded' });
      // The list is the standby's: the paused replay has not brought that run.
      expect((await get('/api/ingest/runs')).json().data.map((r: { id: number }) => r.id)).not.toContain(runId);
    } finally {
      await sql(standby(), 'SELECT pg_wal_replay_resume()');
    }
    await pair.waitForReplay();
    expect((await get('/api/customers/R-9999')).json()).toMatchObject({ first_name: 'Only' });
    expect((await get('/api/customers?limit=1')).json().total).toBe(N + 1);
    const ready = await get('/api/ready');
    expect(ready.statusCode).toBe(200);
    expect(ready.json()).toMatchObject({ status: 'ready', database: 'ok', replica: { state: 'ok', reads: 'replica', lag_seconds: 0 } });
    const metrics = (await get('/metrics')).body;
    expect(metrics).toMatch(/^db_replica_lag_seconds 0$/m);
    expect(metrics).toMatch(/^db_replica_up 1$/m);
    expect(metrics).toMatch(/^db_replica_fallbacks_total 0$/m);
  }, 30_000);

  it('reads fall back to the primary while the standby is down, and readiness says so', async () => {
    await pair.standby.stop('fast');
    const page = await get('/api/customers?limit=5');
    expect(page.statusCode, page.body).toBe(200);
    expect(page.json().total).toBe(N + 1);
    expect((await get('/api/customers/R-9999')).statusCode).toBe(200);
    expect((await get('/api/customers?q=only')).json().total).toBe(1);
    expect((await get('/api/ingest/runs')).statusCode).toBe(200);
    const ready = await get('/api/ready');
    expect(ready.statusCode).toBe(200);
    expect(ready.json()).toMatchObject({
      status: 'ready',
      database: 'ok',
      replica: { state: 'down', reads: 'primary', lag_seconds: null },
    });
    const metrics = (await get('/metrics')).body;
    expect(metrics).toMatch(/^db_replica_up 0$/m);
    expect(metrics).toMatch(/^db_replica_lag_seconds nan$/im);
    expect(Number(/^db_replica_fallbacks_total (\d+)$/m.exec(metrics)?.[1])).toBeGreaterThanOrEqual(1);

    // Back up: reads go to it again once it answers.
    await pair.standby.start();
    await pair.waitForReplay();
    expect((await get('/api/ready')).json().replica).toMatchObject({ state: 'ok', reads: 'replica' });
  }, 30_000);
});
