// A PgBouncer in transaction mode in front of the suite's PostgreSQL, for the
// tests that run the pipeline through it. Debian's pgbouncer; its config and
// auth file in a temp folder; listens on a free port; stopped and removed by
// stop().
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { connectionError } from '../../src/core/db/database.js';
import { freePort } from './ports.js';
import { giveToServerUser, serverUser } from './postgres-user.js';
import { onPath, skipWithout } from './tools.js';

export const PGBOUNCER = existsSync('/usr/sbin/pgbouncer') ? '/usr/sbin/pgbouncer' : onPath('pgbouncer');

/** Debian's pgbouncer, which the PgBouncer tests run. */
export const withoutPgBouncer = () => skipWithout('pgbouncer', PGBOUNCER !== null, 'apt-get install --no-install-recommends pgbouncer');

export interface PgBouncer {
  port: number;
  /** `serverUrl` with PgBouncer's host and port in place of the server's. */
  url(serverUrl: string): string;
  output(): string;
  stop(): Promise<void>;
}

/**
 * Starts PgBouncer with `pool_mode = transaction` in front of the server of
 * `serverUrl` (every database on it, logging in as that URL's user and
 * password). Nothing else is configured: no ignore_startup_parameters, no
 * prepared-statement support (PgBouncer 1.18 has none), so what works through
 * it works through a plain transaction pooler.
 */
export async function startPgBouncer(serverUrl: string, timeoutMs = 10_000): Promise<PgBouncer> {
  if (!PGBOUNCER) throw new Error('pgbouncer is not installed');
  const server = new URL(serverUrl);
  const user = decodeURIComponent(server.username) || 'postgres';
  const password = decodeURIComponent(server.password);
  const dir = await mkdtemp(path.join(tmpdir(), 'cp-pgbouncer-'));
  await chmod(dir, 0o755);
  const port = await freePort();
  const ini = path.join(dir, 'pgbouncer.ini');
  const users = path.join(dir, 'userlist.txt');
  const target = [`host=${server.hostname}`, `port=${server.port || 5432}`, `user=${user}`, password ? `password=${password}` : ''];
  await writeFile(
    ini,
    [
      '[databases]',
      `* = ${target.filter(Boolean).join(' ')}`,
      '[pgbouncer]',
      'listen_addr = 127.0.0.1',
      `listen_port = ${port}`,
      'unix_socket_dir =',
      'auth_type = trust',
      `auth_file = ${users}`,
      'pool_mode = transaction',
      'default_pool_size = 20',
      'max_client_conn = 200',
      'logfile =',
      'pidfile =',
      '',
    ].join('\n'),
  );
  await writeFile(users, `"${user}" ""\n`);
  await giveToServerUser(dir, ini, users);
  const os = serverUser();
  const child: ChildProcess = spawn(PGBOUNCER, [ini], { stdio: ['ignore', 'pipe', 'pipe'], ...(os ?? {}) });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const exited = once(child, 'exit');
  const url = (u: string) => {
    const through = new URL(u);
    through.hostname = '127.0.0.1';
    through.port = String(port);
    return through.toString();
  };
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGINT');
      await exited;
    }
    await rm(dir, { recursive: true, force: true });
  };
  // Ready once a query goes through it (bounded).
  const probe = url(new URL('/postgres', serverUrl).toString());
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (child.exitCode !== null) {
      await stop();
      throw new Error(`pgbouncer exited (${child.exitCode}): ${out}`);
    }
    if ((await connectionError(probe, 1000)) === null) break;
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`pgbouncer not answering on ${port} after ${timeoutMs} ms: ${out}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return { port, url, output: () => out, stop };
}
