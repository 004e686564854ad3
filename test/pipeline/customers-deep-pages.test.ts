// Deep pages are index-driven (page anchors), and stay exact when the
// anchors are out of date.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generatedDataset } from '../../src/core/mock/dataset.js';
import { ANCHOR_STRIDE, LIST_SQL } from '../../src/core/db/customers-repository.js';
import { buildTestPipeline, startMockSource, type MockSource, type TestPipeline } from '../support/apps.js';

const N = 5_000;

describe('GET /api/customers deep pages', () => {
  let source: MockSource;
  let pipeline: TestPipeline;
  beforeAll(async () => {
    source = await startMockSource(generatedDataset(N, 21));
    pipeline = await buildTestPipeline(source.url, { ingest: { pageSize: 500 } });
    expect((await pipeline.app.inject({ method: 'POST', url: '/api/ingest' })).statusCode).toBe(200);
  });
  afterAll(async () => {
    await pipeline.close();
    await source.close();
  });

  const page = async (p: number, limit: number) => (await pipeline.app.inject(`/api/customers?page=${p}&limit=${limit}`)).json();
  const expected = async (p: number, limit: number) =>
    (
      await pipeline.db.pool.query('SELECT customer_id FROM customers ORDER BY customer_id LIMIT $1 OFFSET $2', [limit, (p - 1) * limit])
    ).rows.map((r) => r.customer_id);
  const check = async () => {
    for (const [p, limit] of [
      [1, 10],
      [2, 100],
      [7, 33],
      [250, 17],
      [499, 10],
      [500, 10],
      [501, 10],
      [34, 150],
      [5, 1000],
      [9999, 10],
    ] as const) {
      const body = await page(p, limit);
      expect(
        body.data.map((c: { customer_id: string }) => c.customer_id),
        `page ${p} limit ${limit}`,
      ).toEqual(await expected(p, limit));
    }
  };

  it('serves every page exactly as an OFFSET over customer_id would', check);

  it('reads at most one anchor stride plus the page from the index, however deep', async () => {
    // Two pages in one batch (the reader's statement): a deep one and the first.
    const { rows } = await pipeline.db.pool.query(`EXPLAIN (ANALYZE, FORMAT JSON) ${LIST_SQL}`, [
      [10, 10],
      [4_000, 0],
    ]);
    const scans: { rows: number; name: string }[] = [];
    const walk = (node: Record<string, unknown>) => {
      // Actual Rows is per loop (one loop per page of the batch).
      if (node['Relation Name'] === 'customers') scans.push({ rows: node['Actual Rows'] as number, name: node['Node Type'] as string });
      for (const child of (node.Plans as Record<string, unknown>[] | undefined) ?? []) walk(child);
    };
    walk(rows[0]['QUERY PLAN'][0].Plan);
    expect(scans.length).toBeGreaterThan(0);
    for (const s of scans) {
      expect(s.name).toMatch(/Index/);
      expect(s.rows).toBeLessThanOrEqual(ANCHOR_STRIDE + 10);
    }
  });

  it('does not rebuild the anchors on a re-ingest that adds no id', async () => {
    const state = async () => (await pipeline.db.pool.query('SELECT version, anchors_version FROM customers_count')).rows[0];
    const before = await state();
    const res = await pipeline.app.inject({ method: 'POST', url: '/api/ingest' });
    expect(res.json()).toMatchObject({ inserted: 0, unchanged: N });
    expect(await state()).toEqual(before);
  });

  it('stays exact when rows are added by hand, and the next ingest makes deep pages fast again', async () => {
    await pipeline.db.pool.query(
      `INSERT INTO customers (customer_id, first_name, last_name, email)
       SELECT 'GEN-00000' || lpad(g::text, 4, '0') || 'x', 'Hand', 'Made', 'hand@example.com' FROM generate_series(1, 300) g`,
    );
    const stale = (await pipeline.db.pool.query('SELECT version <> anchors_version AS stale FROM customers_count')).rows[0].stale;
    expect(stale).toBe(true);
    expect((await page(1, 10)).total).toBe(N + 300);
    await check();
    const res = await pipeline.app.inject({ method: 'POST', url: '/api/ingest' });
    expect(res.json()).toMatchObject({ inserted: 0, unchanged: N });
    const fresh = (await pipeline.db.pool.query('SELECT version = anchors_version AS fresh FROM customers_count')).rows[0].fresh;
    expect(fresh).toBe(true);
    await check();
  });
});
