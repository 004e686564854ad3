// Runs the real entry point (src/main.ts) as a child process, the way
// `npm start` does, and reads the URLs it prints.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { PACKAGE_ROOT } from '../../src/core/config.js';

/** tsx's loader by its URL: `--import tsx` would resolve it from the child's working directory. */
const TSX = import.meta.resolve('tsx');

export interface ServiceProcess {
  child: ChildProcess;
  output: () => string;
  urls: { mock?: string; pipeline?: string; database?: string };
  /** Sends a signal and resolves with the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
  exited: Promise<number | null>;
}

export async function startService(
  mode: 'all' | 'mock' | 'pipeline',
  env: Record<string, string>,
  timeoutMs = 60_000,
  /** The working directory, where a `.env` is read from; not the package's (a developer's own .env stays out of the tests). */
  cwd = tmpdir(),
): Promise<ServiceProcess> {
  const child = spawn(process.execPath, ['--import', TSX, path.join(PACKAGE_ROOT, 'src', 'main.ts'), mode], {
    cwd,
    env: { ...process.env, LOG_LEVEL: 'warn', HOST: '127.0.0.1', MOCK_PORT: '0', PIPELINE_PORT: '0', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const exited = once(child, 'exit').then(([code]) => code as number | null);
  const deadline = Date.now() + timeoutMs;
  while (!out.includes('Ctrl-C stops everything')) {
    if (child.exitCode !== null) throw new Error(`${mode} exited with ${child.exitCode} before it was ready:\n${out}`);
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`${mode} not ready after ${timeoutMs} ms:\n${out}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  const grab = (re: RegExp) => re.exec(out)?.[1];
  return {
    child,
    output: () => out,
    urls: {
      mock: grab(/mock server \(source API\)\s+(\S+)/),
      pipeline: grab(/pipeline API\s+(\S+)/),
      database: grab(/psql '([^']+)'/),
    },
    exited,
    async stop(signal = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
  };
}
