// EXPLAIN (ANALYZE, BUFFERS) of the product's merge in the three situations
// the benchmark times: into an empty table, the same rows again (unchanged),
// and with 10% changed. Each runs in a transaction that is rolled back, on a
// fresh database that is dropped at the end.
//   npx tsx bench/explain-merge.ts [--records 200000] [--query <sql file>]
import { readFileSync } from 'node:fs';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { parseArgs } from 'node:util';
import { from as copyFrom } from 'pg-copy-streams';
import { COPY_STAGING_SQL, CREATE_STAGING_SQL, MERGE_SQL, STAGING_TABLE } from '../src/pipeline/ingest/loader.js';
import { createBenchDatabase, findServer } from './database.js';
import { loadConfig } from '../src/config.js';
import { prepareCopyText, runFloor } from './floor.js';

const { values } = parseArgs({ options: { records: { type: 'string', default: '200000' }, query: { type: 'string' } } });
const n = Number(values.records);
const mergeSql = values.query ? readFileSync(values.query, 'utf8') : MERGE_SQL;
const server = await findServer(process.env.DATABASE_URL);
const db = await createBenchDatabase(server);
try {
  const base = prepareCopyText(n, 0);
  const changed = prepareCopyText(n, 1);
  const explain = async (title: string, chunks: string[]) => {
    const client = await db.pool.connect();
    try {
      await client.query('BEGIN');
      // As mergeStaging runs it: with the ingest's work_mem.
      await client.query(`SELECT set_config('work_mem', $1, true)`, [loadConfig({}).INGEST_WORK_MEM]);
      await client.query(CREATE_STAGING_SQL);
      let t = performance.now();
      await pipeline(Readable.from(chunks), client.query(copyFrom(COPY_STAGING_SQL)));
      const copyMs = performance.now() - t;
      t = performance.now();
      await client.query(`ANALYZE ${STAGING_TABLE}`);
      const analyzeMs = performance.now() - t;
      const { rows } = await client.query<{ 'QUERY PLAN': string }>(`EXPLAIN (ANALYZE, BUFFERS, VERBOSE OFF) ${mergeSql}`);
      process.stdout.write(`\n=== ${title}: COPY ${copyMs.toFixed(0)} ms, ANALYZE ${analyzeMs.toFixed(0)} ms ===\n`);
      process.stdout.write(rows.map((r) => r['QUERY PLAN']).join('\n') + '\n');
    } finally {
      await client.query('ROLLBACK');
      client.release();
    }
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
