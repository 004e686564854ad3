// EXPLAIN (ANALYZE, BUFFERS) of the product's loader in the three situations
// the benchmark times: into an empty table, the same rows again (unchanged),
// and with 10% changed — one chunk's classification (CLASSIFY_SQL, on the
// first INGEST_CHUNK_ROWS rows) and the final merge (after every chunk is
// staged: INGEST_CHANGES_SQL, which plans the change set and writes it to
// customers and to the change log in one statement). Each runs in a transaction that is rolled back, on a
// fresh database that is dropped at the end.
//   npx tsx bench/explain-merge.ts [--records 200000] [--query <sql file: another merge>]
import { readFileSync } from 'node:fs';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { parseArgs } from 'node:util';
import type { PoolClient } from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { CLASSIFY_SQL, COPY_CHUNK_SQL, CREATE_STAGING_SQL, INGEST_CHANGES_SQL, StagingWriter } from '../../src/core/ingest/loader.js';
import { createBenchDatabase, findServer } from '../database.js';
import { loadConfig } from '../../src/core/config.js';
import { prepareCopyText, runFloor, type CopyPage } from '../floor.js';

const { values } = parseArgs({ options: { records: { type: 'string', default: '200000' }, query: { type: 'string' } } });
const n = Number(values.records);
const mergeSql = values.query ? readFileSync(values.query, 'utf8') : INGEST_CHANGES_SQL;
const config = loadConfig({});
const server = await findServer(process.env.DATABASE_URL);
const db = await createBenchDatabase(server);

async function explainIn(client: PoolClient, sql: string, params: unknown[] = []): Promise<string> {
  const { rows } = await client.query<{ 'QUERY PLAN': string }>(`EXPLAIN (ANALYZE, BUFFERS, VERBOSE OFF) ${sql}`, params);
  return rows.map((r) => r['QUERY PLAN']).join('\n');
}

/** Runs `body` in a transaction that is rolled back. */
async function rolledBack(body: (client: PoolClient) => Promise<void>): Promise<void> {
  const client = await db.pool.connect();
  try {
    await client.query('BEGIN');
    // As the ingest does: the pool's statement timeout is for reads.
    await client.query(`SELECT set_config('statement_timeout', '0', true)`);
    await body(client);
  } finally {
    await client.query('ROLLBACK');
    client.release();
  }
}

try {
  const base = prepareCopyText(n, 0);
  const changed = prepareCopyText(n, 1);
  const explain = async (title: string, pages: CopyPage[]) => {
    await rolledBack(async (client) => {
      await client.query(`SELECT set_config('work_mem', $1, true)`, [config.ingest.workMem]);
      await client.query(CREATE_STAGING_SQL);
      let rows = 0;
      const first = pages.filter((p) => (rows += p.records) <= config.ingest.chunkRows);
      await pipeline(Readable.from(first.map((p) => p.rows)), client.query(copyFrom(COPY_CHUNK_SQL)));
      const plan = await explainIn(client, CLASSIFY_SQL);
      process.stdout.write(`\n=== ${title}: one chunk's classification (${Math.min(n, config.ingest.chunkRows)} rows) ===\n${plan}\n`);
    });
    await rolledBack(async (client) => {
      const t = performance.now();
      const writer = await StagingWriter.open(client, { workMem: config.ingest.workMem, chunkRows: config.ingest.chunkRows });
      for (const p of pages) await writer.write(p.rows, p.records);
      await writer.finish();
      const stageMs = performance.now() - t;
      // A run id no run has, in a transaction that is rolled back: the log's rows go with it.
      // ($2 dry run, $3 allow_mass_delete, $4 max percent, $5 empty source, $6 delete_missing)
      const plan = await explainIn(client, mergeSql, [999_999_999, false, false, 10, false, false]);
      process.stdout.write(
        `\n=== ${title}: the merge (INGEST_CHANGES_SQL), after staging (COPY + classification) in ${stageMs.toFixed(0)} ms ===\n${plan}\n`,
      );
    });
  };
  await explain(`empty table, ${n} rows`, base);
  await runFloor(db.pool, base, 'commit');
  await db.pool.query('VACUUM (ANALYZE) customers');
  await explain(`unchanged, ${n} rows`, base);
  await explain(`10% changed, ${n} rows`, changed);
} finally {
  await db.drop();
  await server.stop();
}
