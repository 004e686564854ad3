// HTTP load with autocannon, from the parent process (the servers run in
// their own processes). A short warm-up run precedes each measured run.
import autocannon, { type Request } from 'autocannon';

export interface LoadResult {
  reqPerSec: number;
  p50: number;
  p99: number;
  requests: number;
}

export async function measure(
  url: string,
  request: Request,
  opts: { connections: number; duration: number; warmup: number },
): Promise<LoadResult> {
  if (opts.warmup > 0) await autocannon({ url, connections: opts.connections, duration: opts.warmup, requests: [request] });
  const r = await autocannon({ url, connections: opts.connections, duration: opts.duration, requests: [request] });
  if (r.errors || r.timeouts || r.non2xx) {
    throw new Error(`${url}${request.path ?? ''}: ${r.errors} errors, ${r.timeouts} timeouts, ${r.non2xx} non-2xx answers under load`);
  }
  return { reqPerSec: r.requests.average, p50: r.latency.p50, p99: r.latency.p99, requests: r.requests.total };
}

/** A request whose path is made afresh for every request sent. */
export function randomPath(path: () => string): Request {
  return { method: 'GET', path: path(), setupRequest: (req) => ({ ...req, path: path() }) };
}
