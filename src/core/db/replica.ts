// Reads on a streaming replica (DATABASE_READ_URL), with the primary behind
// them: a read the replica cannot answer (down, starting, lost connection, a
// query cancelled by replay) is answered by the primary, and the replica is
// left alone for RETRY_MS before reads try it again. Writes, the ingest,
// migrations and reads that must see this process's own writes use the
// primary's pool directly.
import type pg from 'pg';
import type { Logger } from 'pino';
import { isDatabaseUnavailable } from './database.js';

/** How long reads skip a replica that failed, before trying it again. */
const RETRY_MS = 5000;

/**
 * The replica's lag in seconds: 0 when it has replayed everything it
 * received (pg_last_xact_replay_timestamp alone keeps growing while the
 * primary is idle, since no new transaction is replayed), else the age of
 * the last transaction replayed. Not a standby (promoted, or a primary
 * named by mistake): 0. `streaming` says whether the WAL receiver is
 * connected: a standby cut off from its primary has replayed all it
 * received, so its lag reads 0 while it falls behind.
 */
const STATUS_SQL = `
SELECT pg_is_in_recovery() AS standby,
       COALESCE((SELECT status = 'streaming' FROM pg_stat_wal_receiver), false) AS streaming,
       CASE WHEN NOT pg_is_in_recovery() THEN 0
            WHEN pg_last_wal_receive_lsn() IS NOT DISTINCT FROM pg_last_wal_replay_lsn() THEN 0
            ELSE GREATEST(0, extract(epoch FROM now() - pg_last_xact_replay_timestamp()))
       END::float8 AS lag_seconds`;

export interface ReplicaStatus {
  state: 'ok' | 'down';
  /** Where reads go now. */
  reads: 'replica' | 'primary';
  lag_seconds: number | null;
  streaming: boolean | null;
}

/** A replica failure that the primary should answer instead. */
function replicaCannotAnswer(err: unknown): boolean {
  // 40001 on a standby: "canceling statement due to conflict with recovery".
  return isDatabaseUnavailable(err) || (err as { code?: unknown }).code === '40001';
}

export class ReadReplica {
  /** Reads answered by the primary because the replica could not (db_replica_fallbacks_total). */
  fallbacks = 0;
  private downUntil = 0;

  /**
   * `replica` is a pool on the standby; its `query` becomes the routed read
   * (replica, else primary), so the read paths take it as any pool.
   */
  constructor(
    readonly replica: pg.Pool,
    primary: pg.Pool,
    private readonly logger?: Logger,
  ) {
    const onReplica = replica.query.bind(replica) as (...args: unknown[]) => Promise<unknown>;
    const onPrimary = primary.query.bind(primary) as (...args: unknown[]) => Promise<unknown>;
    this.replicaQuery = onReplica;
    replica.query = (async (...args: unknown[]) => {
      if (Date.now() < this.downUntil) return this.fallBack(onPrimary, args, null);
      try {
        return await onReplica(...args);
      } catch (err) {
        if (!replicaCannotAnswer(err)) throw err;
        return this.fallBack(onPrimary, args, err);
      }
    }) as typeof replica.query;
  }

  private readonly replicaQuery: (...args: unknown[]) => Promise<unknown>;

  /** The pool reads go through. */
  get reads(): pg.Pool {
    return this.replica;
  }

  private fallBack(onPrimary: (...args: unknown[]) => Promise<unknown>, args: unknown[], err: unknown): Promise<unknown> {
    this.fallbacks++;
    if (err !== null) {
      if (Date.now() >= this.downUntil) {
        this.logger?.warn(
          { err: { message: (err as Error).message, code: (err as { code?: unknown }).code } },
          'read replica unavailable: reads go to the primary',
        );
      }
      this.downUntil = Date.now() + RETRY_MS;
    }
    return onPrimary(...args);
  }

  /** The replica's state and lag, asked of it directly (at most `timeoutMs`). */
  async status(timeoutMs = 2000): Promise<ReplicaStatus> {
    let timer: NodeJS.Timeout | undefined;
    try {
      const answer = (await Promise.race([
        this.replicaQuery(STATUS_SQL),
        new Promise((_, reject) => (timer = setTimeout(() => reject(new Error('replica status timed out')), timeoutMs))),
      ])) as pg.QueryResult<{ standby: boolean; streaming: boolean; lag_seconds: number | null }>;
      const row = answer.rows[0]!;
      // A replica that answers again gets reads again.
      this.downUntil = 0;
      return { state: 'ok', reads: 'replica', lag_seconds: row.lag_seconds, streaming: row.standby ? row.streaming : null };
    } catch {
      this.downUntil = Math.max(this.downUntil, Date.now() + RETRY_MS);
      return { state: 'down', reads: 'primary', lag_seconds: null, streaming: null };
    } finally {
      clearTimeout(timer);
    }
  }

  async close(): Promise<void> {
    await this.replica.end().catch(() => {});
  }
}
