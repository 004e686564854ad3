// The engine's errors, in its own terms. The engine knows no HTTP: the
// pipeline's one error handler maps each kind to a problem (pipeline/app.ts),
// the CLI maps it to an exit code (cli/output.ts). `details` are facts for
// whoever asked (run ids, counts), never internals.
export type DomainErrorKind =
  /** Another ingest or revert holds the lock. */
  | 'conflict'
  /** A guard or a rule refused the work; nothing was written. */
  | 'refused'
  /** The thing asked for does not exist. */
  | 'not_found'
  /** The source failed (after its retries, or past a run limit); the run is recorded failed. */
  | 'source_failed'
  /** The database failed under the work; the run is recorded failed (or will be once it is back). */
  | 'database_failed'
  /** The service is shutting down; the run is recorded failed. */
  | 'cancelled'
  /** The database was not there to start the work at all. */
  | 'database_unavailable';

export class DomainError extends Error {
  override name = 'DomainError';
  constructor(
    readonly kind: DomainErrorKind,
    message: string,
    readonly details: Record<string, unknown> = {},
  ) {
    super(message);
  }
}

/** Another ingest (or revert) is running: `run_id` names it. */
export class IngestConflictError extends DomainError {
  override name = 'IngestConflictError';
  constructor(readonly runId: number | null) {
    super('conflict', `An ingest is already running${runId === null ? '' : ` (run ${runId})`}`, { run_id: runId });
  }
}

/** A run that started and failed; its record says why. */
export class IngestFailedError extends DomainError {
  override name = 'IngestFailedError';
  constructor(
    kind: 'source_failed' | 'database_failed' | 'cancelled',
    message: string,
    readonly runId: number,
  ) {
    super(kind, message, { run_id: runId });
  }
}

export class NotFoundError extends DomainError {
  override name = 'NotFoundError';
  constructor(message: string) {
    super('not_found', message);
  }
}
