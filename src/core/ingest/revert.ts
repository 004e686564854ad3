// Undoing a run: every customer it changed is put back as it was, in one
// transaction, as a run of its own (its record says `reverts`, it has its
// own change set, so it can be reverted in turn). One at a time with the
// ingests (the same advisory lock).
import type { Pool } from 'pg';
import type { Logger } from 'pino';
import { DomainError, NotFoundError } from '../errors.js';
import { refreshPageAnchors } from '../db/customers-repository.js';
import { revertConflicts } from './changes-repository.js';
import { IngestConflictError, type IngestResult } from './ingest.js';
import { REVERT_CHANGES_SQL, applyChangeSet, pruneChangeSets } from './loader.js';
import { INGEST_LOCK_KEY, createRun, finishRun, lockHolderRunId, lockRun } from './runs-repository.js';

export interface RevertResult extends IngestResult {
  reverts: number;
}

export type RevertRefusal = 'not_succeeded' | 'dry_run' | 'already_reverted' | 'pruned' | 'conflict';

/** 409: the run cannot be reverted; `reason` says why. */
export class RevertRefusedError extends DomainError {
  override name = 'RevertRefusedError';
  constructor(
    readonly reason: RevertRefusal,
    message: string,
    extra: Record<string, unknown> = {},
  ) {
    super('refused', message, { reason, ...extra });
  }
}

interface Target {
  id: number;
  status: string;
  source_url: string;
  dry_run: boolean;
  reverted_by: number | null;
  pruned: boolean;
}

export async function revertRun(
  pool: Pool,
  runId: number,
  opts: { retentionDays: number; workMem?: string; logger?: Logger },
): Promise<RevertResult> {
  const started = performance.now();
  const client = await pool.connect();
  let broken: Error | undefined;
  try {
    await client.query('BEGIN');
    const { rows: lock } = await client.query<{ locked: boolean }>('SELECT pg_try_advisory_xact_lock($1) AS locked', [INGEST_LOCK_KEY]);
    if (!lock[0]!.locked) throw new IngestConflictError(await lockHolderRunId(pool));
    await client.query(`SELECT set_config('statement_timeout', '0', true)`);
    if (opts.workMem) await client.query(`SELECT set_config('work_mem', $1, true)`, [opts.workMem]);
    await pruneChangeSets(client, opts.retentionDays);

    const { rows } = await client.query<Target>(
      `SELECT id::int AS id, status, source_url, dry_run, reverted_by::int AS reverted_by, changes_pruned_at IS NOT NULL AS pruned
       FROM ingestion_runs WHERE id = $1 FOR UPDATE`,
      [runId],
    );
    const target = rows[0];
    if (!target) throw new NotFoundError(`Run ${runId} not found`);
    if (target.status !== 'succeeded') {
      throw new RevertRefusedError(
        'not_succeeded',
        `Run ${runId} ${target.status === 'failed' ? 'failed' : `is ${target.status}`}: it changed nothing to revert`,
      );
    }
    if (target.dry_run) throw new RevertRefusedError('dry_run', `Run ${runId} is a dry run: it changed nothing to revert`);
    if (target.reverted_by !== null) {
      throw new RevertRefusedError('already_reverted', `Run ${runId} is already reverted (by run ${target.reverted_by})`, {
        reverted_by: target.reverted_by,
      });
    }
    if (target.pruned) {
      throw new RevertRefusedError(
        'pruned',
        `Run ${runId}'s change set is not kept: past retention (CHANGES_RETENTION_DAYS=${opts.retentionDays}), or the run is older than the change log`,
      );
    }
    const conflicts = await revertConflicts(client, runId);
    if (conflicts.total > 0) {
      throw new RevertRefusedError(
        'conflict',
        `Later runs changed ${conflicts.total} of the customers run ${runId} changed (runs ${conflicts.runs.join(', ')}): revert them first, newest first`,
        { runs: conflicts.runs, conflicts: conflicts.first, conflicts_total: conflicts.total },
      );
    }

    const id = await createRun(client, target.source_url, { reverts: runId });
    // As an ingest does: a conflicting ingest or revert finds this run through pg_locks.
    await lockRun(client, id);
    const applied = await applyChangeSet(client, REVERT_CHANGES_SQL, id, { allowMassDelete: true, planParam: runId });
    await client.query('UPDATE ingestion_runs SET reverted_by = $2 WHERE id = $1', [runId, id]);
    await refreshPageAnchors(client);
    const counts = {
      pages: 0,
      fetched: 0,
      inserted: applied.inserted,
      updated: applied.updated,
      unchanged: 0,
      rejected: 0,
      retries: 0,
      deleted: applied.deleted,
    };
    await finishRun(client, id, 'succeeded', counts);
    await client.query('COMMIT');
    const result: RevertResult = {
      status: 'success',
      run_id: id,
      reverts: runId,
      records_processed: 0,
      ...counts,
      duplicates: 0,
      dry_run: false,
      duration_ms: Math.round(performance.now() - started),
    };
    opts.logger?.info(result, 'run reverted');
    return result;
  } catch (err) {
    // A connection whose query failed (not a refusal) is not reused.
    if (!(err instanceof DomainError)) broken = err as Error;
    await client.query('ROLLBACK').catch(() => {});
    throw err;
  } finally {
    client.release(broken);
  }
}
