// The parent's side: starts the mock and the pipeline each in its own Node
// process (so the pipeline's RSS is its own and the load generator shares no
// event loop with them), talks to them over IPC, and never leaves one behind.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, openSync } from 'node:fs';
import { promisify } from 'node:util';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Message } from './child-ipc.js';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const BUILD_DIR = path.join(HERE, '.build');
const execFileAsync = promisify(execFile);

/** Compiles src/ and the child entry points to bench/.build (tsconfig.children.json). */
export async function compileChildren(): Promise<string> {
  const tsc = path.join(HERE, '..', 'node_modules', 'typescript', 'bin', 'tsc');
  try {
    await execFileAsync(process.execPath, [tsc, '-p', path.join(HERE, 'tsconfig.children.json')], { maxBuffer: 16 * 1024 * 1024 });
    return '';
  } catch (err) {
    // Type errors still emit JavaScript (others may be mid-edit in src/); a missing file does not.
    const out = String((err as { stdout?: string }).stdout ?? (err as Error).message);
    if (!existsSync(path.join(BUILD_DIR, 'bench', 'serve-pipeline.js')))
      throw new Error(`could not compile the servers:\n${out}`, { cause: err });
    return out;
  }
}
const live = new Set<ChildProcess>();

/** Kills every child still running: called on exit, on signals and on errors. */
export function killChildren(): void {
  for (const c of live) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  live.clear();
}
process.on('exit', killChildren);

export class Child {
  private nextId = 1;
  private readonly waiting = new Map<number, { resolve: (m: Message) => void; reject: (e: Error) => void }>();
  private exited: Promise<void>;

  private constructor(
    readonly name: string,
    readonly proc: ChildProcess,
    readonly url: string,
  ) {
    this.exited = new Promise((resolve) => proc.once('exit', () => resolve()));
    proc.on('message', (m: Message) => {
      const w = m.id === undefined ? undefined : this.waiting.get(m.id);
      if (!w) return;
      this.waiting.delete(m.id!);
      if (m.type === 'error') w.reject(new Error(`${name}: ${String(m.message)}`));
      else w.resolve(m);
    });
    proc.once('exit', (code, signal) => {
      live.delete(proc);
      for (const w of this.waiting.values()) w.reject(new Error(`${name} exited (${signal ?? code})`));
      this.waiting.clear();
    });
  }

  get pid(): number {
    return this.proc.pid!;
  }

  /**
   * Starts `bench/<script>` under plain Node: compiled into bench/.build (as
   * production runs), or with tsx's loader (`tsx: true`; no tsx wrapper
   * process either way: the pid is the server's own). Its stdout and stderr
   * (the production logs) go to `logFile`.
   */
  static async start(
    name: string,
    script: string,
    opts: { env: NodeJS.ProcessEnv; logFile: string; tsx: boolean; nodeArgs?: string[]; timeoutMs?: number },
  ): Promise<Child> {
    const fd = openSync(opts.logFile, 'a');
    const entry = opts.tsx ? ['--import', 'tsx', path.join(HERE, script)] : [path.join(BUILD_DIR, 'bench', script.replace(/\.ts$/, '.js'))];
    const proc = spawn(process.execPath, [...(opts.nodeArgs ?? []), ...entry], {
      env: opts.env,
      stdio: ['ignore', fd, fd, 'ipc'],
    });
    closeSync(fd);
    live.add(proc);
    try {
      const ready = await new Promise<Message>((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Error(`${name} did not start within ${opts.timeoutMs ?? 60_000} ms (log: ${opts.logFile})`)),
          opts.timeoutMs ?? 60_000,
        );
        proc.once('message', (m: Message) => {
          clearTimeout(timer);
          resolve(m);
        });
        proc.once('exit', (code) => {
          clearTimeout(timer);
          reject(new Error(`${name} exited with code ${code} before it was ready (log: ${opts.logFile})`));
        });
      });
      return new Child(name, proc, String(ready.url));
    } catch (err) {
      proc.kill('SIGKILL');
      live.delete(proc);
      throw err;
    }
  }

  request(msg: Message, timeoutMs = 30_000): Promise<Message> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting.delete(id);
        reject(new Error(`${this.name}: no answer to ${msg.type} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiting.set(id, {
        resolve: (m) => (clearTimeout(timer), resolve(m)),
        reject: (e) => (clearTimeout(timer), reject(e)),
      });
      this.proc.send({ ...msg, id });
    });
  }

  /** Asks the child to close its app and exit; kills it if it does not within 10 s. */
  async stop(): Promise<void> {
    if (this.proc.exitCode !== null || this.proc.signalCode !== null) return;
    this.proc.send({ type: 'stop' });
    const timer = setTimeout(() => this.proc.kill('SIGKILL'), 10_000);
    await this.exited;
    clearTimeout(timer);
  }

  /** Current and peak resident set size, in bytes (Linux /proc). */
  async memory(): Promise<{ rss: number; peak: number }> {
    const status = await readFile(`/proc/${this.pid}/status`, 'utf8');
    const kb = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN) * 1024;
    return { rss: kb('VmRSS'), peak: kb('VmHWM') };
  }

  /** Resets the peak (VmHWM) to the current RSS, so the next peak is that of what follows. */
  async resetPeak(): Promise<boolean> {
    try {
      await writeFile(`/proc/${this.pid}/clear_refs`, '5');
      return true;
    } catch {
      return false;
    }
  }
}
