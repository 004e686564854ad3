// The database of the CLI's in-process commands: DATABASE_URL, else the
// embedded PostgreSQL — the one `npm start` is running when it is up (two
// servers cannot share its data folder), or one started for this command.
import type { DatabaseSettings } from '../core/config.js';
import { EMBEDDED_DATABASE, connectionError, openDatabase, type Database } from '../core/db/database.js';
import { CliError, EXIT } from './output.js';

export async function openCliDatabase(config: { database: DatabaseSettings }): Promise<Database> {
  const { database } = config;
  let databaseUrl = database.url;
  if (!databaseUrl) {
    const running = `postgres://postgres:postgres@127.0.0.1:${database.embeddedPort}/${EMBEDDED_DATABASE}`;
    if ((await connectionError(running)) === null) databaseUrl = running;
  }
  try {
    return await openDatabase({
      databaseUrl,
      embeddedDir: database.embeddedDir,
      embeddedPort: database.embeddedPort,
      poolMax: 4,
    });
  } catch (err) {
    throw new CliError(`cannot open the database: ${(err as Error).message}`, EXIT.failed);
  }
}

/** A query on a database whose tables are missing says what to run. */
export function explainDatabaseError(err: unknown): never {
  const e = err as { code?: string; message?: string };
  if (e.code === '42P01') throw new CliError('the database has no pipeline tables yet: run `customer-pipeline migrate`', EXIT.failed);
  if (err instanceof CliError) throw err;
  throw new CliError(`database error: ${e.message ?? String(err)}`, EXIT.failed);
}
