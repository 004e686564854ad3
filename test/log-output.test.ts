// The services' log on a stdout whose reader has gone (`npm start | tee log`
// after tee got the Ctrl-C): lines are dropped, the process is not crashed,
// and its exit is not held. A real process, a real pipe.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { PACKAGE_ROOT } from '../src/core/config.js';

const SERVICES = path.join(PACKAGE_ROOT, 'src', 'services.ts');

/** A process logging through createLogger: on "go" on stdin, it logs `lines` lines, then exits by `exit`. */
function logger(lines: number, exit: 'process.exit' | 'natural') {
  const script = `
    import { createLogger } from ${JSON.stringify(SERVICES)};
    const log = createLogger({ log: { level: 'info', requests: true } }, 'test');
    log.info('before');
    process.stderr.write('ready\\n');
    process.stdin.once('data', () => {
      for (let i = 0; i < ${lines}; i++) log.info({ i }, 'after the reader has gone');
      process.stderr.write('logged\\n');
      ${exit === 'process.exit' ? 'process.exit(0);' : 'setTimeout(() => process.stdin.destroy(), 400);'}
    });`;
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
    cwd: PACKAGE_ROOT,
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  children.add(child);
  let err = '';
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  return { child, stderr: () => err };
}

async function untilStderr(p: ReturnType<typeof logger>, text: string): Promise<void> {
  while (!p.stderr().includes(text)) {
    if (p.child.exitCode !== null) throw new Error(`exited before "${text}": ${p.stderr()}`);
    await once(p.child.stderr, 'data');
  }
}

const children = new Set<ReturnType<typeof spawn>>();
afterEach(() => {
  for (const c of children) c.kill('SIGKILL');
  children.clear();
});

describe('the log on a closed stdout', () => {
  it('does not hold the exit when lines are still buffered (sonic-boom retried its flush forever)', async () => {
    const p = logger(3, 'process.exit');
    const exited = once(p.child, 'exit');
    await untilStderr(p, 'ready');
    p.child.stdout.destroy(); // the reader goes away
    p.child.stdin.write('go\n');
    const [code] = await exited;
    expect(code).toBe(0);
    expect(p.stderr()).toContain('logged');
    expect(p.stderr()).not.toMatch(/EPIPE|Error/);
  }, 20_000);

  it('drops the lines that come after a failed write, without an uncaught error', async () => {
    const p = logger(2000, 'natural'); // more than a batch: written, and failing, at once
    const exited = once(p.child, 'exit');
    await untilStderr(p, 'ready');
    p.child.stdout.destroy();
    p.child.stdin.write('go\n');
    const [code] = await exited;
    expect(code).toBe(0);
    expect(p.stderr()).not.toMatch(/EPIPE|Error/);
  }, 20_000);
});
