// Pages prepared in worker threads (INGEST_WORKERS, runs of more than
// WORKERS_FROM_PAGES pages) give exactly what the ingest's own thread gives:
// the same rows, the same rejected records with the same reasons, the same counts.
import { Writable } from 'node:stream';
import { afterAll, describe, expect, it } from 'vitest';
import pino from 'pino';
import type { Customer } from '../../src/customer.js';
import { generateRecord } from '../../src/mock-server/dataset.js';
import { runIngest } from '../../src/pipeline/ingest/ingest.js';
import { PageWorkers, WORKERS_FROM_PAGES } from '../../src/pipeline/ingest/page-workers.js';
import { preparePage } from '../../src/pipeline/ingest/prepare-page.js';
import { ingestOptions } from '../../src/pipeline/app.js';
import { startMockSource, TEST_INGEST_CONFIG, type MockSource } from '../support/apps.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';

const PAGE = 50;
const N = PAGE * (WORKERS_FROM_PAGES + 12) + 17;

/** Generated records with every 40th broken in a different way, and ids repeated across pages. */
function sourceRecords(): unknown[] {
  return Array.from({ length: N }, (_, i) => {
    const r: Record<string, unknown> = { ...generateRecord(9, i % 900) };
    if (i % 40 === 7) r.email = 'not an address';
    if (i % 40 === 17) r.date_of_birth = '2023-02-29';
    if (i % 40 === 27) r.first_name = 'tab\tand\\slash and \u00e9\u{1F600}';
    if (i % 40 === 33) r.account_balance = 0.1 + 0.2;
    return r;
  });
}

const open: { close?: () => Promise<void>; drop?: () => Promise<void> }[] = [];
afterAll(async () => {
  for (const x of open.reverse()) await (x.close ?? x.drop)!.call(x);
});

async function ingestWith(source: MockSource, workers: number) {
  const db: TestDatabase = await createTestDatabase();
  open.push(db);
  const lines: string[] = [];
  const logger = pino({ level: 'info' }, new Writable({ write: (chunk, _e, cb) => (lines.push(String(chunk)), cb()) }));
  const opts = ingestOptions({ ...TEST_INGEST_CONFIG, sourceUrl: source.url, INGEST_PAGE_SIZE: PAGE, INGEST_WORKERS: workers });
  const result = await runIngest(db.pool, opts, { logger });
  const customers = (await db.pool.query<Customer>('SELECT * FROM customers ORDER BY customer_id')).rows;
  const rejected = (
    await db.pool.query('SELECT page, position, customer_id, payload, reasons FROM rejected_records ORDER BY page, position')
  ).rows;
  const { run_id: _r, duration_ms: _d, ...counts } = result;
  return { counts, customers, rejected, usedWorkers: lines.some((l) => l.includes('preparing pages in worker threads')) };
}

describe('INGEST_WORKERS', () => {
  it('gives the same rows, rejected records and counts from worker threads as from the ingest\'s own thread', async () => {
    const source = await startMockSource(sourceRecords());
    open.push(source);
    const inThread = await ingestWith(source, 0);
    const inWorkers = await ingestWith(source, 2);
    expect(inThread.usedWorkers).toBe(false);
    expect(inWorkers.usedWorkers).toBe(true);
    expect(inWorkers.counts).toEqual(inThread.counts);
    expect(inThread.counts).toMatchObject({ fetched: N, rejected: expect.any(Number), duplicates: expect.any(Number) });
    expect(inThread.counts.rejected).toBeGreaterThan(N / 20);
    expect(inWorkers.customers).toEqual(inThread.customers);
    expect(inWorkers.rejected).toEqual(inThread.rejected);
    expect(inThread.rejected.length).toBe(inThread.counts.rejected);
  });

  it('keeps small runs in the ingest\'s own thread', async () => {
    const source = await startMockSource(sourceRecords().slice(0, PAGE * WORKERS_FROM_PAGES));
    open.push(source);
    const run = await ingestWith(source, 2);
    expect(run.usedWorkers).toBe(false);
    expect(run.counts.fetched).toBe(PAGE * WORKERS_FROM_PAGES);
  });

  it('says why a body is not a page, in a worker as in its own thread', async () => {
    const workers = new PageWorkers(1);
    open.push(workers);
    for (const text of ['{"data": [', '[1,2]', '{"total": 3}', '{"data": [{"customer_id": "X"}], "total": 1, "limit": 10}']) {
      // Rows compared as text: a Buffer here, a Uint8Array after the move from the worker.
      const asText = (p: ReturnType<typeof preparePage>) => (p.ok ? { ...p, rows: Buffer.from(p.rows).toString() } : p);
      const expected = asText(preparePage(1, new TextEncoder().encode(text)));
      expect(asText(await workers.prepare(1, new TextEncoder().encode(text)))).toEqual(expected);
    }
  });
});
