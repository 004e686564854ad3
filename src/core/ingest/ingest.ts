// One ingest run: source client → validator → loader, in one transaction,
// one at a time across every process on the database.
import type { Pool } from 'pg';
import type { Logger } from 'pino';
import { DomainError, IngestConflictError, IngestFailedError } from '../errors.js';

export { IngestConflictError, IngestFailedError } from '../errors.js';
import { SourceClient, SourceError, type RetryPolicy } from './source-client.js';
import { MassDeleteError, StagingWriter, mergeStaging, type ChangeOptions } from './loader.js';
import { preparePage, type PreparedPage } from './prepare-page.js';
import { refreshPageAnchors } from '../db/customers-repository.js';
import { FailedRuns } from './failed-runs.js';
import { ProgressSaver } from './progress-saver.js';
import {
  INGEST_LOCK_KEY,
  createRun,
  failAbandonedRuns,
  finishRun,
  lockHolderRunId,
  lockRun,
  recentMergeRate,
  type RunCounts,
  type RunPhase,
} from './runs-repository.js';

export interface IngestOptions {
  sourceUrl: string;
  pageSize: number;
  concurrency: number;
  /** work_mem of the merge (INGEST_WORK_MEM), this transaction only. */
  workMem: string;
  /** Rows staged between two classifications against `customers` (INGEST_CHUNK_ROWS). */
  chunkRows: number;
  timeoutMs: number;
  /** Largest page body read (SOURCE_MAX_PAGE_BYTES). */
  maxPageBytes: number;
  retry: RetryPolicy;
  /** Preview: the whole run and its change set, no customer written. */
  dryRun?: boolean;
  /** Delete the stored customers a complete run did not see (INGEST_DELETE_MISSING). */
  deleteMissing?: boolean;
  /** The mass-delete guard, in percent of the stored rows (INGEST_DELETE_MAX_PERCENT). */
  deleteMaxPercent?: number;
  /** Lift the mass-delete guard for this run. */
  allowMassDelete?: boolean;
  /** Change sets older than this are pruned at the merge (CHANGES_RETENTION_DAYS). */
  changesRetentionDays?: number;
  limits: RunLimits;
}

/**
 * How far one run follows a source that never ends its pages (every page
 * full, or the same full page whatever `page` asks): past any of these the
 * run fails, nothing merged. Far above what an honest source reaches.
 */
export interface RunLimits {
  /** Pages fetched, the short or empty last one included (INGEST_MAX_PAGES). */
  maxPages: number;
  /** Records fetched, valid or not (INGEST_MAX_RECORDS). */
  maxRecords: number;
  /** Time spent reading the source (INGEST_MAX_DURATION_MS). */
  maxDurationMs: number;
}

export interface IngestResult extends RunCounts {
  status: 'success';
  run_id: number;
  records_processed: number;
  duplicates: number;
  duration_ms: number;
  deleted: number;
  dry_run: boolean;
}

export interface IngestProgress {
  runId: number;
  pages: number;
  fetched: number;
  rejected: number;
  retries: number;
  /** Pages the source's `total` implies (the last, short or empty, page included), when known. */
  pagesExpected: number | null;
  phase: RunPhase;
  /** Milliseconds from the start to the last page staged, once the run is past fetching. */
  fetchMs: number | null;
}

/** The mass-delete guard refused the run; nothing of it was written. */
export class MassDeleteRefusedError extends DomainError {
  override name = 'MassDeleteRefusedError';
  constructor(err: MassDeleteError, runId: number) {
    super('refused', `Ingest refused: ${err.message}`, {
      run_id: runId,
      would_delete: err.wouldDelete,
      stored: err.stored,
      max_percent: err.maxPercent,
    });
  }
}

const emptyCounts = (): RunCounts => ({
  pages: 0,
  fetched: 0,
  inserted: 0,
  updated: 0,
  unchanged: 0,
  rejected: 0,
  retries: 0,
});

/** Marks runs abandoned by dead processes as failed, if no ingest is running now. */
export async function recoverAbandonedRuns(pool: Pool): Promise<number> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    const { rows } = await client.query<{ locked: boolean }>('SELECT pg_try_advisory_xact_lock($1) AS locked', [INGEST_LOCK_KEY]);
    const n = rows[0]!.locked ? await failAbandonedRuns(client) : 0;
    await client.query('COMMIT');
    return n;
  } catch (err) {
    await client.query('ROLLBACK').catch(() => {});
    throw err;
  } finally {
    client.release();
  }
}

