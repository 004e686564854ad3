// The pipeline's own Prometheus metrics, in the app's Registry: ingest runs
// by outcome, what the merges did to rows, source retries, and the database
// pool (read at scrape time). The HTTP histogram is src/http/metrics.ts.
import type { Pool } from 'pg';
import { Counter, Gauge, Registry } from 'prom-client';
import { DomainError } from '../core/errors.js';
import { IngestConflictError, type IngestResult } from '../core/ingest/ingest.js';
import { getRun, type RunCounts } from '../core/ingest/runs-repository.js';
import type { ReadReplica } from '../core/db/replica.js';

export type RunOutcome = 'succeeded' | 'failed' | 'conflict';

const ROW_RESULTS = ['inserted', 'updated', 'unchanged', 'rejected', 'deleted'] as const;

export class PipelineMetrics {
  readonly registry: Registry;
  private readonly runs: Counter<'outcome'>;
  private readonly rows: Counter<'result'>;
  private readonly retries: Counter;

  constructor(
    private readonly pool: Pool,
    registry = new Registry(),
    replica: ReadReplica | null = null,
  ) {
    this.registry = registry;
    const registers = [registry];
    this.runs = new Counter({
      name: 'ingest_runs_total',
      help: 'Ingest runs by outcome: succeeded, failed (source or database; rolled back), conflict (another ingest held the lock)',
      labelNames: ['outcome'] as const,
      registers,
    });
    this.rows = new Counter({
      name: 'ingest_rows_total',
      help: 'Records of succeeded ingests (and reverts) by what the merge did: inserted, updated, unchanged, deleted; rejected = broke the schema, not loaded. Dry runs are not counted',
      labelNames: ['result'] as const,
      registers,
    });
    this.retries = new Counter({
      name: 'ingest_source_retries_total',
      help: 'Source requests retried (timeouts, resets, 5xx, 429, malformed pages), failed runs included',
      registers,
    });
    // Every series exists from the first scrape (rate() needs the zero).
    for (const outcome of ['succeeded', 'failed', 'conflict'] as const) this.runs.inc({ outcome }, 0);
    for (const result of ROW_RESULTS) this.rows.inc({ result }, 0);

    new Gauge({
      name: 'db_pool_connections',
      help: 'Connections of the database pool: in_use (lent to a query or an ingest) and idle',
      labelNames: ['state'] as const,
      registers,
      collect() {
        this.set({ state: 'in_use' }, pool.totalCount - pool.idleCount);
        this.set({ state: 'idle' }, pool.idleCount);
      },
    });
    new Gauge({
      name: 'db_pool_waiting_clients',
      help: 'Queries and ingests waiting for a connection of the pool',
      registers,
      collect() {
        this.set(pool.waitingCount);
      },
    });
    new Gauge({
      name: 'db_pool_max_connections',
      help: 'Size limit of the database pool (DB_POOL_MAX)',
      registers,
      collect() {
        this.set((pool as Pool & { options: { max?: number } }).options.max ?? 10);
      },
    });
    if (replica) this.replicaMetrics(replica, registers);
  }

  /** The replica's series (DATABASE_READ_URL): its lag and state asked of it at scrape time, and the fallbacks. */
  private replicaMetrics(replica: ReadReplica, registers: Registry[]): void {
    let last: Promise<Awaited<ReturnType<ReadReplica['status']>>> | null = null;
    // One status query per scrape, shared by the two gauges.
    const status = () => (last ??= replica.status().finally(() => setImmediate(() => (last = null))));
    new Gauge({
      name: 'db_replica_lag_seconds',
      help: 'Replay lag of the read replica, asked of it at scrape time: 0 when it has replayed all it received (so an idle primary does not read as lag), else now() - pg_last_xact_replay_timestamp(); NaN while it is down (never a 0 that looks healthy)',
      registers,
      async collect() {
        const s = await status();
        this.set(s.lag_seconds ?? Number.NaN);
      },
    });
    new Gauge({
      name: 'db_replica_up',
      help: 'The read replica answers (1) or not (0: reads go to the primary)',
      registers,
      async collect() {
        this.set((await status()).state === 'ok' ? 1 : 0);
      },
    });
    new Counter({
      name: 'db_replica_fallbacks_total',
      help: 'Reads the primary answered because the read replica could not',
      registers,
      collect() {
        this.reset();
        this.inc(replica.fallbacks);
      },
    });
  }

  /** Counts one run: its outcome, and what it did to rows when it succeeded. */
  recordRun(outcome: RunOutcome, counts: Partial<RunCounts> = {}): void {
    this.runs.inc({ outcome });
    if (outcome === 'succeeded') {
      for (const result of ROW_RESULTS) this.rows.inc({ result }, counts[result] ?? 0);
    }
    if (counts.retries) this.retries.inc(counts.retries);
  }

  /**
   * Counts a run when it settles, and passes its result or error through.
   * A failed run's retries are read afterwards from its run record (the
   * error carries only its id).
   */
  async trackRun<T extends IngestResult>(run: Promise<T>): Promise<T> {
    let result: T;
    try {
      result = await run;
    } catch (err) {
      if (err instanceof IngestConflictError) this.recordRun('conflict');
      else {
        this.recordRun('failed');
        // Off the answer's path: with the database down the read would wait for its timeout.
        void this.countFailedRunRetries(err);
      }
      throw err;
    }
    // A dry run wrote no row: its run counts, its rows do not.
    this.recordRun('succeeded', result.dry_run ? { retries: result.retries } : result);
    return result;
  }

  private async countFailedRunRetries(err: unknown): Promise<void> {
    const runId = err instanceof DomainError ? err.details.run_id : undefined;
    if (typeof runId !== 'number') return;
    try {
      const run = await getRun(this.pool, runId);
      if (run?.retries) this.retries.inc(run.retries);
    } catch {
      // The database may be why the run failed; its retries go uncounted.
    }
  }
}
