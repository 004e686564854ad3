// The mock's records held as JSON bytes in an arena: pages and lookups must be
// byte for byte what JSON.stringify of the records gives, wherever the chunk
// boundaries fall and in whatever order pages are asked.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { buildMockApp } from '../../src/mock-server/app.js';
import {
  datasetFromRecords,
  generatedDataset,
  generatedId,
  generateRecord,
  GENERATED_CACHE_MAX,
  type Dataset,
} from '../../src/core/mock/dataset.js';
import { PACKAGE_ROOT } from '../../src/core/config.js';

const records = JSON.parse(readFileSync(path.join(PACKAGE_ROOT, 'data', 'customers.json'), 'utf8')) as { customer_id: string }[];

const text = (pieces: Buffer[]) => Buffer.concat(pieces).toString('utf8');
const joined = (rs: readonly unknown[]) => rs.map((r) => JSON.stringify(r)).join(',');
const generated = (seed: number, start: number, end: number) =>
  joined(Array.from({ length: end - start }, (_, i) => generateRecord(seed, start + i)));

describe('datasetFromRecords', () => {
  it('gives the JSON of every range of records, across chunk boundaries', () => {
    // 4 records a chunk: ranges start and end inside, at and across boundaries.
    const d = datasetFromRecords(records, { chunkRecords: 4 });
    expect(d.size).toBe(records.length);
    for (let start = 0; start <= records.length; start++) {
      for (const n of [0, 1, 3, 4, 5, 9, 13]) {
        expect(text(d.slice(start, start + n))).toBe(joined(records.slice(start, start + n)));
      }
    }
  });

  it('keeps non-ASCII text as UTF-8 bytes', () => {
    const d = datasetFromRecords([{ customer_id: 'U-1', first_name: 'Łukasz Nguyễn 😀' }], { chunkRecords: 1 });
    expect(d.get('U-1')!.equals(Buffer.from(JSON.stringify({ customer_id: 'U-1', first_name: 'Łukasz Nguyễn 😀' })))).toBe(true);
  });

  it('looks records up by id (the first of a repeated id), and not unknown ones', () => {
    const d = datasetFromRecords(records, { chunkRecords: 3 });
    for (const r of records) expect(d.get(r.customer_id)!.toString()).toBe(JSON.stringify(r));
    expect(d.get('NOPE-1')).toBeUndefined();
    const twice = datasetFromRecords([
      { customer_id: 'A', n: 1 },
      { customer_id: 'A', n: 2 },
    ]);
    expect(twice.get('A')!.toString()).toBe('{"customer_id":"A","n":1}');
  });

  it('clamps ranges to the records, and an empty dataset has no pieces', () => {
    const d = datasetFromRecords(records.slice(0, 5), { chunkRecords: 2 });
    expect(text(d.slice(3, 50))).toBe(joined(records.slice(3, 5)));
    expect(d.slice(5, 10)).toEqual([]);
    expect(d.slice(40, 50)).toEqual([]);
    expect(datasetFromRecords([]).slice(0, 10)).toEqual([]);
  });
});

