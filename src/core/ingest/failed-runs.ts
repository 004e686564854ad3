// The record of a failed run, written even when the failure was the database
// going away. A run that fails because its server restarted cannot be marked
// failed right then; it is kept here and written when the database answers
// again — by a retry on a timer, or first thing in the next ingest — so the
// run record says what really happened, not "abandoned".
import type { Pool } from 'pg';
import type { Logger } from 'pino';
import { isDatabaseUnavailable } from '../db/database.js';
import { finishRun, type RunCounts } from './runs-repository.js';

interface Failure {
  runId: number;
  counts: RunCounts;
  error: string;
}

const FIRST_RETRY_MS = 500;
const MAX_RETRY_MS = 15_000;

export class FailedRuns {
  private readonly pending = new Map<number, Failure>();
  private timer: NodeJS.Timeout | null = null;
  private delayMs = FIRST_RETRY_MS;
  private flushing: Promise<void> | null = null;

  constructor(
    private readonly pool: Pool,
    private readonly logger?: Logger,
  ) {}

  /** Records a run as failed now, or as soon as the database is back. */
  async record(runId: number, counts: RunCounts, error: string): Promise<void> {
    this.pending.set(runId, { runId, counts, error });
    await this.flush();
  }

  /** Runs whose failure is not written yet. */
  get waiting(): number {
    return this.pending.size;
  }

  /** Writes every pending failure it can; schedules another try while the database is away. */
  flush(): Promise<void> {
    this.flushing ??= this.write().finally(() => (this.flushing = null));
    return this.flushing;
  }

  private async write(): Promise<void> {
    for (const f of [...this.pending.values()]) {
      try {
        await finishRun(this.pool, f.runId, 'failed', f.counts, f.error);
        this.pending.delete(f.runId);
        this.delayMs = FIRST_RETRY_MS;
      } catch (err) {
        if (!isDatabaseUnavailable(err)) {
          // Not a database that is away: trying again will not help.
          this.pending.delete(f.runId);
          this.logger?.error({ err, run_id: f.runId }, 'could not record the failed run');
          continue;
        }
        this.logger?.warn({ run_id: f.runId, retry_ms: this.delayMs }, 'database unavailable; the failed run is recorded when it is back');
        this.schedule();
        return;
      }
    }
  }

  private schedule(): void {
    if (this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      void this.flush();
    }, this.delayMs);
    // A pending record never keeps the process alive.
    this.timer.unref();
    this.delayMs = Math.min(MAX_RETRY_MS, this.delayMs * 2);
  }

  /** Stops retrying (the app is closing): one last try, then what is left is the next start's to mark abandoned. */
  async close(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    if (this.pending.size) await this.flush();
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }
}
