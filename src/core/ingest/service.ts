// The run lifecycle of one process: starts ingests (one at a time across
// every process, by the database's lock), publishes their live progress,
// records failed runs even when the database was away at that moment, and
// at close cancels what is running and waits until each run is recorded.
// No HTTP here: the routes and the CLI are translations of it.
import type { Pool } from 'pg';
import type { Logger } from 'pino';
import { FailedRuns } from './failed-runs.js';
import { runIngest, type IngestOptions, type IngestResult } from './ingest.js';
import { progressFromRow, ProgressRegistry, type ProgressView } from './progress.js';
import { recentMergeRate, type RunRecord } from './runs-repository.js';

export interface IngestServiceOptions {
  pool: Pool;
  /** The settings' ingest options; a run may override some (dry run, deletions). */
  defaults: IngestOptions;
  logger?: Logger;
  /** Aborted at shutdown: the runs in flight stop and roll back. */
  signal?: AbortSignal;
  /** Live progress of this process's runs (one per service by default). */
  progress?: ProgressRegistry;
  /** Sees each run as it settles, passing its result or error through (the app's metrics). */
  trackRun?: (run: Promise<IngestResult>) => Promise<IngestResult>;
}

export interface StartedRun {
  /** The run's end: its result, or the engine's error (core/errors.ts). */
  run: Promise<IngestResult>;
  /** Its id, once the lock is held and its record exists (never, when `run` rejects first). */
  started: Promise<number>;
}

export class IngestService {
  readonly progress: ProgressRegistry;
  private readonly closing = new AbortController();
  private readonly signal: AbortSignal;
  private readonly inFlight = new Set<Promise<void>>();
  /** Failed runs the database could not take when they failed (it was away): written when it is back. */
  private readonly failures: FailedRuns;

  constructor(private readonly opts: IngestServiceOptions) {
    this.progress = opts.progress ?? new ProgressRegistry();
    this.signal = opts.signal ? AbortSignal.any([opts.signal, this.closing.signal]) : this.closing.signal;
    this.failures = new FailedRuns(opts.pool, opts.logger);
  }

  /** Starts an ingest whose progress this process publishes. */
  start(options: Partial<IngestOptions> = {}, logger: Logger | undefined = this.opts.logger): StartedRun {
    const { pool, defaults, trackRun } = this.opts;
    let runId: number | null = null;
    let onStarted!: (id: number) => void;
    const started = new Promise<number>((resolve) => (onStarted = resolve));
    const ingest = runIngest(
      pool,
      { ...defaults, ...options },
      {
        logger,
        signal: this.signal,
        onStarted: (id, mergeMsPerRecord) => {
          runId = id;
          this.progress.started(id, mergeMsPerRecord);
          onStarted(id);
        },
        onProgress: (p) => this.progress.update(p),
        failures: this.failures,
      },
    );
    const run = trackRun ? trackRun(ingest) : ingest;
    const settled = run
      .then(
        () => {},
        () => {},
      )
      .then(() => {
        if (runId !== null) this.progress.ended(runId);
        this.inFlight.delete(settled);
      });
    this.inFlight.add(settled);
    return { run, started };
  }

  /**
   * A running run's record with its progress: this process's live counts
   * when it runs it, else (another process, another replica) the counts
   * that run keeps in its row, about a second old.
   */
  async withProgress(run: RunRecord): Promise<RunRecord & { progress?: ProgressView }> {
    if (run.status !== 'running') return run;
    const live = this.progress.state(run.id);
    const p = live.state === 'running' ? live.progress : progressFromRow(run, await recentMergeRate(this.opts.pool));
    if (p === null) return run;
    return { ...run, pages: p.pages_done, fetched: p.records, rejected: p.rejected, retries: p.retries, phase: p.phase, progress: p };
  }

  /** Cancels the runs in flight and waits until each is recorded. */
  async close(): Promise<void> {
    this.closing.abort(new Error('closing'));
    await Promise.all([...this.inFlight]);
  }

  /** The last try at recording failures the database missed (after close, before the pool goes). */
  async closeFailures(): Promise<void> {
    await this.failures.close();
  }
}
