// `customer-pipeline ingest`: one run, in this process or on a running
// pipeline (--url), with a progress bar on a terminal, then a summary.
import cliProgress from 'cli-progress';
import { sourceUrl as configuredSourceUrl, type Config } from '../core/config.js';
import { ingestOptions } from '../pipeline/app.js';
import { migrate } from '../core/db/migrate.js';
import { IngestConflictError, IngestFailedError, MassDeleteRefusedError, runIngest } from '../core/ingest/ingest.js';
import { progressView, type ProgressView } from '../core/ingest/progress.js';
import { getRun, type RunRecord } from '../core/ingest/runs-repository.js';
import { DomainError } from '../core/errors.js';
import { openCliDatabase } from './database.js';
import { CliError, EXIT, duration, isTerminal, keyValues, out, printJson, status } from './output.js';
import { PipelineClient } from './remote.js';

export interface IngestCommandOptions {
  url?: string;
  source?: string;
  apiKey?: string;
  json?: boolean;
  dryRun?: boolean;
  deleteMissing?: boolean;
  allowMassDelete?: boolean;
}

/** The run's change-set options, as the API's query parameters. */
function changeQuery(opts: IngestCommandOptions): Record<string, string> {
  return {
    ...(opts.dryRun && { dry_run: 'true' }),
    ...(opts.deleteMissing && { delete_missing: 'true' }),
    ...(opts.allowMassDelete && { allow_mass_delete: 'true' }),
  };
}

const seconds = (s: number | null) => (s === null ? '?' : duration(s * 1000));

/** A progress bar on a terminal; nothing otherwise (and nothing with --json). */
function progressBar(enabled: boolean) {
  if (!enabled) return { update: (_p: ProgressView) => {}, stop: () => {} };
  const bar = new cliProgress.SingleBar(
    {
      format: ' {bar} {pages} pages | {records} records | {rate} records/s | {phase}, ETA {time_left}',
      barsize: 30,
      hideCursor: true,
      clearOnComplete: true,
      stream: process.stdout,
      // Redraws come from the events, and a timer keeps the line fresh.
      fps: 10,
    },
    cliProgress.Presets.shades_classic,
  );
  let started = false;
  return {
    update(p: ProgressView) {
      const total = Math.max(p.pages_total ?? p.pages_done + 1, p.pages_done, 1);
      const payload = {
        pages: p.pages_total === null ? `${p.pages_done}` : `${p.pages_done}/${p.pages_total}`,
        records: p.records.toLocaleString('en-US'),
        rate: Math.round(p.records_per_second).toLocaleString('en-US'),
        phase: p.phase,
        // The whole run's: the pages left and the merge after them.
        time_left: seconds(p.eta_seconds),
      };
      if (!started) {
        bar.start(total, p.pages_done, payload);
        started = true;
      } else {
        bar.setTotal(total);
        bar.update(p.pages_done, payload);
      }
    },
    stop() {
      if (started) bar.stop();
    },
  };
}

function summary(run: RunRecord, where: string): void {
  out(`${run.dry_run ? 'dry run' : 'run'} ${run.id} ${status(run.status)} in ${duration(run.duration_ms)} (${where})`);
  out(
    keyValues([
      ['pages', run.pages],
      ['fetched', run.fetched],
      ['inserted', run.inserted],
      ['updated', run.updated],
      ['unchanged', run.unchanged],
      ['deleted', run.deleted],
      ['rejected', run.rejected],
      ['retries', run.retries],
    ]),
  );
  if (run.rejected > 0) out(`see the rejected records with: customer-pipeline rejected ${run.id}`);
  if (run.status === 'succeeded' && run.inserted + run.updated + run.deleted > 0) {
    out(
      run.dry_run
        ? `a dry run: nothing was written; see what it would change with: customer-pipeline changes ${run.id}`
        : `see what it changed with: customer-pipeline changes ${run.id}; undo it with: customer-pipeline revert ${run.id}`,
    );
  }
}

