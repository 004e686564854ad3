// The ETA of a run covers the whole run: the pages still to fetch at the rate
// so far, then the merge, estimated from the merge time per record that the
// last run measured; while merging, what is left of that estimate.
import { describe, expect, it } from 'vitest';
import { DEFAULT_MERGE_MS_PER_RECORD, progressView } from '../../src/core/ingest/progress.js';

const counts = { fetched: 0, rejected: 0, retries: 0, fetchMs: null } as const;

describe('progressView', () => {
  it('while fetching: the pages left at the rate so far, plus the merge of every record expected', () => {
    // 10 of 100 pages (1,000 records each) in 2 s; the last run merged at 0.01 ms a record.
    const v = progressView({ ...counts, pages: 10, fetched: 10_000, pagesExpected: 100, phase: 'fetching' }, 2000, 0.01);
    // 90 pages × 0.2 s + 100,000 records × 0.01 ms
    expect(v.eta_seconds).toBe(18 + 1);
    expect(v).toMatchObject({ phase: 'fetching', pages_done: 10, pages_total: 100, records: 10_000, records_per_second: 5000 });
  });

  it('while merging: what is left of the merge estimate, and nothing of the fetch', () => {
    const p = { ...counts, pages: 101, fetched: 100_000, pagesExpected: 101, phase: 'merging', fetchMs: 20_000 } as const;
    expect(progressView(p, 20_500, 0.01).eta_seconds).toBe(0.5);
    // Past the estimate: 0, not negative.
    expect(progressView(p, 25_000, 0.01).eta_seconds).toBe(0);
    // records/s is the fetch's rate, not diluted by the merge.
    expect(progressView(p, 25_000, 0.01).records_per_second).toBe(5000);
  });

  it('estimates the merge with a default before any run has measured one', () => {
    const v = progressView({ ...counts, pages: 101, fetched: 100_000, pagesExpected: 101, phase: 'merging', fetchMs: 100 }, 100, null);
    expect(v.eta_seconds).toBe(Math.round(100_000 * DEFAULT_MERGE_MS_PER_RECORD) / 1000);
  });

  it('never shows more pages done than the total: a source whose total was low', () => {
    const v = progressView({ ...counts, pages: 12, fetched: 12_000, pagesExpected: 10, phase: 'fetching' }, 1000, 0.01);
    expect(v.pages_total).toBe(12);
  });

  it('has no ETA when the source gives no total', () => {
    expect(progressView({ ...counts, pages: 5, fetched: 5000, pagesExpected: null, phase: 'fetching' }, 1000, 0.01).eta_seconds).toBeNull();
  });
});
