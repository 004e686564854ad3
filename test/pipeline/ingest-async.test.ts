// Asynchronous ingest: 202 + Location at once, live progress on the run
// record, and the run's progress as Server-Sent Events until it ends.
import Fastify from 'fastify';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { Customer } from '../../src/core/customer.js';
import { ProblemSchema, installErrorHandling } from '../../src/http/errors.js';
import { ingestOptions } from '../../src/pipeline/app.js';
import { ingestRoutes } from '../../src/pipeline/routes/ingest.js';
import { sseEvents, type SseEvent } from '../../src/cli/sse.js';
import { buildTestPipeline, startMockSource, testConfig, type MockSource, type TestPipeline } from '../support/apps.js';

const customer = (i: number, over: Partial<Customer> = {}): Customer => ({
  customer_id: `A-${String(i).padStart(5, '0')}`,
  first_name: `First${i}`,
  last_name: `Last${i}`,
  email: `user${i}@example.com`,
  phone: null,
  address: null,
  date_of_birth: '1990-01-31',
  account_balance: 10.25,
  created_at: '2024-01-15T10:30:00',
  ...over,
});
const records = (n: number) => Array.from({ length: n }, (_, i) => customer(i + 1));

interface Run {
  id: number;
  status: string;
  fetched: number;
  inserted: number;
  rejected: number;
  pages: number;
  error: string | null;
  progress?: {
    phase: 'fetching' | 'merging';
    pages_done: number;
    pages_total: number | null;
    records: number;
    records_per_second: number;
    eta_seconds: number | null;
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function collect(url: string, timeoutMs = 20_000): Promise<SseEvent[]> {
  const out: SseEvent[] = [];
  for await (const e of sseEvents(url, { signal: AbortSignal.timeout(timeoutMs) })) out.push(e);
  return out;
}

describe('POST /api/ingest?mode=async', () => {
  let source: MockSource;
  let pipeline: TestPipeline;
  let base: string;

  beforeAll(async () => {
    source = await startMockSource(records(200));
  });
  afterAll(() => source.close());
  beforeEach(async () => {
    // 20 pages of 10, one at a time, 40 ms each: a run of about a second.
    pipeline = await buildTestPipeline(source.url, { ingest: { pageSize: 10, concurrency: 1 } });
    base = await pipeline.app.listen({ host: '127.0.0.1', port: 0 });
    source.faults.set('latencyMs=40');
    source.setRecords(records(200));
  });
  afterEach(() => pipeline.close());

  const waitForEnd = async (id: number): Promise<Run> => {
    for (;;) {
      const run = (await pipeline.app.inject(`/api/ingest/runs/${id}`)).json() as Run;
      if (run.status !== 'running') return run;
      await sleep(20);
    }
  };

  it('answers 202 with the run id and a Location before the run ends', async () => {
    const res = await pipeline.app.inject({ method: 'POST', url: '/api/ingest?mode=async' });
    expect(res.statusCode).toBe(202);
    const body = res.json() as { run_id: number; status: string; href: string; events: string };
    expect(body).toEqual({
      status: 'running',
      run_id: expect.any(Number),
      href: `/api/ingest/runs/${body.run_id}`,
      events: `/api/ingest/runs/${body.run_id}/events`,
    });
    expect(res.headers.location).toBe(body.href);
    // The run row exists when the 202 is sent.
    const run = (await pipeline.app.inject(body.href)).json() as Run;
    expect(run).toMatchObject({ id: body.run_id, status: 'running' });

    const done = await waitForEnd(body.run_id);
    // 20 full pages and the empty 21st that says the source is done.
    expect(done).toMatchObject({ status: 'succeeded', fetched: 200, inserted: 200, pages: 21, error: null });
    expect(done.progress).toBeUndefined();
    const stored = await pipeline.db.pool.query('SELECT count(*)::int AS n FROM customers');
    expect(stored.rows[0].n).toBe(200);
  });

  it('shows pages done of the total, records, rate and ETA on the run while it runs', async () => {
    const { run_id } = (await pipeline.app.inject({ method: 'POST', url: '/api/ingest?mode=async' })).json() as { run_id: number };
    let seen: Run | null = null;
    while (!seen) {
      const run = (await pipeline.app.inject(`/api/ingest/runs/${run_id}`)).json() as Run;
      if (run.status !== 'running') throw new Error('the run ended before its progress was seen');
      if ((run.progress?.pages_done ?? 0) >= 3) seen = run;
      else await sleep(10);
    }
    // 20 full pages, and the empty 21st that ends the run.
    expect(seen.progress).toMatchObject({ phase: 'fetching', pages_total: 21, records: seen.progress!.pages_done * 10 });
    expect(seen.progress!.pages_done).toBeLessThan(21);
    expect(seen.progress!.records_per_second).toBeGreaterThan(0);
    expect(seen.progress!.eta_seconds).toBeGreaterThan(0);
    // The live counts show on the record itself, and in the list of runs.
    expect(seen.fetched).toBe(seen.progress!.records);
    const list = (await pipeline.app.inject('/api/ingest/runs')).json() as { data: Run[] };
    expect(list.data[0]).toMatchObject({ id: run_id, status: 'running', progress: { pages_total: 21 } });
    await waitForEnd(run_id);
  });

  it('answers 409 at once, naming the running run, while another ingest runs', async () => {
    const first = (await pipeline.app.inject({ method: 'POST', url: '/api/ingest?mode=async' })).json() as { run_id: number };
    const second = await pipeline.app.inject({ method: 'POST', url: '/api/ingest?mode=async' });
    expect(second.statusCode).toBe(409);
    expect(second.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(second.json()).toMatchObject({ status: 409, run_id: first.run_id });
    // So does the synchronous default.
    const sync = await pipeline.app.inject({ method: 'POST', url: '/api/ingest' });
    expect(sync.statusCode).toBe(409);
    await waitForEnd(first.run_id);
  });

  it('records a failed asynchronous run with its error, rolled back', async () => {
    source.faults.set('failAfter=3,failWith=error');
    const { run_id } = (await pipeline.app.inject({ method: 'POST', url: '/api/ingest?mode=async' })).json() as { run_id: number };
    const run = await waitForEnd(run_id);
    expect(run.status).toBe('failed');
    expect(run.error).toMatch(/503/);
    const stored = await pipeline.db.pool.query('SELECT count(*)::int AS n FROM customers');
    expect(stored.rows[0].n).toBe(0);
  });

  it('keeps the synchronous default: 200 with the counts when the run has ended, progress visible meanwhile', async () => {
    const pending = pipeline.app.inject({ method: 'POST', url: '/api/ingest' });
    let running: Run | undefined;
    while (!running?.progress) {
      running = ((await pipeline.app.inject('/api/ingest/runs')).json() as { data: Run[] }).data[0];
      await sleep(10);
    }
    expect(running.status).toBe('running');
    const res = await pending;
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ status: 'success', records_processed: 200, run_id: running.id });
  });

  it('cancels an asynchronous run when the app closes, and records it failed', async () => {
    const { run_id } = (await pipeline.app.inject({ method: 'POST', url: '/api/ingest?mode=async' })).json() as { run_id: number };
    // Closed while pages are being staged.
    while (!((await pipeline.app.inject(`/api/ingest/runs/${run_id}`)).json() as Run).progress?.pages_done) await sleep(10);
    await pipeline.app.close();
    const { rows } = await pipeline.db.pool.query('SELECT status, error FROM ingestion_runs WHERE id = $1', [run_id]);
    expect(rows[0]).toMatchObject({ status: 'failed', error: expect.stringMatching(/cancelled/) });
    const stored = await pipeline.db.pool.query('SELECT count(*)::int AS n FROM customers');
    expect(stored.rows[0].n).toBe(0);
  });

  describe('GET /api/ingest/runs/:id/events', () => {
    it('streams progress events, then `done` with the final run record, and closes', async () => {
      const { run_id, events } = (await pipeline.app.inject({ method: 'POST', url: '/api/ingest?mode=async' })).json() as {
        run_id: number;
        events: string;
      };
      const res = await fetch(`${base}${events}`);
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
      await res.body?.cancel();

      const got = await collect(`${base}${events}`);
      const progress = got.filter((e) => e.event === 'progress').map((e) => JSON.parse(e.data) as NonNullable<Run['progress']>);
      expect(progress.length).toBeGreaterThan(2);
      const pages = progress.map((p) => p.pages_done);
      expect(pages).toEqual([...pages].sort((a, b) => a - b));
      // Pages done never pass the total shown; the last word before `done` is the merge.
      const counted = progress.filter((p) => p.pages_total !== null);
      expect(counted.length).toBeGreaterThan(1);
      for (const p of counted) expect(p.pages_done).toBeLessThanOrEqual(p.pages_total!);
      expect(progress.at(-1)).toMatchObject({ phase: 'merging', pages_done: 21, pages_total: 21 });
      expect(got.at(-1)!.event).toBe('done');
      expect(got.filter((e) => e.event === 'done')).toHaveLength(1);
      expect(JSON.parse(got.at(-1)!.data)).toMatchObject({ id: run_id, status: 'succeeded', fetched: 200, inserted: 200 });
    });

    it('sends `failed` with the error when the run fails', async () => {
      source.faults.set('failAfter=2,failWith=error');
      const { events } = (await pipeline.app.inject({ method: 'POST', url: '/api/ingest?mode=async' })).json() as { events: string };
      const got = await collect(`${base}${events}`);
      expect(got.at(-1)!.event).toBe('failed');
      expect(JSON.parse(got.at(-1)!.data)).toMatchObject({ status: 'failed', error: expect.stringMatching(/503/) });
    });

    it('sends one `done` event at once for a run that has ended', async () => {
      source.faults.set('none');
      const sync = (await pipeline.app.inject({ method: 'POST', url: '/api/ingest' })).json() as { run_id: number };
      const res = await pipeline.app.inject(`/api/ingest/runs/${sync.run_id}/events`);
      expect(res.statusCode).toBe(200);
      const blocks = res.body.split('\n\n').filter((b) => b.startsWith('event:'));
      expect(blocks).toHaveLength(1);
      expect(blocks[0]).toMatch(/^event: done\ndata: \{.*"status":"succeeded"/);
    });

    it('answers 404 as a problem for an unknown run', async () => {
      const res = await pipeline.app.inject('/api/ingest/runs/999999/events');
      expect(res.statusCode).toBe(404);
      expect(res.json()).toMatchObject({ status: 404, detail: 'Run 999999 not found' });
    });

    it('follows a run of another process by its row, and ends when the row does', async () => {
      // A second app on the same database: it has no live progress of the first one's run.
      const other = await buildTestPipeline(source.url, { ingest: { pageSize: 10, concurrency: 1 } }, pipeline.db);
      try {
        const otherBase = await other.app.listen({ host: '127.0.0.1', port: 0 });
        const { run_id } = (await pipeline.app.inject({ method: 'POST', url: '/api/ingest?mode=async' })).json() as { run_id: number };
        // Its record on the other app carries the counts the run keeps in its row.
        let live: Run | null = null;
        while (!live) {
          const run = (await other.app.inject(`/api/ingest/runs/${run_id}`)).json() as Run;
          if (run.status !== 'running') throw new Error('the run ended before its counts were seen from the other app');
          if ((run.progress?.records ?? 0) > 0) live = run;
          else await sleep(20);
        }
        expect(live.fetched).toBe(live.progress!.records);
        expect(live.progress!.pages_total).toBe(21);
        const got = await collect(`${otherBase}/api/ingest/runs/${run_id}/events`);
        expect(got[0]!.event).toBe('progress');
        const counted = got.filter((e) => e.event === 'progress').map((e) => JSON.parse(e.data) as NonNullable<Run['progress']>);
        expect(counted.some((p) => p.records > 0)).toBe(true);
        expect(got.at(-1)!.event).toBe('done');
        expect(JSON.parse(got.at(-1)!.data)).toMatchObject({ id: run_id, status: 'succeeded' });
      } finally {
        await other.close();
      }
    });
  });
});

describe('run event stream', () => {
  it('sends a heartbeat comment while the run is quiet, and ends open streams when the app closes', async () => {
    const source = await startMockSource(records(30), 1000, 'latencyMs=400');
    const { createTestDatabase } = await import('../support/db.js');
    const db = await createTestDatabase();
    const app = Fastify();
    installErrorHandling(app);
    app.addSchema(ProblemSchema);
    await app.register(ingestRoutes, {
      pool: db.pool,
      ingest: ingestOptions(testConfig({ ingest: { pageSize: 10, concurrency: 1 } }), source.url),
      events: { heartbeatMs: 50 },
    });
    const base = await app.listen({ host: '127.0.0.1', port: 0 });
    try {
      const { run_id } = (await app.inject({ method: 'POST', url: '/api/ingest?mode=async' })).json() as { run_id: number };
      const res = await fetch(`${base}/api/ingest/runs/${run_id}/events`);
      const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
      let text = '';
      while (!text.includes(': heartbeat')) text += (await reader.read()).value ?? '';
      // Closing the app cancels the run; the stream gets its `failed` event and ends.
      const closing = app.close();
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        text += value;
      }
      await closing;
      expect(text).toMatch(/event: failed\ndata: .*cancelled/);
    } finally {
      await app.close();
      await db.drop();
      await source.close();
    }
  });
});
