// Where the services' log lines go: a file descriptor (stdout), in batches,
// written asynchronously; and, once whatever reads it has gone (a closed
// pipe: `npm start | tee log` after tee got the terminal's Ctrl-C), nowhere.
//
// pino's own destination (sonic-boom 4) does the batching, but its
// synchronous flush at exit retries a failed write every 100 ms for as long
// as it fails: with the pipe's reader gone (EPIPE) and lines still buffered,
// the process never exits. Here a write that fails for any reason but EAGAIN
// ends the output: lines are dropped from then on, and the exit is not held.
import { write, writeSync } from 'node:fs';

const outputs = new Set<LogOutput>();
let exitHooked = false;

/** The synchronous flush at exit waits this long at most for a full pipe (EAGAIN). */
const EXIT_FLUSH_MS = 1000;

export class LogOutput {
  private buffered = '';
  private writing = false;
  private closed = false;
  private flushed: (() => void)[] = [];

  constructor(
    private readonly fd: number,
    private readonly opts: { minLength: number; flushMs: number },
  ) {
    setInterval(() => this.flush(), opts.flushMs).unref();
    outputs.add(this);
    if (!exitHooked) {
      exitHooked = true;
      process.on('exit', () => {
        for (const output of outputs) output.flushSync();
      });
    }
  }

  /** False once the reader has gone: what is written is dropped. */
  get open(): boolean {
    return !this.closed;
  }

  write(line: string): boolean {
    if (this.closed) return true;
    this.buffered += line;
    if (!this.writing && this.buffered.length >= this.opts.minLength) this.writeBuffered();
    return true;
  }

  /** Writes what is buffered; `cb` runs once it is out (or dropped). */
  flush(cb?: (err?: Error) => void): void {
    if (cb) this.flushed.push(() => cb());
    if (!this.writing) this.writeBuffered();
  }

  /** Stops writing: what is buffered and what comes later is dropped. */
  close(): void {
    this.closed = true;
    this.buffered = '';
    this.settle();
  }

  private settle(): void {
    const waiting = this.flushed;
    this.flushed = [];
    for (const f of waiting) f();
  }

  private writeBuffered(): void {
    if (this.closed || this.buffered.length === 0) {
      this.settle();
      return;
    }
    const bytes = Buffer.from(this.buffered, 'utf8');
    this.buffered = '';
    this.writing = true;
    const rest = (chunk: Buffer) =>
      write(this.fd, chunk, 0, chunk.length, null, (err, n) => {
        if (err?.code === 'EAGAIN') {
          setTimeout(() => rest(chunk), 20).unref();
          return;
        }
        if (err) {
          this.writing = false;
          this.close();
          return;
        }
        if (n < chunk.length) {
          rest(chunk.subarray(n));
          return;
        }
        this.writing = false;
        if (this.buffered.length >= this.opts.minLength || this.flushed.length) this.writeBuffered();
      });
    rest(bytes);
  }

  /** At exit: what is buffered, synchronously, given up on the first error or after EXIT_FLUSH_MS of EAGAIN. */
  flushSync(): void {
    if (this.closed || this.buffered.length === 0) return;
    let bytes = Buffer.from(this.buffered, 'utf8');
    this.buffered = '';
    const deadline = Date.now() + EXIT_FLUSH_MS;
    while (bytes.length > 0) {
      try {
        bytes = bytes.subarray(writeSync(this.fd, bytes));
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EAGAIN' || Date.now() > deadline) {
          this.close();
          return;
        }
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 10);
      }
    }
  }
}
