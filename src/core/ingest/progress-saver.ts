// Writes a running run's progress into its row, at most once a second and
// one write at a time, so that other processes (another replica's
// dashboard, the CLI) see live counts. The last counts are written before
// the run's end is recorded, and nothing is written after.
import type { Pool } from 'pg';
import { saveProgress, type RunProgressRow } from './runs-repository.js';

const INTERVAL_MS = 1000;

export class ProgressSaver {
  private latest: RunProgressRow | null = null;
  private writing: Promise<void> | null = null;
  private timer: NodeJS.Timeout | null = null;
  private lastWrite = 0;
  private stopped = false;

  constructor(
    private readonly pool: Pool,
    private readonly runId: number,
  ) {}

  /** Keeps the latest counts; writes them now, or when the interval has passed. */
  update(p: RunProgressRow): void {
    if (this.stopped) return;
    this.latest = p;
    if (this.writing || this.timer) return;
    const wait = INTERVAL_MS - (performance.now() - this.lastWrite);
    if (wait <= 0) this.write();
    else this.timer = setTimeout(() => this.write(), wait);
  }

  private write(): void {
    this.timer = null;
    const p = this.latest;
    if (this.stopped || p === null) return;
    this.latest = null;
    this.lastWrite = performance.now();
    // Progress is best effort: a database that is away fails the run elsewhere.
    this.writing = saveProgress(this.pool, this.runId, p)
      .catch(() => {})
      .finally(() => {
        this.writing = null;
        if (this.latest) this.update(this.latest);
      });
  }

  /** Writes the phase change at once (a reader should not see `fetching` while the run merges). */
  async flush(p: RunProgressRow): Promise<void> {
    if (this.stopped) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.latest = null;
    await this.writing;
    this.lastWrite = performance.now();
    await saveProgress(this.pool, this.runId, p).catch(() => {});
  }

  /** No write after this resolves: the run's end can be recorded. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await this.writing;
  }
}