/**
 * Pulls every page of the source and merges it into `customers`.
 * Throws IngestConflictError when another ingest holds the lock, and
 * IngestFailedError (source_failed, database_failed or cancelled) when the run fails; the run
 * is recorded either way.
 */
export async function runIngest(
  pool: Pool,
  opts: IngestOptions,
  ctx: {
    logger?: Logger;
    signal?: AbortSignal;
    onProgress?: (p: IngestProgress) => void;
    /**
     * Called once the lock is held and the run row exists, before any page is
     * fetched, with the merge time per record the last run measured (for ETAs).
     */
    onStarted?: (runId: number, mergeMsPerRecord: number | null) => void;
    /** Where a failed run is recorded, later when the database is away at that moment (one per app). */
    failures?: FailedRuns;
  } = {},
): Promise<IngestResult> {
  const started = performance.now();
  const log = ctx.logger;
  const client = await pool.connect();
  // The first error of the connection itself (the server terminated it, the
  // socket broke) is the real cause; the queries after it only say that the
  // client is no longer queryable.
  let connectionLost: Error | null = null;
  const onConnectionError = (e: Error) => (connectionLost ??= e);
  client.on('error', onConnectionError);
  let runId: number | null = null;
  let released = false;
  const release = (err?: Error) => {
    if (!released) {
      client.off('error', onConnectionError);
      client.release(err ?? connectionLost ?? undefined);
    }
    released = true;
  };
  try {
    await client.query('BEGIN');
    const { rows } = await client.query<{ locked: boolean }>('SELECT pg_try_advisory_xact_lock($1) AS locked', [INGEST_LOCK_KEY]);
    if (!rows[0]!.locked) {
      await client.query('ROLLBACK');
      release();
      throw new IngestConflictError(await lockHolderRunId(pool));
    }
    // An ingest's merge may take long: the pool's statement timeout is for reads.
    await client.query(`SELECT set_config('statement_timeout', '0', true)`);
    // Failures of this process's earlier runs that the database missed first.
    await ctx.failures?.flush();
    // We hold the lock: any run still marked running belongs to a dead process.
    const abandoned = await failAbandonedRuns(pool);
    if (abandoned) log?.warn({ abandoned }, 'marked runs abandoned by a dead process as failed');
    runId = await createRun(pool, opts.sourceUrl, { dryRun: opts.dryRun });
    // Committed above; this lock tells a conflicting ingest which run it met.
    await lockRun(client, runId);
  } catch (err) {
    if (!released) {
      await client.query('ROLLBACK').catch(() => {});
      release();
    }
    if (err instanceof DomainError) throw err;
    throw new DomainError('database_unavailable', `database unavailable: ${(err as Error).message}`);
  }

  const counts = emptyCounts();
  const runLog = log?.child({ run_id: runId });
  runLog?.info({ source: opts.sourceUrl }, 'ingest started');
  const abort = new AbortController();
  const onOuterAbort = () => abort.abort(ctx.signal?.reason);
  ctx.signal?.addEventListener('abort', onOuterAbort, { once: true });
  const source = new SourceClient({
    baseUrl: opts.sourceUrl,
    timeoutMs: opts.timeoutMs,
    maxPageBytes: opts.maxPageBytes,
    connections: opts.concurrency,
    retry: opts.retry,
    signal: abort.signal,
    onRetry: (r) => {
      counts.retries++;
      runLog?.warn(r, 'retrying source request');
    },
  });
  let writer: StagingWriter | null = null;
  const saver = new ProgressSaver(pool, runId);
  let pagesExpected: number | null = null;
  let fetchMs: number | null = null;
  const progress = (phase: RunPhase): IngestProgress => ({
    runId,
    pages: counts.pages,
    fetched: counts.fetched,
    rejected: counts.rejected,
    retries: counts.retries,
    pagesExpected,
    phase,
    fetchMs,
  });
  try {
    ctx.onStarted?.(runId, await recentMergeRate(pool).catch(() => null));
    writer = await StagingWriter.open(client, { workMem: opts.workMem, chunkRows: opts.chunkRows });
    const stage = async (p: PreparedPage) => {
      counts.rejected += p.rejected;
      counts.pages++;
      counts.fetched += p.records;
      await writer!.write(p.rows, p.records);
      const now = progress('fetching');
      ctx.onProgress?.(now);
      saver.update(now);
    };
    await fetchAllPages(source, opts, abort, stage, (n) => (pagesExpected = n));
    // Every page is read: what is left is the last chunk's comparison and the merge.
    fetchMs = Math.round(performance.now() - started);
    const merging = progress('merging');
    ctx.onProgress?.(merging);
    await saver.flush(merging);
    await writer.finish();
    const changeOptions: ChangeOptions = {
      dryRun: opts.dryRun,
      deleteMissing: opts.deleteMissing,
      deleteMaxPercent: opts.deleteMaxPercent,
      allowMassDelete: opts.allowMassDelete,
      sourceRecords: counts.fetched,
      retentionDays: opts.changesRetentionDays,
    };
    const merged = await mergeStaging(client, runId, changeOptions);
    counts.inserted = merged.inserted;
    counts.updated = merged.updated;
    counts.unchanged = merged.unchanged;
    await refreshPageAnchors(client);
    await saver.stop();
    // The run's final state commits with its data, atomically.
    const durationMs = await finishRun(client, runId, 'succeeded', { ...counts, deleted: merged.deleted }, null, fetchMs);
    await client.query('COMMIT');
    release();
    const result: IngestResult = {
      status: 'success',
      run_id: runId,
      records_processed: counts.fetched - counts.rejected,
      ...counts,
      duplicates: counts.fetched - counts.rejected - merged.distinctIds,
      // The record's own figure (the database's clock), so that the answer and the record agree.
      duration_ms: durationMs ?? Math.round(performance.now() - started),
      deleted: merged.deleted,
      dry_run: opts.dryRun === true,
    };
    runLog?.info(result, 'ingest succeeded');
    return result;
  } catch (err) {
    if (err instanceof MassDeleteError) {
      // Refused, not broken: nothing was written; the run is recorded failed, with the reason.
      await client.query('ROLLBACK').catch(() => {});
      release();
      runLog?.warn({ would_delete: err.wouldDelete, stored: err.stored }, 'ingest refused by the mass-delete guard');
      await (ctx.failures ?? new FailedRuns(pool, runLog)).record(runId, { ...counts, inserted: 0, updated: 0, unchanged: 0 }, err.message);
      throw new MassDeleteRefusedError(err, runId);
    }
    abort.abort(err);
    await writer?.abort();
    await saver.stop();
    const cancelled = ctx.signal?.aborted === true;
    const dbError = !cancelled && !(err instanceof SourceError);
    // A connection whose COPY or query failed is not reusable: drop it.
    await client.query('ROLLBACK').catch(() => {});
    release(dbError ? (err as Error) : undefined);
    const message = cancelled
      ? 'cancelled: the service is shutting down'
      : err instanceof SourceError
        ? err.message
        : `database error: ${(connectionLost ?? (err as Error)).message ?? String(err)}`;
    runLog?.error({ err }, 'ingest failed');
    const failed = { ...counts, inserted: 0, updated: 0, unchanged: 0 };
    await (ctx.failures ?? new FailedRuns(pool, runLog)).record(runId, failed, message);
    // The database's own words stay in the run record and the log (the
    // operator's), not in the answer to whoever called.
    const answer = dbError ? `the database failed; details are in run ${runId}` : message;
    throw new IngestFailedError(cancelled ? 'cancelled' : dbError ? 'database_failed' : 'source_failed', `Ingest failed: ${answer}`, runId);
  } finally {
    ctx.signal?.removeEventListener('abort', onOuterAbort);
    await source.close();
  }
}

