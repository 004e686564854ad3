// The pipeline through PgBouncer in transaction mode (docs/DESIGN.md §2b):
// migrations, ingests, reads, an async run with its events and a 409, and the
// read timeouts — with a plain PgBouncer config (no ignore_startup_parameters,
// no prepared-statement support), so nothing may rest on session state: each
// transaction can run on another server connection, and a server connection
// serves other clients next.
import pg from 'pg';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inject } from 'vitest';
import type { Customer } from '../../src/core/customer.js';
import { loadConfig } from '../../src/core/config.js';
import { createPool } from '../../src/core/db/database.js';
import { listMigrations, migrate } from '../../src/core/db/migrate.js';
import { startPipeline, type RunningPipeline } from '../../src/services.js';
import { sseEvents, type SseEvent } from '../../src/cli/sse.js';
import { startMockSource, type MockSource } from '../support/apps.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';
import { startPgBouncer, withoutPgBouncer, type PgBouncer } from '../support/pgbouncer.js';

const customer = (i: number, over: Partial<Customer> = {}): Customer => ({
  customer_id: `B-${String(i).padStart(4, '0')}`,
  first_name: `First${i}`,
  last_name: `Last${i}`,
  email: `user${i}@example.com`,
  phone: null,
  address: null,
  date_of_birth: '1990-01-31',
  account_balance: 10.25,
  created_at: `2024-01-${String((i % 28) + 1).padStart(2, '0')}T10:30:00`,
  ...over,
});
const N = 250;
const records = (n = N) => Array.from({ length: n }, (_, i) => customer(i + 1));

