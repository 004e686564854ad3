// The system as `npm start` wires it: mock → pipeline → PostgreSQL, in a real process.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { createTestDatabase, type TestDatabase } from '../support/db.js';
import { startService } from '../support/processes.js';

describe('npm start', () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createTestDatabase({ migrate: false });
  });
  afterAll(() => db.drop());

  it('serves the mock and the pipeline, ingests every record, and stops cleanly on SIGINT', async () => {
    const svc = await startService('all', { DATABASE_URL: db.url });
    try {
      const health = await fetch(`${svc.urls.mock}/api/health`);
      expect(await health.json()).toMatchObject({ status: 'ok' });
      const source = (await (await fetch(`${svc.urls.mock}/api/customers?page=1&limit=5`)).json()) as { total: number };

      const ingest = await fetch(`${svc.urls.pipeline}/api/ingest`, { method: 'POST' });
      expect(ingest.status).toBe(200);
      expect(await ingest.json()).toMatchObject({ status: 'success', records_processed: source.total, inserted: source.total });

      const page = (await (await fetch(`${svc.urls.pipeline}/api/customers?page=1&limit=5`)).json()) as { total: number; data: unknown[] };
      expect(page.total).toBe(source.total);
      expect(page.data).toHaveLength(5);
      // The printed URL is psql-ready: it reaches the table.
      expect(svc.urls.database).toBe(db.url);
      const { rows } = await db.pool.query('SELECT count(*)::int AS n FROM customers');
      expect(rows[0].n).toBe(source.total);
    } finally {
      expect(await svc.stop('SIGINT')).toBe(0);
    }
  });

  it('stops at start with a message naming a bad setting', async () => {
    await expect(startService('pipeline', { PIPELINE_PORT: 'eighty' }, 20_000)).rejects.toThrow(
      /exited with 2[\s\S]*PIPELINE_PORT must be a whole number/,
    );
  });

  it('stops at start with a message naming a bad data file', async () => {
    await expect(startService('mock', { MOCK_DATA_FILE: '/nonexistent/customers.json' }, 20_000)).rejects.toThrow(
      /exited with 1[\s\S]*\/nonexistent\/customers\.json/,
    );
  });
});

describe('npm start without DATABASE_URL', () => {
  let root: string;
  beforeAll(async () => {
    root = await mkdtemp(path.join(tmpdir(), 'cp-embedded-'));
    await chmod(root, 0o755); // as root, the server runs as the postgres user
  });
  afterAll(() => rm(root, { recursive: true, force: true }));

  it('runs on an embedded PostgreSQL 15 whose data survives a restart, and stops it on SIGTERM', async () => {
    const port = String(55_000 + Math.floor(Math.random() * 5000));
    const env = { DATABASE_URL: '', EMBEDDED_PG_DIR: path.join(root, 'pg'), EMBEDDED_PG_PORT: port };
    const first = await startService('all', env, 120_000);
    let url: string;
    try {
      url = first.urls.database!;
      expect(url).toContain(`:${port}/customer_db`);
      const ingest = (await (await fetch(`${first.urls.pipeline}/api/ingest`, { method: 'POST' })).json()) as { inserted: number };
      expect(ingest.inserted).toBeGreaterThan(0);
      const client = new pg.Client({ connectionString: url });
      await client.connect();
      const { rows } = await client.query("SELECT current_setting('server_version_num')::int AS v, count(*)::int AS n FROM customers");
      await client.end();
      expect(Math.floor(rows[0].v / 10000)).toBe(15);
      expect(rows[0].n).toBe(ingest.inserted);
    } finally {
      expect(await first.stop('SIGTERM')).toBe(0);
    }
    // The embedded server stopped with the process.
    const probe = new pg.Client({ connectionString: url, connectionTimeoutMillis: 2000 });
    await expect(probe.connect()).rejects.toThrow();

    const second = await startService('pipeline', { ...env, MOCK_SERVER_URL: 'http://127.0.0.1:9' }, 120_000);
    try {
      const page = (await (await fetch(`${second.urls.pipeline}/api/customers`)).json()) as { total: number };
      expect(page.total).toBeGreaterThan(0);
    } finally {
      expect(await second.stop('SIGINT')).toBe(0);
    }
  }, 180_000);
});