/**
 * A run's reading of the source against its RunLimits: counts the pages and
 * records read, and stops the run (aborting its requests and waits, which
 * then throw this reason) when its time is up.
 */
class RunBudget {
  private pages = 0;
  private records = 0;
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly limits: RunLimits,
    abort: AbortController,
  ) {
    this.timer = setTimeout(() => {
      abort.abort(
        new SourceError(
          `run stopped at INGEST_MAX_DURATION_MS (${limits.maxDurationMs} ms): ${this.pages} pages read and the source had not ended them`,
        ),
      );
    }, limits.maxDurationMs);
  }

  /** Page p may be fetched; past INGEST_MAX_PAGES it may not. */
  allows(p: number): boolean {
    return p <= this.limits.maxPages;
  }

  /** Every page allowed came back full. */
  outOfPages(): SourceError {
    return new SourceError(
      `run stopped at INGEST_MAX_PAGES (${this.limits.maxPages} pages): every page came back full and the source had not ended them`,
    );
  }

  /** Books page p; throws past INGEST_MAX_RECORDS. */
  read(p: number, page: PreparedPage): PreparedPage {
    this.pages++;
    this.records += page.records;
    if (this.records > this.limits.maxRecords) {
      throw new SourceError(
        `run stopped at INGEST_MAX_RECORDS (${this.limits.maxRecords} records): ${this.records} read by page ${p} and the source had not ended its pages`,
        p,
      );
    }
    return page;
  }

  stop(): void {
    clearTimeout(this.timer);
  }
}