function finish(run: RunRecord, json: boolean, where: string): void {
  if (json) printJson(run);
  else summary(run, where);
  if (run.status !== 'succeeded') {
    throw new CliError(`run ${run.id} failed: ${run.error ?? 'unknown error'}`, EXIT.failed, json ? 'printed' : null);
  }
}

export async function ingestCommand(config: Config, opts: IngestCommandOptions): Promise<void> {
  const json = opts.json === true;
  const bar = progressBar(!json && isTerminal());
  const stop = new AbortController();
  // Every signal until the command ends, not just the first: one Ctrl-C can
  // come twice (the terminal signals the whole group, npx passes one on),
  // and a second one left to Node's default would kill the command before
  // it has rolled its run back and recorded it.
  const onSignal = () => stop.abort(new Error('interrupted'));
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    if (opts.url) {
      if (opts.source)
        throw new CliError('--source applies to an in-process ingest; with --url the pipeline ingests from its own source', EXIT.usage);
      const client = new PipelineClient(opts.url, opts.apiKey ?? config.security.apiKey ?? null);
      const runId = await client.startIngest(changeQuery(opts));
      if (!json && !isTerminal()) out(`run ${runId} started on ${client.base}`);
      const run = await client
        .follow(runId, (p) => bar.update(p), stop.signal)
        .catch((err: unknown) => {
          if (stop.signal.aborted) {
            throw new CliError(
              `interrupted: run ${runId} goes on in the pipeline (customer-pipeline runs --url ${client.base})`,
              EXIT.failed,
            );
          }
          throw err;
        });
      bar.stop();
      finish(run, json, `on ${client.base}`);
      return;
    }
    await ingestInProcess(config, opts, json, bar, stop.signal);
  } finally {
    bar.stop();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

async function ingestInProcess(
  config: Config,
  opts: IngestCommandOptions,
  json: boolean,
  bar: ReturnType<typeof progressBar>,
  signal: AbortSignal,
): Promise<void> {
  const sourceUrl = opts.source ?? configuredSourceUrl(config);
  try {
    new URL(sourceUrl);
  } catch {
    throw new CliError(`--source must be a URL (got "${sourceUrl}")`, EXIT.usage);
  }
  const db = await openCliDatabase(config);
  try {
    await migrate(db.pool);
    let runId: number | null = null;
    let startedAt = 0;
    let mergeRate: number | null = null;
    if (!json && !isTerminal()) out(`ingesting from ${sourceUrl} into ${db.url}`);
    try {
      const options = ingestOptions(config, sourceUrl);
      if (opts.dryRun) options.dryRun = true;
      if (opts.deleteMissing) options.deleteMissing = true;
      if (opts.allowMassDelete) options.allowMassDelete = true;
      await runIngest(db.pool, options, {
        signal,
        onStarted: (id, mergeMsPerRecord) => {
          runId = id;
          startedAt = performance.now();
          mergeRate = mergeMsPerRecord;
        },
        onProgress: (p) => bar.update(progressView(p, performance.now() - startedAt, mergeRate)),
      });
    } catch (err) {
      if (err instanceof IngestConflictError) {
        const running = err.runId;
        throw new CliError(err.message, EXIT.conflict, { status: 'conflict', running_run_id: running, error: err.message });
      }
      // A failed run, or one the mass-delete guard refused: its row says why, and is the summary.
      if (!(err instanceof IngestFailedError || err instanceof MassDeleteRefusedError)) {
        const message = err instanceof DomainError ? err.message : `ingest failed: ${(err as Error).message}`;
        throw new CliError(message, EXIT.failed, { status: 'failed', error: message });
      }
      // A failed run is recorded: its row says why, and is the summary.
    }
    bar.stop();
    const run = runId === null ? null : await getRun(db.pool, runId);
    if (!run) throw new CliError('the run left no record', EXIT.failed);
    finish(run, json, `from ${sourceUrl}`);
  } finally {
    await db.close();
  }
}
