// The database goes away under an ingest, for real: the ingest's backend is
// terminated (pg_terminate_backend) while it copies, classifies or merges.
// The run fails with a 503 naming it, nothing of it is visible, its record
// says why, and the next ingest works on the same app. Reads behind a held
// lock or a slow query end as 503 problems instead of waiting.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import pg from 'pg';
import { generatedDataset } from '../../src/core/mock/dataset.js';
import { buildPipelineApp } from '../../src/pipeline/app.js';
import { createPool } from '../../src/core/db/database.js';
import { buildTestPipeline, startMockSource, TEST_CONFIG, type MockSource, type TestPipeline } from '../support/apps.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';

const RECORDS = 20_000;

let db: TestDatabase;
let source: MockSource;
let pipeline: TestPipeline;

/**
 * Terminates, from inside PostgreSQL, the first backend of this database
 * whose active query starts with `prefix`, checking every millisecond for at
 * most `maxMs`. Returns whether it found one.
 */
const KILLER = `
CREATE FUNCTION kill_when_active(prefix text, max_ms int) RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE
  deadline timestamptz := clock_timestamp() + make_interval(secs => max_ms / 1000.0);
  killed int;
BEGIN
  LOOP
    -- pg_stat_activity is read once per transaction unless the snapshot is cleared.
    PERFORM pg_stat_clear_snapshot();
    SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) INTO killed
    FROM pg_stat_activity
    WHERE datname = current_database() AND pid <> pg_backend_pid() AND state = 'active'
      AND left(ltrim(query, E' \n\t'), length(prefix)) = prefix;
    IF killed > 0 THEN RETURN true; END IF;
    IF clock_timestamp() > deadline THEN RETURN false; END IF;
    PERFORM pg_sleep(0.001);
  END LOOP;
END $$`;

async function killWhenActive(prefix: string): Promise<boolean> {
  const client = new pg.Client({ connectionString: db.url });
  await client.connect();
  try {
    const { rows } = await client.query<{ killed: boolean }>('SELECT kill_when_active($1, 10000) AS killed', [prefix]);
    return rows[0]!.killed;
  } finally {
    await client.end();
  }
}

beforeAll(async () => {
  db = await createTestDatabase();
  await db.pool.query(KILLER);
  source = await startMockSource(generatedDataset(RECORDS, 7));
  // Small chunks, so a classification runs many times; pages slow enough
  // that the COPY is still going when the killer looks.
  pipeline = await buildTestPipeline(source.url, { ingest: { pageSize: 500, chunkRows: 1000, concurrency: 2 } }, db);
});
afterAll(async () => {
  await pipeline?.close();
  await source?.close();
  await db?.drop();
});
beforeEach(async () => {
  await db.pool.query('TRUNCATE customers');
});

const count = async () => (await db.pool.query<{ n: number }>('SELECT count(*)::int AS n FROM customers')).rows[0]!.n;

describe('an ingest whose database connection is terminated', () => {
  it.each([
    ['while it copies', 'COPY ingest_chunk', 'latencyMs=5'],
    ['while it classifies a chunk', 'WITH s AS MATERIALIZED', null],
    ['while it merges', 'WITH last AS MATERIALIZED', null],
  ])(
    '%s fails with a 503 naming the run, loads nothing, and the next ingest works',
    async (_when, prefix, faults) => {
      source.faults.set(faults);
      const killed = killWhenActive(prefix);
      const res = await pipeline.app.inject({ method: 'POST', url: '/api/ingest' });
      expect(await killed).toBe(true);

      expect(res.statusCode).toBe(503);
      expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
      const problem = res.json();
      expect(problem.run_id).toEqual(expect.any(Number));
      expect(res.body).not.toMatch(/\n\s+at /);
      expect(await count()).toBe(0);

      const run = (await pipeline.app.inject(`/api/ingest/runs/${problem.run_id}`)).json();
      expect(run.status).toBe('failed');
      expect(run.error).toMatch(
        /^database error: .*(terminating connection due to administrator command|Connection terminated|EPIPE|ECONNRESET)/,
      );
      expect(run.error).not.toMatch(/cancelled/);

      // The same app, no restart: the next ingest loads everything.
      source.faults.set(null);
      const next = await pipeline.app.inject({ method: 'POST', url: '/api/ingest' });
      expect(next.statusCode).toBe(200);
      expect(next.json()).toMatchObject({ inserted: RECORDS, rejected: 0 });
      expect(await count()).toBe(RECORDS);
    },
    60_000,
  );
});

describe('reads when the database is slow or locked', () => {
  it('a read behind a lock held elsewhere is a 503 problem with Retry-After, after DB_LOCK_TIMEOUT_MS', async () => {
    const pool = createPool(db.url, 2, { statementTimeoutMs: 30_000, lockTimeoutMs: 200 });
    const app = await buildPipelineApp({ pool, sourceUrl: source.url, config: TEST_CONFIG });
    const holder = new pg.Client({ connectionString: db.url });
    await holder.connect();
    try {
      await holder.query('BEGIN');
      await holder.query('LOCK TABLE customers IN ACCESS EXCLUSIVE MODE');
      for (const url of ['/api/customers', '/api/customers/GEN-000000001', '/api/customers?email=a@example.com']) {
        const res = await app.inject(url);
        expect(res.statusCode, url).toBe(503);
        expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
        expect(res.headers['retry-after']).toBe('1');
        expect(res.json().detail).toMatch(/DB_LOCK_TIMEOUT_MS/);
      }
      await holder.query('ROLLBACK');
      expect((await app.inject('/api/customers')).statusCode).toBe(200);
    } finally {
      await holder.end();
      await app.close();
      await pool.end();
    }
  });

  it('a read past DB_STATEMENT_TIMEOUT_MS is a 503 problem naming it', async () => {
    const pool = createPool(db.url, 2, { statementTimeoutMs: 200, lockTimeoutMs: 0 });
    const app = await buildPipelineApp({ pool, sourceUrl: source.url, config: TEST_CONFIG });
    const holder = new pg.Client({ connectionString: db.url });
    await holder.connect();
    try {
      // With no lock timeout, the read waits on the lock until the statement timeout ends it.
      await holder.query('BEGIN');
      await holder.query('LOCK TABLE customers IN ACCESS EXCLUSIVE MODE');
      const res = await app.inject('/api/customers');
      expect(res.statusCode).toBe(503);
      expect(res.json().detail).toMatch(/DB_STATEMENT_TIMEOUT_MS/);
      expect(res.body).not.toMatch(/canceling statement/);
    } finally {
      await holder.query('ROLLBACK').catch(() => {});
      await holder.end();
      await app.close();
      await pool.end();
    }
  });

  it('an ingest is not bound by the read timeouts', async () => {
    const pool = createPool(db.url, 4, { statementTimeoutMs: 50, lockTimeoutMs: 50 });
    const app = await buildPipelineApp({ pool, sourceUrl: source.url, config: TEST_CONFIG });
    try {
      const res = await app.inject({ method: 'POST', url: '/api/ingest' });
      expect(res.statusCode).toBe(200);
      expect(res.json().inserted).toBe(RECORDS);
    } finally {
      await app.close();
      await pool.end();
    }
  });
});