/** Every page of the source (readPages) within the run's limits. */
async function fetchAllPages(
  source: SourceClient,
  opts: IngestOptions,
  abort: AbortController,
  stage: (p: PreparedPage) => Promise<void>,
  onExpected: (pages: number | null) => void,
): Promise<void> {
  const budget = new RunBudget(opts.limits, abort);
  try {
    await readPages(source, opts, abort, budget, stage, onExpected);
  } finally {
    budget.stop();
  }
}

/**
 * Fetches every page: page 1 first (it tells the page size the source really
 * applies and its total), then the rest with bounded concurrency. The end is
 * a short or empty page: the data decides, not `total`, which only bounds how
 * far ahead we speculate. Each worker stages its page before fetching the
 * next, so at most `concurrency` pages are in memory at once.
 */
async function readPages(
  source: SourceClient,
  opts: IngestOptions,
  abort: AbortController,
  budget: RunBudget,
  stage: (p: PreparedPage) => Promise<void>,
  onExpected: (pages: number | null) => void,
): Promise<void> {
  const first = budget.read(1, await source.fetchPage(1, opts.pageSize, preparePage));
  let size = Math.min(opts.pageSize, first.limit ?? opts.pageSize);
  if (first.records > 0 && first.records < size && (first.total ?? 0) > first.records) {
    size = first.records; // the source caps the page size without saying so
  }
  let total = first.total ?? 0;
  // The pages an honest source takes: the full ones and the short (or empty) last one that ends the run.
  const expected = () => (first.total === null ? null : Math.floor(total / size) + 1);
  onExpected(expected());
  await stage(first);
  if (first.records < size) return;

  let next = 2;
  let endPage = Infinity; // the first short page seen
  let highestFull = 1; // pages 1..highestFull all came back full
  const fullPages = new Set<number>();
  let inFlight = 0;
  // Set by the workers' callbacks: an object, so the checks below are not narrowed away.
  const stop: { failure: Error | null } = { failure: null };
  let waiters: (() => void)[] = [];
  const progressed = () => {
    const w = waiters;
    waiters = [];
    w.forEach((f) => f());
  };

  const worker = async () => {
    while (!abort.signal.aborted && stop.failure === null) {
      const p = next;
      if (p > endPage) return;
      // Up to the page `total` says is the last (one more when that page is
      // full, to confirm the end), go ahead; past it, probe one page at a
      // time, and only after every earlier page came back full.
      const knownEnd = Math.floor(total / size) + 1;
      if (p > knownEnd && p > highestFull + 1) {
        if (inFlight === 0) return;
        await new Promise<void>((r) => waiters.push(r));
        continue;
      }
      // Past the last page allowed, once the pages before it are in: none
      // of them was short, so the source has not ended.
      if (!budget.allows(p)) {
        if (inFlight === 0) throw budget.outOfPages();
        await new Promise<void>((r) => waiters.push(r));
        continue;
      }
      next++;
      inFlight++;
      try {
        const page = budget.read(p, await source.fetchPage(p, size, preparePage));
        if (page.total !== null && page.total > total) {
          total = page.total;
          onExpected(expected());
        }
        if (page.records < size) endPage = Math.min(endPage, p);
        await stage(page);
        if (page.records >= size) {
          fullPages.add(p);
          while (fullPages.delete(highestFull + 1)) highestFull++;
        }
      } finally {
        inFlight--;
        progressed();
      }
    }
  };
  await Promise.all(
    Array.from({ length: opts.concurrency }, () =>
      worker().catch((err: unknown) => {
        // The first failure stops every worker; the others end quietly.
        if (stop.failure === null) {
          stop.failure = err instanceof Error ? err : new Error(String(err));
          abort.abort(err);
        }
        progressed();
      }),
    ),
  );
  if (stop.failure !== null) throw stop.failure;
  // Stopped between requests (shutdown or out of time, while pages were
  // being prepared or staged): the workers end quietly, and a run that did
  // not read every page must not be merged.
  if (abort.signal.aborted) throw abort.signal.reason instanceof SourceError ? abort.signal.reason : new SourceError('ingest cancelled');
}
