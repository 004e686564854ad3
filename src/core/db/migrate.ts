// Applies the committed SQL migrations (migrations/NNNN_name.sql) in order,
// each in its own transaction, once. Safe to run from several processes at
// once: they queue on an advisory lock.
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import type pg from 'pg';
import { PACKAGE_ROOT } from '../config.js';

export const MIGRATIONS_DIR = path.join(PACKAGE_ROOT, 'migrations');
const MIGRATION_LOCK = 7_240_001;

export async function listMigrations(dir = MIGRATIONS_DIR): Promise<string[]> {
  return (await readdir(dir)).filter((f) => /^\d{4}_[\w-]+\.sql$/.test(f)).sort();
}

/**
 * Applies what is not applied yet; returns the names applied now. Each
 * migration is one transaction that holds everything it needs: the advisory
 * lock other processes queue on (pg_advisory_xact_lock), no read timeouts (a
 * migration may build an index over every row, and waits for another
 * process's migrations). Nothing is left on the connection — behind PgBouncer
 * in transaction mode, a session lock or SET would stay on a server
 * connection that serves other clients next.
 */
export async function migrate(pool: pg.Pool, dir = MIGRATIONS_DIR): Promise<string[]> {
  const files = await listMigrations(dir);
  const client = await pool.connect();
  const applied: string[] = [];
  let broken: Error | undefined;
  try {
    for (;;) {
      await client.query('BEGIN');
      try {
        await client.query(`SELECT set_config('statement_timeout', '0', true), set_config('lock_timeout', '0', true)`);
        await client.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK]);
        await client.query(`CREATE TABLE IF NOT EXISTS schema_migrations (
          name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())`);
        const done = new Set((await client.query<{ name: string }>('SELECT name FROM schema_migrations')).rows.map((r) => r.name));
        const file = files.find((f) => !done.has(f));
        if (file === undefined) {
          await client.query('COMMIT');
          return applied;
        }
        const sql = await readFile(path.join(dir, file), 'utf8');
        try {
          await client.query(sql);
        } catch (err) {
          throw new Error(`migration ${file} failed: ${(err as Error).message}`, { cause: err });
        }
        await client.query('INSERT INTO schema_migrations (name) VALUES ($1)', [file]);
        await client.query('COMMIT');
        applied.push(file);
      } catch (err) {
        await client.query('ROLLBACK').catch((e: Error) => (broken = e));
        throw err;
      }
    }
  } finally {
    client.release(broken);
  }
}

/** True when every committed migration is applied (readiness). */
export async function migrationsApplied(pool: pg.Pool, dir = MIGRATIONS_DIR): Promise<boolean> {
  const files = await listMigrations(dir);
  const { rows } = await pool.query<{ name: string }>(`SELECT name FROM schema_migrations WHERE name = ANY($1::text[])`, [files]);
  return rows.length === files.length;
}
