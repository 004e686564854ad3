// Issue #13: every run is a change set — seen per run and per customer,
// previewed (dry run), undone (revert) — and deletions behind a guard.
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { Customer } from '../../src/core/customer.js';
import { INGEST_LOCK_KEY, RUN_LOCK_CLASS } from '../../src/core/ingest/runs-repository.js';
import { buildTestPipeline, startMockSource, type MockSource, type TestPipeline } from '../support/apps.js';

const base = (i: number, over: Partial<Customer> = {}): Customer => ({
  customer_id: `C-${String(i).padStart(5, '0')}`,
  first_name: `First${i}`,
  last_name: `Last${i}`,
  email: `user${i}@example.com`,
  phone: `+1-555-${String(i).padStart(4, '0')}`,
  address: `${i} Main St`,
  date_of_birth: '1990-01-31',
  account_balance: 100.5,
  created_at: '2024-01-15T10:30:00',
  ...over,
});
const range = (n: number, f: (i: number) => Customer = base) => Array.from({ length: n }, (_, i) => f(i + 1));
const id = (i: number) => base(i).customer_id;

interface Change {
  customer_id: string;
  change: 'insert' | 'update' | 'delete';
  fields: string[];
  before: Customer | null;
  after: Customer | null;
}

describe('change sets', () => {
  let source: MockSource;
  let pipeline: TestPipeline;

  beforeAll(async () => {
    source = await startMockSource([]);
  });
  afterAll(async () => {
    await source.close();
  });
  beforeEach(async () => {
    pipeline = await buildTestPipeline(source.url, { ingest: { pageSize: 7, concurrency: 3 } });
  });
  afterEach(async () => {
    await pipeline.close();
  });

  const ingest = async (query = '') => {
    const res = await pipeline.app.inject({ method: 'POST', url: `/api/ingest${query}` });
    return { status: res.statusCode, body: res.json() };
  };
  const ok = async (query = '') => {
    const r = await ingest(query);
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    return r.body as {
      run_id: number;
      inserted: number;
      updated: number;
      unchanged: number;
      deleted: number;
      rejected: number;
      dry_run: boolean;
    };
  };
  const changes = async (runId: number, query = '') => {
    const res = await pipeline.app.inject(`/api/ingest/runs/${runId}/changes?limit=1000${query}`);
    expect(res.statusCode, res.body).toBe(200);
    return res.json() as { data: Change[]; total: number; dry_run: boolean; changes_pruned_at: string | null };
  };
  const revert = async (runId: number) => {
    const res = await pipeline.app.inject({ method: 'POST', url: `/api/ingest/runs/${runId}/revert` });
    return { status: res.statusCode, body: res.json() };
  };
  const run = async (runId: number) => (await pipeline.app.inject(`/api/ingest/runs/${runId}`)).json();
  /** Every stored row, as PostgreSQL has it, with its row version. */
  const snapshot = async () =>
    (await pipeline.db.pool.query(`SELECT customer_id, xmin::text AS xmin, c::text AS row FROM customers AS c ORDER BY customer_id`))
      .rows as {
      customer_id: string;
      xmin: string;
      row: string;
    }[];
  const contents = async () => (await snapshot()).map(({ customer_id, row }) => ({ customer_id, row }));

  it('logs an insert, an update (a null in the source is no change) and a delete, one change per id', async () => {
    source.setRecords(range(20));
    const first = await ok();
    const inserts = await changes(first.run_id);
    expect(inserts.total).toBe(20);
    expect(inserts.data.map((c) => c.customer_id)).toEqual(range(20).map((c) => c.customer_id));
    expect(inserts.data[0]).toEqual({
      customer_id: id(1),
      change: 'insert',
      fields: ['first_name', 'last_name', 'email', 'phone', 'address', 'date_of_birth', 'account_balance', 'created_at'],
      before: null,
      after: base(1),
    });

    // Record 2: a new last name, phone null in the source (kept as stored);
    // record 3 twice, the later one wins; record 20 no longer in the source.
    source.setRecords([
      ...range(19).map((c, i) => (i === 1 ? { ...c, last_name: 'Changed', phone: null } : c)),
      base(3, { first_name: 'Later' }),
    ]);
    const second = await ok('?delete_missing=true');
    expect(second).toMatchObject({ inserted: 0, updated: 2, deleted: 1, unchanged: 17 });
    const set = await changes(second.run_id);
    expect(set.total).toBe(3);
    expect(set.data).toEqual([
      { customer_id: id(2), change: 'update', fields: ['last_name'], before: base(2), after: base(2, { last_name: 'Changed' }) },
      { customer_id: id(3), change: 'update', fields: ['first_name'], before: base(3), after: base(3, { first_name: 'Later' }) },
      { customer_id: id(20), change: 'delete', fields: expect.arrayContaining(['first_name', 'email']), before: base(20), after: null },
    ]);
    expect((await changes(second.run_id, '&change=delete')).data.map((c) => c.customer_id)).toEqual([id(20)]);
    expect((await changes(second.run_id, '&change=update')).total).toBe(2);
    // The insert's after-image is what the run left, not the row as it is now.
    expect((await changes(first.run_id)).data[1]!.after).toEqual(base(2));
    expect(await run(second.run_id)).toMatchObject({ deleted: 1, dry_run: false, reverts: null, reverted_by: null });
  });

  it('writes nothing to the change log on an unchanged re-ingest', async () => {
    source.setRecords(range(15));
    await ok();
    const again = await ok();
    expect(again).toMatchObject({ inserted: 0, updated: 0, deleted: 0, unchanged: 15 });
    expect((await changes(again.run_id)).total).toBe(0);
  });

  it('previews a run: customers untouched to the row version, the counts those of the real run that follows', async () => {
    source.setRecords(range(20));
    await ok();
    source.setRecords([
      ...range(18).map((c, i) => (i % 5 === 0 ? { ...c, email: `new${i}@example.com`, phone: null } : c)),
      base(30),
      base(31, { address: null, created_at: null }),
    ]);
    const before = await snapshot();
    const dry = await ok('?dry_run=true&delete_missing=true');
    expect(dry.dry_run).toBe(true);
    // Not counted as rows written: only the first ingest's 20 inserts are.
    expect((await pipeline.app.inject('/metrics')).body).toMatch(/^ingest_rows_total\{result="inserted"\} 20$/m);
    expect(await snapshot()).toEqual(before);
    expect((await pipeline.app.inject('/api/customers/C-00030')).statusCode).toBe(404);

    const preview = await changes(dry.run_id);
    expect(preview.dry_run).toBe(true);
    expect(await run(dry.run_id)).toMatchObject({ status: 'succeeded', dry_run: true });
    const real = await ok('?delete_missing=true');
    expect(real.dry_run).toBe(false);
    for (const k of ['inserted', 'updated', 'unchanged', 'deleted', 'rejected'] as const) expect(dry[k], k).toBe(real[k]);
    expect(dry).toMatchObject({ inserted: 2, updated: 4, deleted: 2 });
    // The preview showed exactly what the real run did.
    expect(preview.data).toEqual((await changes(real.run_id)).data);
    // A dry run is nobody's history, and cannot be reverted.
    const history = (await pipeline.app.inject(`/api/customers/${id(1)}/history`)).json();
    expect(history.data.map((h: { run_id: number }) => h.run_id)).not.toContain(dry.run_id);
    expect(await revert(dry.run_id)).toMatchObject({ status: 409, body: { reason: 'dry_run' } });
  });

  it('reverts each kind of change to the exact rows, as a run of its own that can be reverted in turn', async () => {
    source.setRecords(
      range(20, (i) => base(i, { account_balance: i === 4 ? 0.1 : 1234567890123.45, address: i === 5 ? null : `${i} Tab\there` })),
    );
    await ok();
    const original = await contents();
    source.setRecords([
      ...range(19, (i) => base(i, { account_balance: i === 4 ? 0.1 : 1234567890123.45, address: i === 5 ? null : `${i} Tab\there` })).map(
        (c, i) => (i === 3 ? { ...c, last_name: 'Nouveau', account_balance: 99.99 } : i === 4 ? { ...c, address: 'filled in' } : c),
      ),
      base(40),
    ]);
    const changed = await ok('?delete_missing=true');
    expect(changed).toMatchObject({ inserted: 1, updated: 2, deleted: 1 });
    const after = await contents();

    const undo = await revert(changed.run_id);
    expect(undo.status, JSON.stringify(undo.body)).toBe(200);
    expect(undo.body).toMatchObject({ status: 'success', reverts: changed.run_id, inserted: 1, updated: 2, deleted: 1 });
    expect(await contents()).toEqual(original);
    expect(await run(changed.run_id)).toMatchObject({ reverted_by: undo.body.run_id });
    expect(await run(undo.body.run_id)).toMatchObject({
      status: 'succeeded',
      reverts: changed.run_id,
      inserted: 1,
      updated: 2,
      deleted: 1,
    });
    const undone = await changes(undo.body.run_id);
    expect(undone.data.map((c) => [c.customer_id, c.change])).toEqual([
      [id(4), 'update'],
      [id(5), 'update'],
      [id(20), 'insert'],
      [id(40), 'delete'],
    ]);
    expect((await pipeline.app.inject('/api/customers/C-00040')).statusCode).toBe(404);
    expect((await pipeline.app.inject('/api/customers/C-00020')).json()).toMatchObject({
      customer_id: id(20),
      account_balance: 1234567890123.45,
    });
    // The pages see the row count and the ids as they are now.
    expect((await pipeline.app.inject('/api/customers?limit=1')).json().total).toBe(20);

    expect(await revert(changed.run_id)).toMatchObject({
      status: 409,
      body: { reason: 'already_reverted', reverted_by: undo.body.run_id },
    });
    const redo = await revert(undo.body.run_id);
    expect(redo.status, JSON.stringify(redo.body)).toBe(200);
    expect(await contents()).toEqual(after);
  });

  it('refuses to revert a run when a later run changed the same customers, naming them', async () => {
    source.setRecords(range(10));
    const first = await ok();
    source.setRecords(range(10, (i) => base(i, { first_name: i <= 3 ? `Second${i}` : `First${i}` })));
    const second = await ok();
    source.setRecords(range(10, (i) => base(i, { first_name: i === 2 ? 'Third' : i <= 3 ? `Second${i}` : `First${i}` })));
    const third = await ok();
    const stored = await snapshot();

    const refused = await revert(first.run_id);
    expect(refused.status).toBe(409);
    // Each conflicting customer with the latest run that changed it: the one to revert first.
    expect(refused.body).toMatchObject({ reason: 'conflict', runs: [second.run_id, third.run_id], conflicts_total: 3 });
    expect(refused.body.conflicts).toEqual([
      { customer_id: id(1), run_id: second.run_id },
      { customer_id: id(2), run_id: third.run_id },
      { customer_id: id(3), run_id: second.run_id },
    ]);
    expect(refused.body.detail).toMatch(new RegExp(`runs ${second.run_id}, ${third.run_id}`));
    expect((await revert(second.run_id)).body).toMatchObject({
      reason: 'conflict',
      runs: [third.run_id],
      conflicts: [{ customer_id: id(2) }],
    });
    expect(await snapshot()).toEqual(stored);

    // Newest first, each revert lands: a later change that was reverted is no conflict.
    expect((await revert(third.run_id)).status).toBe(200);
    expect((await revert(second.run_id)).status).toBe(200);
    expect((await revert(first.run_id)).status).toBe(200);
    expect(await snapshot()).toEqual([]);
  });

  it('refuses a revert when a later run redid what a revert undid', async () => {
    source.setRecords(range(4));
    const first = await ok();
    source.setRecords(range(4, (i) => base(i, { last_name: i === 1 ? 'Second' : `Last${i}` })));
    const second = await ok();
    const undo = (await revert(second.run_id)).body.run_id as number;
    const redo = (await revert(undo)).body.run_id as number;
    // Customer 1 holds the second run's change again: reverting the first run would lose it.
    expect((await revert(first.run_id)).body).toMatchObject({ reason: 'conflict', conflicts: [{ customer_id: id(1), run_id: redo }] });
  });

  it('refuses to revert a failed run and an unknown one', async () => {
    source.setRecords(range(3));
    await ok();
    const broken = await buildTestPipeline('http://127.0.0.1:9', { source: { maxRetries: 0 } }, pipeline.db);
    try {
      const res = await broken.app.inject({ method: 'POST', url: '/api/ingest' });
      expect(res.statusCode).toBe(502);
      const failed = res.json().run_id as number;
      expect(await revert(failed)).toMatchObject({ status: 409, body: { reason: 'not_succeeded' } });
    } finally {
      await broken.close();
    }
    // One at a time with the ingests: the same advisory lock.
    const holder = await pipeline.db.pool.connect();
    try {
      await holder.query('BEGIN');
      // Held as an ingest holds it: the ingest lock, and the lock naming its run.
      await holder.query('SELECT pg_advisory_xact_lock($1), pg_advisory_xact_lock($2, 4242)', [INGEST_LOCK_KEY, RUN_LOCK_CLASS]);
      const busy = await revert(1);
      expect(busy.status).toBe(409);
      expect(busy.body.detail).toMatch(/already running/);
      expect(busy.body.run_id).toBe(4242);
    } finally {
      await holder.query('ROLLBACK');
      holder.release();
    }
    expect((await revert(999)).status).toBe(404);
    expect((await pipeline.app.inject('/api/ingest/runs/999/changes')).statusCode).toBe(404);
    const bad = await pipeline.app.inject('/api/ingest/runs/1/changes?change=upsert');
    expect(bad.statusCode).toBe(400);
    expect(bad.json().invalid_params[0].name).toBe('change');
    const badFlag = await ingest('?dry_run=maybe');
    expect(badFlag.status).toBe(400);
    expect(badFlag.body.invalid_params[0].name).toBe('dry_run');
  });

  it('guards against mass deletes: refused with the count, nothing changed, unless allowed', async () => {
    source.setRecords(range(20));
    await ok();
    const stored = await snapshot();
    source.setRecords(range(17)); // 3 of 20 missing: 15% > 10%
    const refused = await ingest('?delete_missing=true');
    expect(refused.status).toBe(409);
    expect(refused.body).toMatchObject({ would_delete: 3, stored: 20, max_percent: 10 });
    expect(refused.body.detail).toMatch(/would delete 3 of 20/);
    expect(await snapshot()).toEqual(stored);
    expect(await run(refused.body.run_id)).toMatchObject({ status: 'failed', deleted: 0 });
    expect((await changes(refused.body.run_id)).total).toBe(0);
    // Without delete_missing nothing is deleted at all (the default).
    expect(await ok()).toMatchObject({ deleted: 0, unchanged: 17 });

    const allowed = await ok('?delete_missing=true&allow_mass_delete=true');
    expect(allowed.deleted).toBe(3);
    const metrics = (await pipeline.app.inject('/metrics')).body;
    expect(metrics).toMatch(/^ingest_rows_total\{result="deleted"\} 3$/m);
    expect((await pipeline.app.inject('/api/customers?limit=1')).json().total).toBe(17);

    // A source that returns no record deletes nothing, whatever the share, without the flag.
    const open = await buildTestPipeline(source.url, { ingest: { deleteMaxPercent: 100, deleteMissing: true } }, pipeline.db);
    try {
      source.setRecords([]);
      const res = await open.app.inject({ method: 'POST', url: '/api/ingest' });
      expect(res.statusCode).toBe(409);
      expect(res.json()).toMatchObject({ would_delete: 17 });
      expect(res.json().detail).toMatch(/no record/);
      expect((await open.app.inject('/api/customers?limit=1')).json().total).toBe(17);
    } finally {
      await open.close();
    }
  });

  it('does not delete the id of a record the source returned but that was rejected', async () => {
    source.setRecords(range(20));
    await ok();
    source.setRecords([...range(19), { ...base(20), email: 'not an email' }]);
    const r = await ok('?delete_missing=true');
    expect(r).toMatchObject({ rejected: 1, deleted: 0 });
    expect((await pipeline.app.inject(`/api/customers/${id(20)}`)).statusCode).toBe(200);
  });

  it("keeps a customer's history across five runs, newest first, readable after it is deleted", async () => {
    const runs: number[] = [];
    source.setRecords(range(12));
    runs.push((await ok()).run_id); // insert
    source.setRecords(range(12, (i) => base(i, { phone: i === 1 ? '+1-000' : base(i).phone })));
    runs.push((await ok()).run_id); // update phone
    source.setRecords(range(12, (i) => base(i, { phone: i === 1 ? '+1-000' : base(i).phone, account_balance: i === 1 ? null : 100.5 })));
    await ok(); // a null balance is no change
    source.setRecords(
      range(12, (i) => base(i, { phone: i === 1 ? '+1-000' : base(i).phone, email: i === 1 ? 'z@example.com' : base(i).email })),
    );
    runs.push((await ok()).run_id); // update email
    source.setRecords(range(12).slice(1));
    runs.push((await ok('?delete_missing=true')).run_id); // delete

    const res = await pipeline.app.inject(`/api/customers/${id(1)}/history`);
    expect(res.statusCode).toBe(200);
    const h = res.json();
    expect(h).toMatchObject({ total: 4, page: 1, limit: 10 });
    expect(h.data.map((e: { run_id: number; change: string; fields: string[] }) => [e.run_id, e.change, e.fields])).toEqual([
      [runs[3], 'delete', expect.arrayContaining(['first_name'])],
      [runs[2], 'update', ['email']],
      [runs[1], 'update', ['phone']],
      [runs[0], 'insert', expect.arrayContaining(['first_name', 'phone'])],
    ]);
    expect(h.data[0].before).toEqual(base(1, { phone: '+1-000', email: 'z@example.com' }));
    expect(h.data[0].after).toBeNull();
    expect(h.data[1].after).toEqual(base(1, { phone: '+1-000', email: 'z@example.com' }));
    expect(h.data[3].before).toBeNull();
    expect(h.data[3].after).toEqual(base(1));
    for (const e of h.data) expect(Date.parse(e.at)).not.toBeNaN();
    const paged = (await pipeline.app.inject(`/api/customers/${id(1)}/history?page=2&limit=3`)).json();
    expect(paged.data.map((e: { run_id: number }) => e.run_id)).toEqual([runs[0]]);

    expect((await pipeline.app.inject('/api/customers/NEVER-STORED/history')).statusCode).toBe(404);
  });

  it('prunes change sets past retention: the run stays listed and cannot be reverted', async () => {
    source.setRecords(range(5));
    const old = await ok();
    source.setRecords(range(6));
    const recent = await ok();
    await pipeline.db.pool.query(
      `UPDATE ingestion_runs SET started_at = started_at - interval '91 days', finished_at = finished_at - interval '91 days' WHERE id = $1`,
      [old.run_id],
    );
    await ok(); // the next ingest prunes
    const pruned = await changes(old.run_id);
    expect(pruned.total).toBe(0);
    expect(pruned.changes_pruned_at).not.toBeNull();
    expect(await run(old.run_id)).toMatchObject({ status: 'succeeded', inserted: 5 });
    expect((await run(old.run_id)).changes_pruned_at).toEqual(expect.any(String));
    expect((await changes(recent.run_id)).total).toBe(1);
    expect(await revert(old.run_id)).toMatchObject({ status: 409, body: { reason: 'pruned' } });
  });
});

