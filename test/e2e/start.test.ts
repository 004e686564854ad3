// The system as `npm start` wires it: mock → pipeline → PostgreSQL, in a real process.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
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

  it('reads .env from its working directory; the environment wins', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'cp-dotenv-'));
    try {
      await writeFile(path.join(dir, '.env'), `DATABASE_URL=${db.url}\nLOG_LEVEL=warn\nMOCK_MAX_LIMIT=7\nPIPELINE_PORT=1\n`);
      const svc = await startService('all', { PIPELINE_PORT: '0' }, 60_000, dir);
      try {
        expect(svc.output()).toContain(`settings read from ${path.join(dir, '.env')}`);
        expect(svc.urls.database).toBe(db.url);
        // From the file: the mock refuses a page past 7.
        expect((await fetch(`${svc.urls.mock}/api/customers?limit=8`)).status).toBe(400);
        // From the environment, over the file's PIPELINE_PORT=1.
        expect((await fetch(`${svc.urls.pipeline}/api/health`)).status).toBe(200);
      } finally {
        await svc.stop('SIGINT');
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('listens on 127.0.0.1 by default and says what it is bound to', async () => {
    const svc = await startService('mock', { HOST: '' });
    try {
      expect(svc.output()).toMatch(
        /mock server \(source API\)\s+http:\/\/127\.0\.0\.1:\d+ .*\(bound to 127\.0\.0\.1:\d+: this machine only\)/,
      );
    } finally {
      await svc.stop('SIGINT');
    }
  });

  it.each([
    [
      { DATABASE_URL: 'postgres://postgres:hunter2@127.0.0.1:1/x' },
      /cannot start: DATABASE_URL: cannot reach PostgreSQL on 127\.0\.0\.1:1/,
    ],
    [{ HOST: 'no-such-host.invalid' }, /cannot start: HOST=no-such-host\.invalid: not an address of this machine/],
  ])('stops at start with one line naming the setting: %j', async (env, message) => {
    const err = await startService('pipeline', { DATABASE_URL: db.url, ...env }, 20_000).catch((e: Error) => e);
    expect(err).toBeInstanceOf(Error);
    expect((err as Error).message).toMatch(/exited with 1/);
    expect((err as Error).message).toMatch(message);
    expect((err as Error).message).not.toMatch(/hunter2|\n\s+at /);
  });

  it('creates the database DATABASE_URL names when it is missing, or says what to run when the role may not', async () => {
    const name = `${db.name}_made`;
    const url = new URL(db.url);
    url.pathname = `/${name}`;
    const svc = await startService('pipeline', { DATABASE_URL: url.toString(), LOG_LEVEL: 'info' });
    try {
      // The database is there, and the log says it was made (log lines are written in batches, at most 250 ms late).
      const { rows } = await db.pool.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
      expect(rows).toHaveLength(1);
      const deadline = Date.now() + 5000;
      while (!svc.output().includes('created the database DATABASE_URL names') && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 50));
      }
      expect(svc.output()).toContain('created the database DATABASE_URL names');
      expect((await fetch(`${svc.urls.pipeline}/api/ready`)).status).toBe(200);
    } finally {
      await svc.stop('SIGINT');
      await db.pool.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    }

    const role = `${db.name}_nocreate`;
    // With a password: the embedded server the suite falls back to asks for one (scram), a trust server ignores it.
    await db.pool.query(`CREATE ROLE ${role} LOGIN NOCREATEDB PASSWORD 'no-create-0123'`);
    try {
      url.username = role;
      url.password = 'no-create-0123';
      const err = (await startService('pipeline', { DATABASE_URL: url.toString() }, 20_000).catch((e: Error) => e)) as Error;
      expect(err.message).toMatch(new RegExp(`DATABASE_URL names database "${name}", which does not exist .* createdb`));
    } finally {
      await db.pool.query(`DROP ROLE ${role}`);
    }
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
      // A second start on other ports but the same data directory: told that the folder is in use, and which setting to change.
      const otherPort = String(Number(port) + 1);
      const err = (await startService(
        'pipeline',
        { ...env, EMBEDDED_PG_PORT: otherPort, MOCK_SERVER_URL: 'http://127.0.0.1:9' },
        60_000,
      ).catch((e: Error) => e)) as Error;
      expect(err.message).toMatch(/data directory .* is in use by another running server \(pid \d+;.*set EMBEDDED_PG_DIR/);
      expect(err.message).not.toMatch(/Set EMBEDDED_PG_PORT/);
    } finally {
      expect(await second.stop('SIGINT')).toBe(0);
    }
  }, 180_000);
});
