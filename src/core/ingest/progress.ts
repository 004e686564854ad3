// Live progress of the ingests this process runs, keyed by run id. It lives in
// memory only: the run row holds everything that must outlast the process,
// this holds what changes page by page (and is gone with the process).
import { EventEmitter } from 'node:events';
import type { IngestProgress } from './ingest.js';
import type { RunPhase, RunRecord } from './runs-repository.js';

/** What an operator sees of a running ingest (`progress` of a run record). */
export interface ProgressView {
  /** `fetching` pages (and comparing them with the stored rows), then `merging` what changed and committing. */
  phase: RunPhase;
  pages_done: number;
  /** Pages the source's `total` implies (never fewer than are done); null when the source does not say. */
  pages_total: number | null;
  records: number;
  rejected: number;
  retries: number;
  elapsed_seconds: number;
  records_per_second: number;
  /**
   * Time left for the whole run: the pages still to fetch at the rate so
   * far, and the merge, estimated from the last run's merge time per
   * record; null when unknown.
   */
  eta_seconds: number | null;
}

const round1 = (n: number) => Math.round(n * 10) / 10;

/**
 * Merge time per record fetched when no run has measured it yet: the merge
 * of a first ingest into an empty table, the slowest kind (`npm run bench`,
 * 2 shared cores: the loader floor's merge of 200,000 records took 4.9 s;
 * an unchanged re-ingest's takes a tenth of that, and once a run has
 * succeeded its own figure is used).
 */
export const DEFAULT_MERGE_MS_PER_RECORD = 0.025;

/** Rate and ETA from the counts so far, the time since the run started, and the merge rate of the last run. */
export function progressView(
  p: Omit<IngestProgress, 'runId'> | null,
  elapsedMs: number,
  mergeMsPerRecord: number | null = null,
): ProgressView {
  const elapsed = Math.max(elapsedMs, 1) / 1000;
  const pages = p?.pages ?? 0;
  const fetched = p?.fetched ?? 0;
  const total = p?.pagesExpected == null ? null : Math.max(p.pagesExpected, pages);
  const phase = p?.phase ?? 'fetching';
  const rate = mergeMsPerRecord ?? DEFAULT_MERGE_MS_PER_RECORD;
  let eta: number | null = null;
  if (phase === 'merging') {
    const merging = (elapsedMs - (p?.fetchMs ?? elapsedMs)) / 1000;
    eta = Math.max(0, (fetched * rate) / 1000 - merging);
  } else if (total !== null && pages > 0) {
    const fetchedBy = p?.fetchMs ?? elapsedMs;
    const left = ((total - pages) * fetchedBy) / 1000 / pages;
    const records = (fetched / pages) * total;
    eta = left + (records * rate) / 1000;
  }
  return {
    phase,
    pages_done: pages,
    pages_total: total,
    records: fetched,
    rejected: p?.rejected ?? 0,
    retries: p?.retries ?? 0,
    elapsed_seconds: round1(elapsed),
    records_per_second: round1(fetched / Math.max((p?.fetchMs ?? elapsedMs) / 1000, 0.001)),
    eta_seconds: eta === null ? null : round1(eta),
  };
}

/** The progress of a running run from its row (a run of another process), or null. */
export function progressFromRow(run: RunRecord, mergeMsPerRecord: number | null): ProgressView | null {
  if (run.status !== 'running' || run.elapsed_ms === null) return null;
  return progressView(
    {
      pages: run.pages,
      fetched: run.fetched,
      rejected: run.rejected,
      retries: run.retries,
      pagesExpected: run.pages_expected,
      phase: run.phase ?? 'fetching',
      fetchMs: run.fetch_ms,
    },
    run.elapsed_ms,
    mergeMsPerRecord,
  );
}

interface Entry {
  startedAt: number;
  latest: IngestProgress | null;
  ended: boolean;
  mergeMsPerRecord: number | null;
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

  started(runId: number, mergeMsPerRecord: number | null = null): void {
    this.#entries.set(runId, { startedAt: performance.now(), latest: null, ended: false, mergeMsPerRecord });
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
    return progressView(entry.latest, performance.now() - entry.startedAt, entry.mergeMsPerRecord);
  }
}