describe('reads of the change log are index-driven', () => {
  let source: MockSource;
  let pipeline: TestPipeline;

  beforeAll(async () => {
    source = await startMockSource([]);
    pipeline = await buildTestPipeline(source.url);
    // Many runs, many changes: the planner would seq scan a small table anyway.
    for (let v = 0; v < 4; v++) {
      source.setRecords(range(3000, (i) => base(i, { last_name: `Last${i}-v${v}` })));
      expect((await pipeline.app.inject({ method: 'POST', url: '/api/ingest' })).statusCode).toBe(200);
    }
    await pipeline.db.pool.query('ANALYZE customer_changes');
  }, 120_000);
  afterAll(async () => {
    await pipeline?.close();
    await source?.close();
  });

  const plan = async (sql: string, params: unknown[]) =>
    (await pipeline.db.pool.query(`EXPLAIN ${sql}`, params)).rows.map((r) => r['QUERY PLAN'] as string).join('\n');

  it("reads a run's changes and a customer's history with index scans, never a seq scan of the log", async () => {
    const { RUN_CHANGES_SQL, HISTORY_SQL, HISTORY_COUNT_SQL } = await import('../../src/core/ingest/changes-repository.js');
    for (const [sql, params] of [
      [RUN_CHANGES_SQL, [2, null, 10, 100]],
      [RUN_CHANGES_SQL, [2, 'u', 10, 0]],
      [HISTORY_SQL, [id(42), 10, 0]],
      [HISTORY_COUNT_SQL, [id(42)]],
    ] as const) {
      const p = await plan(sql, [...params]);
      expect(p, p).toMatch(/Index (Only )?Scan/);
      expect(p, p).not.toMatch(/Seq Scan on customer_changes/);
    }
  });
});
