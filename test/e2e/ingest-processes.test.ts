// One ingest at a time across processes, and nothing partial when a process
// dies or is stopped mid-ingest: real processes on one real database.
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { generatedDataset } from '../../src/core/mock/dataset.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';
import { startMockSource, type MockSource } from '../support/apps.js';
import { startService, type ServiceProcess } from '../support/processes.js';

// Small pages, one at a time: an ingest long enough to act on while it runs.
const SLOW = { INGEST_PAGE_SIZE: '50', INGEST_CONCURRENCY: '1' };

describe('ingest across processes', () => {
  let source: MockSource;
  let db: TestDatabase;
  const running: ServiceProcess[] = [];

  beforeAll(async () => {
    source = await startMockSource(generatedDataset(60_000, 5));
  });
  afterAll(() => source.close());
  beforeEach(async () => {
    db = await createTestDatabase();
  });
  afterEach(async () => {
    await Promise.all(running.splice(0).map((p) => p.stop('SIGKILL')));
    await db.drop();
  });

  const pipeline = async (env: Record<string, string> = {}) => {
    const p = await startService('pipeline', { DATABASE_URL: db.url, MOCK_SERVER_URL: source.url, ...SLOW, ...env });
    running.push(p);
    return p;
  };
  const post = (p: ServiceProcess) => fetch(`${p.urls.pipeline}/api/ingest`, { method: 'POST' });
  const count = async () => (await db.pool.query('SELECT count(*)::int AS n FROM customers')).rows[0].n as number;
  const runs = async () =>
    (await db.pool.query('SELECT id::int AS id, status, error FROM ingestion_runs ORDER BY id')).rows as {
      id: number;
      status: string;
      error: string | null;
    }[];
  /** Polls the run records every 20 ms, for at most 30 s, until one is running. */
  const untilRunning = async () => {
    const deadline = Date.now() + 30_000;
    for (;;) {
      const r = (await runs()).find((x) => x.status === 'running');
      if (r) return r;
      if (Date.now() > deadline) throw new Error('no run started within 30 s');
      await new Promise((res) => setTimeout(res, 20));
    }
  };
  /** Until the running run's record shows records staged (it keeps its counts in its row, about once a second). */
  const untilStaging = async (id: number) => {
    const deadline = Date.now() + 30_000;
    for (;;) {
      const { rows } = await db.pool.query<{ fetched: number }>('SELECT fetched FROM ingestion_runs WHERE id = $1', [id]);
      if ((rows[0]?.fetched ?? 0) > 0) return;
      if (Date.now() > deadline) throw new Error(`run ${id} staged nothing within 30 s`);
      await new Promise((res) => setTimeout(res, 20));
    }
  };

  it('answers a second ingest on another process with 409 and the running run id', async () => {
    const [a, b] = await Promise.all([pipeline({ INGEST_PAGE_SIZE: '200' }), pipeline()]);
    const first = post(a);
    const run = await untilRunning();
    const second = await post(b);
    expect(second.status).toBe(409);
    expect(await second.json()).toMatchObject({ status: 409, run_id: run.id });
    // And on the same process too.
    const third = await post(a);
    expect(third.status).toBe(409);
    const done = await first;
    expect(done.status).toBe(200);
    expect(await done.json()).toMatchObject({ run_id: run.id, inserted: 60_000 });
    // Once it is over, the other process may ingest.
    const again = await post(b);
    expect(again.status).toBe(200);
    expect(await again.json()).toMatchObject({ inserted: 0, unchanged: 60_000 });
  }, 120_000);

  it('leaves no row of an ingest whose process is killed, and the next process marks the run failed', async () => {
    const a = await pipeline();
    post(a).catch(() => {});
    const run = await untilRunning();
    await untilStaging(run.id);
    expect(await a.stop('SIGKILL')).toBe(null);
    expect(await count()).toBe(0);

    await pipeline(); // a restart recovers the abandoned run
    const after = (await runs()).find((r) => r.id === run.id)!;
    expect(after.status).toBe('failed');
    expect(after.error).toMatch(/abandoned/);
    expect(await count()).toBe(0);
  }, 60_000);

  it('rolls an ingest back on SIGTERM, records the run failed and exits 0', async () => {
    const a = await pipeline();
    const answer = post(a).then(
      async (r) => ({ status: r.status, body: (await r.json()) as Record<string, unknown> }),
      () => null,
    );
    const run = await untilRunning();
    await untilStaging(run.id);
    expect(await a.stop('SIGTERM')).toBe(0);
    // The answer is a 503 naming the run, unless the connection closed before it could be sent.
    const res = await answer;
    expect(res === null || (res.status === 503 && res.body.run_id === run.id)).toBe(true);
    expect(await count()).toBe(0);
    const after = (await runs()).find((r) => r.id === run.id)!;
    expect(after.status).toBe('failed');
    expect(after.error).toMatch(/shutting down/);
  }, 60_000);
});