describe.skipIf(withoutPgBouncer())('through PgBouncer in transaction mode', () => {
  let bouncer: PgBouncer;
  let db: TestDatabase;
  let source: MockSource;
  let pipeline: RunningPipeline;

  beforeAll(async () => {
    bouncer = await startPgBouncer(inject('adminUrl'));
    db = await createTestDatabase({ migrate: false });
    source = await startMockSource(records());
    const config = loadConfig({
      DATABASE_URL: bouncer.url(db.url),
      MOCK_SERVER_URL: source.url,
      HOST: '127.0.0.1',
      PIPELINE_PORT: '0',
      INGEST_PAGE_SIZE: '50',
      INGEST_CONCURRENCY: '2',
      DB_POOL_MAX: '6',
      DB_LOCK_TIMEOUT_MS: '300',
      DB_TRANSACTION_POOLER: 'true',
      LOG_LEVEL: 'silent',
    });
    // Migrations and the recovery of abandoned runs go through PgBouncer too.
    pipeline = await startPipeline(config, pino({ level: 'silent' }), { port: 0 });
  });
  afterAll(async () => {
    await pipeline?.close();
    await source?.close();
    await bouncer?.stop();
    await db?.drop();
  });

  const get = (url: string) => pipeline.app.inject(url);

  it('migrates, leaving no lock or setting behind on a server connection', async () => {
    const { rows } = await db.pool.query<{ name: string }>('SELECT name FROM schema_migrations ORDER BY name');
    expect(rows.map((r) => r.name)).toEqual(await listMigrations());
    const locks = await db.pool.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM pg_locks WHERE locktype = 'advisory'
         AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`,
    );
    expect(locks.rows[0]!.n).toBe(0);
  });

  it("runs three processes' migrations at once on a fresh database: each applied once, no lock left", async () => {
    const fresh = await createTestDatabase({ migrate: false });
    const pools = [0, 1, 2].map(() => createPool(bouncer.url(fresh.url), 2, undefined, { transactionPooler: true }));
    try {
      const applied = await Promise.all(pools.map((p) => migrate(p)));
      expect(applied.flat().sort()).toEqual(await listMigrations());
      // pg_locks is the whole server's: other test files' ingests hold advisory locks in their own databases.
      const locks = await fresh.pool.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM pg_locks WHERE locktype = 'advisory'
           AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`,
      );
      expect(locks.rows[0]!.n).toBe(0);
    } finally {
      await Promise.all(pools.map((p) => p.end()));
      await fresh.drop();
    }
  }, 20_000);

  it('ingests, re-ingests and merges a change, each in one transaction through it', async () => {
    const first = await pipeline.app.inject({ method: 'POST', url: '/api/ingest' });
    expect(first.statusCode, first.body).toBe(200);
    expect(first.json()).toMatchObject({ status: 'success', pages: 6, inserted: N, updated: 0, unchanged: 0 });
    const again = await pipeline.app.inject({ method: 'POST', url: '/api/ingest' });
    expect(again.statusCode, again.body).toBe(200);
    expect(again.json()).toMatchObject({ inserted: 0, updated: 0, unchanged: N });
    source.setRecords(records().map((r, i) => (i === 6 ? { ...r, first_name: 'Changed' } : r)));
    const changed = await pipeline.app.inject({ method: 'POST', url: '/api/ingest' });
    expect(changed.statusCode, changed.body).toBe(200);
    expect(changed.json()).toMatchObject({ inserted: 0, updated: 1, unchanged: N - 1 });
    const stored = await db.pool.query<{ n: number }>('SELECT count(*)::int AS n FROM customers');
    expect(stored.rows[0]!.n).toBe(N);
  });

  it('reads pages, ids and cursors, many at once over several server connections', async () => {
    // Separate batches in flight together, so that statements land on
    // different server connections (a named prepared statement would not be there).
    const answers = [];
    for (let i = 0; i < 40; i++) {
      answers.push(get(i % 2 ? `/api/customers/B-${String(i + 1).padStart(4, '0')}` : `/api/customers?page=${(i % 25) + 1}&limit=10`));
      await new Promise((r) => setImmediate(r));
    }
    for (const [i, res] of (await Promise.all(answers)).entries()) {
      expect(res.statusCode, `${i}: ${res.body}`).toBe(200);
      if (i % 2) expect(res.json().customer_id).toBe(`B-${String(i + 1).padStart(4, '0')}`);
      else expect(res.json()).toMatchObject({ total: N, page: (i % 25) + 1, limit: 10 });
    }
    expect((await get('/api/customers/B-0007')).json().first_name).toBe('Changed');
    expect((await get('/api/customers/NOPE')).statusCode).toBe(404);

    const ids: string[] = [];
    let url = '/api/customers?sort=-created_at&limit=40';
    for (let guard = 0; guard < 20; guard++) {
      const res = await get(url);
      expect(res.statusCode, res.body).toBe(200);
      const body = res.json() as { data: Customer[]; total: number; next_cursor: string | null };
      expect(body.total).toBe(N);
      ids.push(...body.data.map((c) => c.customer_id));
      if (!body.next_cursor) break;
      url = `/api/customers?sort=-created_at&limit=40&cursor=${body.next_cursor}`;
    }
    expect(ids).toHaveLength(N);
    expect(new Set(ids).size).toBe(N);
  });

  it('runs an async ingest with its run record and events, and answers 409 to another meanwhile', async () => {
    // 6 pages, 2 at a time, 150 ms each: a run of about half a second.
    source.faults.set('latencyMs=150');
    try {
      const started = await pipeline.app.inject({ method: 'POST', url: '/api/ingest?mode=async' });
      expect(started.statusCode, started.body).toBe(202);
      const runId = started.json().run_id as number;
      const conflict = await pipeline.app.inject({ method: 'POST', url: '/api/ingest' });
      expect(conflict.statusCode, conflict.body).toBe(409);
      expect(conflict.json().run_id).toBe(runId);
      const running = await get(`/api/ingest/runs/${runId}`);
      expect(running.statusCode).toBe(200);
      const events: SseEvent[] = [];
      for await (const e of sseEvents(`${pipeline.url}/api/ingest/runs/${runId}/events`, { signal: AbortSignal.timeout(15_000) })) {
        events.push(e);
      }
      const last = events.at(-1)!;
      expect(last.event, JSON.stringify(events)).toBe('done');
      expect(JSON.parse(last.data)).toMatchObject({ id: runId, status: 'succeeded', unchanged: N });
      const record = (await get(`/api/ingest/runs/${runId}`)).json();
      expect(record).toMatchObject({ id: runId, status: 'succeeded', pages: 6, fetched: N });
      const list = (await get('/api/ingest/runs?limit=2')).json();
      expect(list.data[0].id).toBe(runId);
    } finally {
      source.faults.set(null);
    }
  });

  it('holds the read timeouts: a read behind a lock is a 503 after DB_LOCK_TIMEOUT_MS', async () => {
    const holder = new pg.Client({ connectionString: db.url });
    await holder.connect();
    try {
      await holder.query('BEGIN');
      await holder.query('LOCK TABLE customers IN ACCESS EXCLUSIVE MODE');
      const t0 = performance.now();
      const res = await get('/api/customers/B-0001');
      expect(res.statusCode, res.body).toBe(503);
      expect(res.json().detail).toMatch(/DB_LOCK_TIMEOUT_MS/);
      expect(performance.now() - t0).toBeLessThan(5000);
      await holder.query('ROLLBACK');
      expect((await get('/api/customers/B-0001')).statusCode).toBe(200);
    } finally {
      await holder.end();
    }
  });
});
