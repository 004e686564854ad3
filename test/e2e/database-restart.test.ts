// The pipeline as a real process (src/main.ts) on a PostgreSQL server this
// test owns, restarted and terminated under an ingest: the run fails with a
// 503 naming it, the process stays up, the run's record says why once the
// database is back, and the next ingest works without a restart.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { startEmbedded, type EmbeddedServer } from '../../src/core/db/database.js';
import { generatedDataset } from '../../src/core/mock/dataset.js';
import { startMockSource, type MockSource } from '../support/apps.js';
import { startService, type ServiceProcess } from '../support/processes.js';

const RECORDS = 20_000;

/** Polls `check` every 50 ms until it returns a value, for at most `ms`. */
async function within<T>(ms: number, what: string, check: () => Promise<T | null>): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await check().catch(() => null);
    if (v !== null) return v;
    if (Date.now() > deadline) throw new Error(`not within ${ms} ms: ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** The pid of the backend running the ingest's COPY, once it runs. */
async function copyBackend(url: string): Promise<number> {
  return within(20_000, 'the ingest to start copying', async () => {
    const c = new pg.Client({ connectionString: url });
    await c.connect();
    try {
      const { rows } = await c.query<{ pid: number }>(
        `SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND query LIKE 'COPY ingest_chunk%' AND state <> 'idle'`,
      );
      return rows[0]?.pid ?? null;
    } finally {
      await c.end();
    }
  });
}

describe('the pipeline process when its database restarts under an ingest', () => {
  let root: string;
  let server: EmbeddedServer;
  let source: MockSource;
  let service: ServiceProcess;
  let api: string;

  beforeAll(async () => {
    root = await mkdtemp(path.join(tmpdir(), 'cp-dbrestart-'));
    await chmod(root, 0o755);
    server = await startEmbedded({ dataDir: path.join(root, 'pg'), port: 56_000 + Math.floor(Math.random() * 4000) });
    // Slow pages: the run is still copying when the test acts.
    source = await startMockSource(generatedDataset(RECORDS, 3), 1000, 'latencyMs=40');
    service = await startService('pipeline', {
      DATABASE_URL: server.url,
      MOCK_SERVER_URL: source.url,
      INGEST_PAGE_SIZE: '500',
      INGEST_CONCURRENCY: '2',
      LOG_LEVEL: 'error',
    });
    api = service.urls.pipeline!;
  }, 120_000);

  afterAll(async () => {
    await service?.stop('SIGTERM');
    await source?.close();
    await server?.stop().catch(() => {});
    await rm(root, { recursive: true, force: true });
  });

  const ingest = () => fetch(`${api}/api/ingest`, { method: 'POST' });
  const run = async (id: number) =>
    (await (await fetch(`${api}/api/ingest/runs/${id}`)).json()) as { status: string; error: string | null };
  const customers = async () => ((await (await fetch(`${api}/api/customers?limit=1`)).json()) as { total: number }).total;

  it('a terminated connection fails the run, not the process', async () => {
    const answer = ingest();
    const pid = await copyBackend(server.url);
    const admin = new pg.Client({ connectionString: server.url });
    await admin.connect();
    await admin.query('SELECT pg_terminate_backend($1)', [pid]);
    await admin.end();

    const res = await answer;
    expect(res.status).toBe(503);
    expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    const problem = (await res.json()) as { run_id: number };
    expect(problem.run_id).toEqual(expect.any(Number));
    expect(service.child.exitCode).toBeNull();
    expect((await fetch(`${api}/api/health`)).status).toBe(200);
    expect(await customers()).toBe(0);
    expect(await run(problem.run_id)).toMatchObject({
      status: 'failed',
      // The server's own words, or the socket's when the pipeline was writing COPY data as it went.
      error: expect.stringMatching(
        /^database error: .*(terminating connection due to administrator command|Connection terminated|EPIPE|ECONNRESET)/,
      ),
    });
    expect(service.output()).not.toMatch(/stopping after an error/);
  }, 60_000);

  it('a database restart fails the run; once it is back, the run says why and the next ingest works', async () => {
    const answer = ingest();
    await copyBackend(server.url);
    await server.stop();

    const res = await answer;
    expect(res.status).toBe(503);
    const { run_id: runId } = (await res.json()) as { run_id: number };
    expect(runId).toEqual(expect.any(Number));
    // Down: reads are 503 problems, the process lives on.
    expect((await fetch(`${api}/api/customers`)).status).toBe(503);
    expect(service.child.exitCode).toBeNull();

    await server.start();
    // The failure, kept while the database was away, is written when it is back.
    const failed = await within(30_000, `run ${runId} recorded failed`, async () => {
      const r = await run(runId);
      return r.status === 'failed' ? r : null;
    });
    expect(failed.error).toMatch(/^database error: .*(terminating connection|Connection terminated|shutting down)/);
    expect(failed.error).not.toMatch(/abandoned|cancelled/);

    source.faults.set(null);
    const next = await ingest();
    expect(next.status).toBe(200);
    expect(await next.json()).toMatchObject({ inserted: RECORDS, rejected: 0 });
    expect(await customers()).toBe(RECORDS);
    expect(service.child.exitCode).toBeNull();
    expect(service.output()).not.toMatch(/stopping after an error|second error/);
  }, 90_000);
});
