import { readFileSync, writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { buildMockApp } from '../../src/mock-server/app.js';
import { generatedDataset, generateRecord, loadDataFile, type Dataset } from '../../src/core/mock/dataset.js';
import { validateCustomer } from '../../src/core/customer.js';
import { PACKAGE_ROOT } from '../../src/core/config.js';

const DATA_FILE = path.join(PACKAGE_ROOT, 'data', 'customers.json');
const fileRecords = JSON.parse(readFileSync(DATA_FILE, 'utf8')) as { customer_id: string }[];

describe('mock server', () => {
  let app: FastifyInstance;
  beforeAll(async () => {
    app = await buildMockApp({ dataset: loadDataFile(DATA_FILE), maxLimit: 1000 });
  });
  afterAll(() => app.close());

  it('answers health with status ok', async () => {
    const res = await app.inject('/api/health');
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ status: 'ok' });
  });

  it('serves page 1 of 10 records by default, in file order, with the seed envelope', async () => {
    const res = await app.inject('/api/customers');
    expect(res.statusCode).toBe(200);
    const body = res.json();
    expect(body).toMatchObject({ total: fileRecords.length, page: 1, limit: 10 });
    expect(body.data).toEqual(fileRecords.slice(0, 10));
  });

  it('pages with page and limit, and the last page is short', async () => {
    const body = (await app.inject('/api/customers?page=7&limit=9')).json();
    expect(body.data).toEqual(fileRecords.slice(54, 63));
    expect(body.data).toHaveLength(fileRecords.length - 54);
  });

  it('answers a page past the end with 200 and empty data', async () => {
    const res = await app.inject('/api/customers?page=100&limit=10');
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ data: [], total: fileRecords.length, page: 100, limit: 10 });
  });

  it.each([
    ['page=0', 'page'],
    ['limit=0', 'limit'],
    ['page=-1', 'page'],
    ['page=1.5', 'page'],
    ['limit=abc', 'limit'],
    ['limit=1001', 'limit'],
  ])('rejects %s with a 400 naming the parameter', async (qs, name) => {
    const res = await app.inject(`/api/customers?${qs}`);
    expect(res.statusCode).toBe(400);
    expect(res.headers['content-type']).toMatch(/application\/problem\+json/);
    const body = res.json();
    expect(body.status).toBe(400);
    expect(body.invalid_params.map((p: { name: string }) => p.name)).toContain(name);
    expect(body.detail).toContain(name);
  });

  it('looks a record up by id', async () => {
    const target = fileRecords[17]!;
    const res = await app.inject(`/api/customers/${target.customer_id}`);
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual(target);
  });

  it('answers an unknown id with a 404 JSON body', async () => {
    const res = await app.inject('/api/customers/NOPE-1');
    expect(res.statusCode).toBe(404);
    expect(res.json()).toMatchObject({ status: 404, detail: 'Customer NOPE-1 not found' });
  });

  it('answers an unknown route with a 404 JSON body', async () => {
    const res = await app.inject('/nowhere');
    expect(res.statusCode).toBe(404);
    expect(res.json().status).toBe(404);
  });

  it('answers a missing docs asset with 404, not 405', async () => {
    const res = await app.inject('/docs/static/no-such-file.js');
    expect(res.statusCode).toBe(404);
    expect(res.headers.allow).toBeUndefined();
  });

  it('serves its OpenAPI document and docs UI with local assets', async () => {
    const doc = (await app.inject('/openapi.json')).json();
    expect(doc.openapi).toMatch(/^3\./);
    expect(Object.keys(doc.paths)).toEqual(expect.arrayContaining(['/api/customers', '/api/customers/{customer_id}', '/api/health']));
    const ui = await app.inject('/docs/');
    expect(ui.statusCode).toBe(200);
    const html = ui.body;
    expect(html).not.toMatch(/https?:\/\/(?!127|localhost)[^"']*\.(js|css)/);
    const asset = await app.inject('/docs/static/swagger-ui-bundle.js');
    expect(asset.statusCode).toBe(200);
  });
});

describe('mock data file', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'cp-mock-'));
  const write = (name: string, text: string) => {
    const f = path.join(dir, name);
    writeFileSync(f, text);
    return f;
  };

  it('ships at least 50 valid records, with nulls and non-ASCII names', () => {
    expect(fileRecords.length).toBeGreaterThanOrEqual(50);
    expect(fileRecords.every((r) => validateCustomer(r).ok)).toBe(true);
    const text = JSON.stringify(fileRecords);
    expect([...text].some((c) => c.codePointAt(0)! > 0x7f)).toBe(true); // a character past ASCII
    expect(text).toContain('null');
  });

  it('stops with a message naming a missing file', () => {
    expect(() => loadDataFile(path.join(dir, 'missing.json'))).toThrow(/missing\.json.*cannot be read/);
  });

  it('stops with a message naming a file that is not JSON', () => {
    expect(() => loadDataFile(write('bad.json', '[{"customer_id": '))).toThrow(/bad\.json: not valid JSON/);
  });

  it('stops with a message naming the first bad record', () => {
    const good = fileRecords[0];
    const f = write('one-bad.json', JSON.stringify([good, { ...good, customer_id: 'X-2', email: 'nope' }]));
    expect(() => loadDataFile(f)).toThrow(/one-bad\.json: record #1 \(customer_id "X-2"\) is invalid: email: not a valid email/);
  });

  it('stops on a repeated customer_id', () => {
    const f = write('dup.json', JSON.stringify([fileRecords[0], fileRecords[0]]));
    expect(() => loadDataFile(f)).toThrow(/record #1 repeats customer_id/);
  });
});

describe('generated dataset', () => {
  it('is reproducible by seed and valid', () => {
    const a = generatedDataset(1000, 7);
    const b = generatedDataset(1000, 7);
    const text = (d: Dataset, n: number) => Buffer.concat(d.slice(0, n)).toString();
    expect(text(a, 1000)).toEqual(text(b, 1000));
    expect(text(generatedDataset(1000, 8), 5)).not.toEqual(text(a, 5));
    for (const record of JSON.parse(`[${text(a, 1000)}]`)) expect(validateCustomer(record).ok).toBe(true);
  });

  it('looks records up by id without holding them', () => {
    const d = generatedDataset(2_000_000, 3);
    expect(JSON.parse(d.get('GEN-001999999')!.toString())).toEqual(generateRecord(3, 1_999_998));
    expect(d.get('GEN-002000001')).toBeUndefined();
  });
});
