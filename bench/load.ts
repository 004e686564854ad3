// HTTP load with autocannon, from the parent process (the servers run in
// their own processes). A short warm-up run precedes each measured run.
import autocannon, { type Request } from 'autocannon';
import type { CpuSeconds } from './cpu.js';

export interface LoadResult {
  reqPerSec: number;
  p50: number;
  p99: number;
  requests: number;
  /** Failures under load: connection errors, timeouts (autocannon's 10 s), non-2xx answers. */
  errors: number;
  timeouts: number;
  non2xx: number;
  /** CPU seconds per party during the measured run (cpu.ts). */
  cpu?: CpuSeconds;
}

export async function measure(
  url: string,
  request: Request,
  opts: { connections: number; duration: number; warmup: number; account?: () => Promise<{ stop(): Promise<CpuSeconds> }> },
): Promise<LoadResult> {
  if (opts.warmup > 0) await autocannon({ url, connections: opts.connections, duration: opts.warmup, requests: [request] });
  const account = await opts.account?.();
  const r = await autocannon({ url, connections: opts.connections, duration: opts.duration, requests: [request] });
  const cpu = await account?.stop();
  // A route that fails under load is a result, not a crash of the benchmark: the table shows it.
  return {
    reqPerSec: r.requests.average,
    p50: r.latency.p50,
    p99: r.latency.p99,
    requests: r.requests.total,
    errors: r.errors,
    timeouts: r.timeouts,
    non2xx: r.non2xx,
    cpu,
  };
}

/** A request whose path is made afresh for every request sent. */
export function randomPath(path: () => string): Request {
  return { method: 'GET', path: path(), setupRequest: (req) => ({ ...req, path: path() }) };
}
