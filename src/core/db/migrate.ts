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

/** Applies what is not applied yet; returns the names applied now. */
export async function migrate(pool: pg.Pool, dir = MIGRATIONS_DIR): Promise<string[]> {
  const files = await listMigrations(dir);
  const client = await pool.connect();
  const applied: string[] = [];
  try {
    // A migration may build an index over every row, and waits for another
    // process's migrations: the pool's read timeouts are not for it. The
    // session's settings go with the connection (released as broken below).
    await client.query('SET statement_timeout = 0; SET lock_timeout = 0');
    await client.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK]);
    await client.query(`CREATE TABLE IF NOT EXISTS schema_migrations (
      name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())`);
    const done = new Set((await client.query<{ name: string }>('SELECT name FROM schema_migrations')).rows.map((r) => r.name));
    for (const file of files) {
      if (done.has(file)) continue;
      const sql = await readFile(path.join(dir, file), 'utf8');
      await client.query('BEGIN');
      try {
        await client.query(sql);
        await client.query('INSERT INTO schema_migrations (name) VALUES ($1)', [file]);
        await client.query('COMMIT');
      } catch (err) {
        await client.query('ROLLBACK');
        throw new Error(`migration ${file} failed: ${(err as Error).message}`);
      }
      applied.push(file);
    }
  } finally {
    await client.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK]).catch(() => {});
    // Closed rather than pooled: no later query inherits the lifted timeouts.
    client.release(true);
  }
  return applied;
}

/** True when every committed migration is applied (readiness). */
export async function migrationsApplied(pool: pg.Pool, dir = MIGRATIONS_DIR): Promise<boolean> {
  const files = await listMigrations(dir);
  const { rows } = await pool.query<{ name: string }>(
    `SELECT name FROM schema_migrations WHERE name = ANY($1::text[])`,
    [files],
  );
  return rows.length === files.length;
}
