// EXPLAIN (ANALYZE, BUFFERS) of the read API's queries (customers-repository.ts)
// on a table of N ingested-like rows, with the plan PostgreSQL picks for a
// prepared statement after a few runs (generic) and a fresh one (custom).
//   npx tsx bench/explain-list.ts [--records 200000] [--analyze-all] [--jit off]
// --analyze-all also analyses the small tables (customers_count, anchors);
// --jit off runs with jit = off, as a pool option would set it.
import { parseArgs } from 'node:util';
import * as repo from '../../src/core/db/customers-repository.js';
import { createBenchDatabase, findServer } from '../database.js';
import { prepareCopyText, runFloor } from '../floor.js';

const { values } = parseArgs({
  options: {
    records: { type: 'string', default: '200000' },
    'analyze-all': { type: 'boolean', default: false },
    jit: { type: 'string', default: 'on' },
  },
});
const n = Number(values.records);
const server = await findServer(process.env.DATABASE_URL);
const db = await createBenchDatabase(server);
try {
  await runFloor(db.pool, prepareCopyText(n, 0), 'commit');
  await db.pool.query('SELECT rebuild_customers_page_anchors()').catch(() => {});
  await db.pool.query('VACUUM (ANALYZE) customers');
  if (values['analyze-all']) await db.pool.query('ANALYZE');
  const listSql = (repo as Record<string, unknown>).LIST_SQL as string | undefined;
  const client = await db.pool.connect();
  try {
    if (values.jit === 'off') await client.query('SET jit = off');
    const show = async (title: string, sql: string, params: unknown[]) => {
      for (const mode of ['force_custom_plan', 'force_generic_plan']) {
        await client.query(`SET plan_cache_mode = ${mode}`);
        await client.query('DEALLOCATE ALL');
        await client.query(`PREPARE q AS ${sql}`);
        const { rows } = await client.query<{ 'QUERY PLAN': string }>(
          `EXPLAIN (ANALYZE, BUFFERS) EXECUTE q(${params.map((p) => (typeof p === 'string' ? `'${p}'` : p)).join(', ')})`,
        );
        process.stdout.write(`\n=== ${title} — ${mode} ===\n${rows.map((r) => r['QUERY PLAN']).join('\n')}\n`);
      }
    };
    if (listSql) {
      await show('list page 1 (limit 10, offset 0)', listSql, ['{10}', '{0}']);
      await show(`deep page (limit 10, offset ${n / 2})`, listSql, ['{10}', `{${n / 2}}`]);
    }
  } finally {
    client.release();
  }
} finally {
  await db.drop();
  await server.stop();
}