describe('generatedDataset', () => {
  it('serves pages asked out of order exactly as generateRecord gives them', () => {
    const d = generatedDataset(500, 9, { chunkRecords: 16 });
    // Later chunks before earlier ones, pages overlapping chunks filled by others.
    for (const [start, end] of [
      [300, 340],
      [0, 10],
      [30, 70],
      [5, 40],
      [490, 520],
      [250, 305],
      [0, 500],
    ] as const) {
      expect(text(d.slice(start, end))).toBe(generated(9, start, Math.min(end, 500)));
    }
  });

  it('computes records past the cache cap per request, and a page across the cap is seamless', () => {
    const d = generatedDataset(GENERATED_CACHE_MAX + 100, 4, { chunkRecords: 64 });
    const cap = GENERATED_CACHE_MAX;
    expect(text(d.slice(cap + 10, cap + 30))).toBe(generated(4, cap + 10, cap + 30));
    expect(text(d.slice(cap - 70, cap + 30))).toBe(generated(4, cap - 70, cap + 30));
    expect(text(d.slice(cap + 90, cap + 200))).toBe(generated(4, cap + 90, cap + 100));
    expect(d.slice(cap + 100, cap + 200)).toEqual([]);
  });

  it('looks records up by id, packed or not, before and past the cap', () => {
    const d = generatedDataset(GENERATED_CACHE_MAX + 10, 6, { chunkRecords: 8 });
    const byId = (i: number) => d.get(generatedId(i))?.toString();
    expect(byId(20)).toBe(JSON.stringify(generateRecord(6, 20)));
    d.slice(16, 24);
    expect(byId(20)).toBe(JSON.stringify(generateRecord(6, 20)));
    expect(byId(GENERATED_CACHE_MAX + 3)).toBe(JSON.stringify(generateRecord(6, GENERATED_CACHE_MAX + 3)));
    expect(d.get(generatedId(GENERATED_CACHE_MAX + 10))).toBeUndefined();
    expect(d.get('GEN-000000000')).toBeUndefined();
    expect(d.get('GEN-1')).toBeUndefined();
  });
});

describe('GET /api/customers over the arena', () => {
  const apps: FastifyInstance[] = [];
  afterAll(() => Promise.all(apps.map((a) => a.close())));
  const mock = async (dataset: Dataset, capLimit?: number) => {
    const app = await buildMockApp({ dataset, maxLimit: 1000, capLimit });
    apps.push(app);
    return app;
  };
  const envelope = (data: string, total: number, page: number, limit: number) =>
    `{"data":[${data}],"total":${total},"page":${page},"limit":${limit}}`;

  it("sends the envelope around the records' JSON, byte for byte, as UTF-8 JSON", async () => {
    const app = await mock(datasetFromRecords(records, { chunkRecords: 4 }));
    for (const [page, limit] of [
      [1, 10],
      [2, 7],
      [4, 13],
      [1, 1000],
    ] as const) {
      const res = await app.inject(`/api/customers?page=${page}&limit=${limit}`);
      expect(res.statusCode).toBe(200);
      expect(res.headers['content-type']).toBe('application/json; charset=utf-8');
      const want = envelope(joined(records.slice((page - 1) * limit, page * limit)), records.length, page, limit);
      expect(res.rawPayload.equals(Buffer.from(want))).toBe(true);
      expect(Number(res.headers['content-length'])).toBe(Buffer.byteLength(want));
    }
  });

  it('answers a page past the end with empty data', async () => {
    const app = await mock(generatedDataset(30, 2, { chunkRecords: 8 }));
    const res = await app.inject('/api/customers?page=4&limit=10');
    expect(res.body).toBe(envelope('', 30, 4, 10));
  });

  it('serves at most capLimit records and answers with the limit asked', async () => {
    const app = await mock(generatedDataset(100, 2, { chunkRecords: 8 }), 15);
    const res = await app.inject('/api/customers?page=3&limit=50');
    expect(res.body).toBe(envelope(generated(2, 30, 45), 100, 3, 50));
  });

  it('looks a generated record up by id, and answers an unknown one with 404', async () => {
    const app = await mock(generatedDataset(100, 2, { chunkRecords: 8 }));
    const res = await app.inject('/api/customers/GEN-000000042');
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toBe('application/json; charset=utf-8');
    expect(res.body).toBe(JSON.stringify(generateRecord(2, 41)));
    for (const id of ['GEN-000000101', 'GEN-000000000', 'NOPE-1']) {
      const missing = await app.inject(`/api/customers/${id}`);
      expect(missing.statusCode).toBe(404);
      expect(missing.json()).toMatchObject({ status: 404, detail: `Customer ${id} not found` });
    }
  });
});
