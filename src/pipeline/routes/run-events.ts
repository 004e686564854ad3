// A run's progress as Server-Sent Events: `progress` while it runs, then one
// `done` (succeeded) or `failed` event carrying the final run record, then the
// stream closes. Written to the raw response: a stream outlives Fastify's
// request/response cycle, so the route hijacks the reply.
import type { FastifyReply } from 'fastify';
import type { Pool } from 'pg';
import { progressFromRow, type ProgressRegistry, type ProgressView } from '../../core/ingest/progress.js';
import { getRun, recentMergeRate, type RunRecord } from '../../core/ingest/runs-repository.js';

export interface RunEventsOptions {
  pool: Pool;
  progress: ProgressRegistry;
  /** A comment line this often keeps proxies and idle timers from closing the stream. */
  heartbeatMs: number;
  /** How often a run of another process (no live progress here) is looked up. */
  pollMs: number;
  /** Progress events are coalesced to at most one per this interval. */
  minIntervalMs: number;
}

export interface RunEventStream {
  /** Ends the stream at shutdown: after its final event when one is being written. */
  close(): Promise<void>;
  closed: Promise<void>;
}

export function streamRunEvents(reply: FastifyReply, first: RunRecord, opts: RunEventsOptions): RunEventStream {
  const { pool, progress } = opts;
  const res = reply.raw;
  reply.hijack();
  res.writeHead(200, {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-cache, no-transform',
    'x-accel-buffering': 'no',
  });
  // A client that lost the stream reconnects after this long (EventSource).
  res.write('retry: 2000\n\n');

  let ended = false;
  let finishing: Promise<void> | null = null;
  let unsubscribe: (() => void) | null = null;
  let poll: NodeJS.Timeout | null = null;
  let pending: NodeJS.Timeout | null = null;
  let lastSent = 0;
  let latest: ProgressView | null = null;
  let resolveClosed!: () => void;
  const closed = new Promise<void>((r) => (resolveClosed = r));

  const write = (event: string, data: unknown) => {
    if (!ended) res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
  };
  const cleanup = () => {
    if (ended) return;
    ended = true;
    clearInterval(heartbeat);
    if (poll) clearInterval(poll);
    if (pending) clearTimeout(pending);
    unsubscribe?.();
    resolveClosed();
  };
  const end = () => {
    if (ended) return;
    cleanup();
    res.end();
  };
  res.on('close', cleanup);

  const heartbeat = setInterval(() => {
    if (!ended) res.write(': heartbeat\n\n');
  }, opts.heartbeatMs);

  const flushProgress = () => {
    pending = null;
    if (latest) {
      lastSent = performance.now();
      write('progress', latest);
    }
  };
  const onProgress = (view: ProgressView) => {
    latest = view;
    const wait = opts.minIntervalMs - (performance.now() - lastSent);
    if (wait <= 0) flushProgress();
    else pending ??= setTimeout(flushProgress, wait);
  };

  const terminal = (run: RunRecord) => {
    if (pending) flushProgress();
    write(run.status === 'succeeded' ? 'done' : 'failed', run);
    end();
  };
  /** The run ended (here or elsewhere): its row is final; send it and close. */
  const finish = () => {
    finishing ??= getRun(pool, first.id).then(
      (run) => (run && run.status !== 'running' ? terminal(run) : end()),
      () => end(),
    );
    return finishing;
  };

  const follow = () => {
    const state = progress.state(first.id);
    if (state.state === 'running') {
      if (poll) clearInterval(poll);
      poll = null;
      unsubscribe = progress.subscribe(first.id, { progress: onProgress, end: () => void finish() });
      onProgress(state.progress);
      return true;
    }
    if (state.state === 'ended') {
      void finish();
      return true;
    }
    return false;
  };

  if (first.status !== 'running') terminal(first);
  else if (!follow()) {
    // Run by another process (or not yet registered here): no live counts
    // here, but the counts it keeps in its row (about a second old); watch
    // the row until the run ends.
    const fromRow = async (run: RunRecord) => {
      const view = progressFromRow(run, await recentMergeRate(pool).catch(() => null));
      if (view && !ended) onProgress(view);
    };
    void fromRow(first);
    poll = setInterval(() => {
      if (ended || follow()) return;
      getRun(pool, first.id).then(
        (run) => {
          if (!run) end();
          else if (run.status !== 'running') terminal(run);
          else return fromRow(run);
        },
        () => {},
      );
    }, opts.pollMs);
  }

  return {
    closed,
    async close() {
      if (finishing) await finishing;
      end();
    },
  };
}
