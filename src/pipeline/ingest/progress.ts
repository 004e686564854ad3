// Live progress of the ingests this process runs, keyed by run id. It lives in
// memory only: the run row holds everything that must outlast the process,
// this holds what changes page by page (and is gone with the process).
import { EventEmitter } from 'node:events';
import type { IngestProgress } from './ingest.js';

/** What an operator sees of a running ingest (`progress` of a run record). */
export interface ProgressView {
  pages_done: number;
  /** Pages the source's `total` implies; null when the source does not say. */
  pages_total: number | null;
  records: number;
  rejected: number;
  retries: number;
  elapsed_seconds: number;
  records_per_second: number;
  /** Time left to fetch the remaining pages at the rate so far; null when unknown. */
  eta_seconds: number | null;
}

const round1 = (n: number) => Math.round(n * 10) / 10;

/** Rate and ETA from the counts so far and the time since the run started. */
export function progressView(p: Omit<IngestProgress, 'runId'> | null, elapsedMs: number): ProgressView {
  const elapsed = Math.max(elapsedMs, 1) / 1000;
  const pages = p?.pages ?? 0;
  const total = p?.pagesExpected ?? null;
  return {
    pages_done: pages,
    pages_total: total,
    records: p?.fetched ?? 0,
    rejected: p?.rejected ?? 0,
    retries: p?.retries ?? 0,
    elapsed_seconds: round1(elapsed),
    records_per_second: round1((p?.fetched ?? 0) / elapsed),
    eta_seconds: total === null || pages === 0 ? null : round1((Math.max(0, total - pages) * elapsed) / pages),
  };
}

interface Entry {
  startedAt: number;
  latest: IngestProgress | null;
  ended: boolean;
}

interface Events {
  progress: [runId: number, view: ProgressView];
  end: [runId: number];
}

/**
 * Runs of this process: started → progress* → end. An ended entry is kept a
 * little while so that a reader who saw the run `running` in the database a
 * moment ago learns it has ended and reads the final row.
 */
export class ProgressRegistry {
  readonly #entries = new Map<number, Entry>();
  readonly #events = new EventEmitter<Events>();
  readonly #keepEndedMs: number;

  constructor(opts: { keepEndedMs?: number } = {}) {
    this.#keepEndedMs = opts.keepEndedMs ?? 60_000;
    // One listener per open event stream: many at once is expected.
    this.#events.setMaxListeners(0);
  }

  started(runId: number): void {
    this.#entries.set(runId, { startedAt: performance.now(), latest: null, ended: false });
  }

  update(p: IngestProgress): void {
    const entry = this.#entries.get(p.runId);
    if (!entry || entry.ended) return;
    entry.latest = p;
    this.#events.emit('progress', p.runId, this.#view(entry));
  }

  ended(runId: number): void {
    const entry = this.#entries.get(runId);
    if (!entry || entry.ended) return;
    entry.ended = true;
    this.#events.emit('end', runId);
    setTimeout(() => this.#entries.delete(runId), this.#keepEndedMs).unref();
  }

  /** 'running' with its progress, 'ended', or 'unknown' (not run by this process). */
  state(runId: number): { state: 'running'; progress: ProgressView } | { state: 'ended' | 'unknown' } {
    const entry = this.#entries.get(runId);
    if (!entry) return { state: 'unknown' };
    if (entry.ended) return { state: 'ended' };
    return { state: 'running', progress: this.#view(entry) };
  }

  /** Listens to one run's progress and end; returns the unsubscribe function. */
  subscribe(runId: number, on: { progress(view: ProgressView): void; end(): void }): () => void {
    const progress = (id: number, view: ProgressView) => id === runId && on.progress(view);
    const end = (id: number) => id === runId && on.end();
    this.#events.on('progress', progress);
    this.#events.on('end', end);
    return () => {
      this.#events.off('progress', progress);
      this.#events.off('end', end);
    };
  }

  #view(entry: Entry): ProgressView {
    return progressView(entry.latest, performance.now() - entry.startedAt);
  }
}
