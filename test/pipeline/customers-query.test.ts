// Filters, sorts and keyset cursors of GET /api/customers, against a known
// data set with ties and NULLs, checked against a reference written here;
// and the plans: each query shape reads indexes, not the table.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Pool } from 'pg';
import type { Customer } from '../../src/core/customer.js';
import {
  customerQuerySql,
  encodeCursor,
  queryCustomers,
  resolveCustomerQuery,
  SORT_COLUMNS,
  SORT_VALUES,
  type CustomerQuery,
  type CustomerQueryInput,
  type SortColumn,
} from '../../src/core/db/customer-query.js';
import { buildTestPipeline, startMockSource, type MockSource, type TestPipeline } from '../support/apps.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';

const pad = (n: number, w: number) => String(n).padStart(w, '0');
const FIRST = ['Emma', 'Liam', 'Olivia', 'Noah', 'Emmett'];
const LAST = ['Smith', 'Smithers', 'Jones', "O'Brien", 'Garcia', 'Brown'];
const BALANCES = [-50.25, 0, 10.5, 100, 100.01, 2500.75, 99.99];

/** 48 customers: repeated names, dates and balances (ties), NULLs in every nullable sort column. */
function knownRecords(): Customer[] {
  const out: Customer[] = [];
  for (let i = 1; i <= 48; i++) {
    const first = FIRST[i % FIRST.length]!;
    const last = LAST[i % LAST.length]!;
    out.push({
      customer_id: `Q-${pad(i, 3)}`,
      first_name: first,
      last_name: last,
      email: `${first}.${last.replace("'", '')}.${i}@example.com`.toLowerCase(),
      phone: null,
      address: null,
      date_of_birth: i % 5 === 2 ? null : `19${80 + (i % 4)}-02-28`,
      account_balance: i % 6 === 1 ? null : BALANCES[i % BALANCES.length]!,
      created_at: i % 7 === 0 ? null : `2024-01-${pad(1 + (i % 9), 2)}T10:00:00`,
    });
  }
  const set = (id: number, patch: Partial<Customer>) => Object.assign(out[id - 1]!, patch);
  set(3, { email: 'Mixed.Case@Example.COM' });
  // LIKE's metacharacters in stored data: only an escaped pattern tells these apart.
  set(8, { email: 'under_score@example.com' });
  set(9, { email: 'underxscore@example.com' });
  set(10, { email: '100%real@example.com' });
  set(11, { email: '100xreal@example.com', created_at: '2024-01-05T23:59:59' });
  set(12, { created_at: '2024-01-06T00:00:00' });
  return out;
}

const RECORDS = knownRecords();
const TEXT_COLUMNS = new Set<SortColumn>(['customer_id', 'first_name', 'last_name', 'email']);
const NULLABLE = new Set<SortColumn>(SORT_COLUMNS.filter((c) => !TEXT_COLUMNS.has(c)));

// ---- the reference ----------------------------------------------------------

type Filters = Partial<Record<'email' | 'q' | 'created_from' | 'created_to' | 'balance_min' | 'balance_max', string>>;

function matches(r: Customer, f: Filters): boolean {
  if (f.email !== undefined && r.email.toLowerCase() !== f.email.toLowerCase()) return false;
  if (f.q !== undefined) {
    const q = f.q.toLowerCase();
    if (![r.first_name, r.last_name, r.email].some((v) => v.toLowerCase().startsWith(q))) return false;
  }
  if (
    f.created_from !== undefined &&
    (r.created_at === null || r.created_at < (f.created_from.length === 10 ? `${f.created_from}T00:00:00` : f.created_from))
  )
    return false;
  if (
    f.created_to !== undefined &&
    (r.created_at === null || r.created_at > (f.created_to.length === 10 ? `${f.created_to}T23:59:59` : f.created_to))
  )
    return false;
  if (f.balance_min !== undefined && (r.account_balance === null || r.account_balance < Number(f.balance_min))) return false;
  if (f.balance_max !== undefined && (r.account_balance === null || r.account_balance > Number(f.balance_max))) return false;
  return true;
}

/** The order of distinct strings under the database's collation (the only thing asked of PostgreSQL). */
async function collationRanks(pool: Pool, values: Iterable<string>): Promise<Map<string, number>> {
  const { rows } = await pool.query<{ v: string }>('SELECT v FROM unnest($1::text[]) AS v GROUP BY v ORDER BY v', [[...new Set(values)]]);
  return new Map(rows.map((r, i) => [r.v, i]));
}

/** Ascending: NULLs last, ties by customer_id; descending is the exact reverse. */
function comparator(column: SortColumn, ranks: Map<string, number>) {
  const rank = (s: string) => {
    const n = ranks.get(s);
    if (n === undefined) throw new Error(`no collation rank for ${s}`);
    return n;
  };
  return (a: Customer, b: Customer): number => {
    const x = a[column];
    const y = b[column];
    if (x === null || y === null) {
      if (x !== y) return x === null ? 1 : -1;
    } else if (x !== y) {
      if (typeof x === 'number' && typeof y === 'number') return x - y;
      if (TEXT_COLUMNS.has(column)) return rank(x as string) - rank(y as string);
      return x < y ? -1 : 1; // dates and timestamps in fixed-width ISO form
    }
    return rank(a.customer_id) - rank(b.customer_id);
  };
}

function expectedIds(records: Customer[], ranks: Map<string, number>, sort = 'customer_id', filters: Filters = {}): string[] {
  const descending = sort.startsWith('-');
  const sorted = records.filter((r) => matches(r, filters)).sort(comparator(sort.replace(/^-/, '') as SortColumn, ranks));
  return (descending ? sorted.reverse() : sorted).map((r) => r.customer_id);
}

const allStrings = (records: Customer[]) => records.flatMap((r) => [r.customer_id, r.first_name, r.last_name, r.email]);

// ---- the API ----------------------------------------------------------------

describe('GET /api/customers with filters, sort and cursor', () => {
  let source: MockSource;
  let pipeline: TestPipeline;
  let ranks: Map<string, number>;

  beforeAll(async () => {
    source = await startMockSource([...RECORDS].reverse());
    pipeline = await buildTestPipeline(source.url);
    const res = await pipeline.app.inject({ method: 'POST', url: '/api/ingest' });
    expect(res.json()).toMatchObject({ inserted: RECORDS.length, rejected: 0 });
    ranks = await collationRanks(pipeline.db.pool, allStrings(RECORDS));
  });
  afterAll(async () => {
    await pipeline.close();
    await source.close();
  });

  const get = async (params: Record<string, string | number>) => {
    const qs = new URLSearchParams(Object.entries(params).map(([k, v]) => [k, String(v)] as [string, string]));
    return pipeline.app.inject(`/api/customers?${qs.toString()}`);
  };
  const ok = async (params: Record<string, string | number>) => {
    const res = await get(params);
    expect(res.statusCode, res.body).toBe(200);
    return res.json() as { data: Customer[]; total: number; page: number; limit: number; next_cursor?: string | null };
  };
  const ids = (body: { data: Customer[] }) => body.data.map((c) => c.customer_id);

  /** Follows next_cursor to the end; `between` runs after each page. */
  const walk = async (params: Record<string, string | number>, between?: () => Promise<void>) => {
    const seen: string[] = [];
    const pages: number[] = [];
    let cursor: string | null | undefined;
    for (let n = 0; n < 500; n++) {
      const body = await ok({ ...params, ...(cursor ? { cursor } : {}) });
      seen.push(...ids(body));
      pages.push(body.page);
      expect(body.data.length).toBeLessThanOrEqual(Number(params.limit));
      cursor = body.next_cursor;
      if (cursor === null) return { seen, pages, last: body };
      expect(body.data.length).toBe(Number(params.limit));
      if (between) await between();
    }
    throw new Error('cursor walk did not end');
  };

  describe('filters', () => {
    const cases: [string, Filters][] = [
      ['email, exact and case-insensitive', { email: 'MIXED.case@example.com' }],
      ['email of a lower-case address given in upper case', { email: 'EMMA.BROWN.5@EXAMPLE.COM' }],
      ['email that is only a prefix of an address', { email: 'under_score@example' }],
      ['q over first names (a shared prefix)', { q: 'emm' }],
      ['q, case-insensitive, over last names', { q: 'SMITH' }],
      ['q with an apostrophe', { q: "o'b" }],
      ['q over emails', { q: 'mixed.c' }],
      ['q with _ as a literal character', { q: 'under_' }],
      ['q with % as a literal character', { q: '100%' }],
      ['q that is only %', { q: '%' }],
      ['q that is only _', { q: '_' }],
      ['q matching nothing', { q: 'zzz' }],
      ['created_from as a date (from midnight, inclusive)', { created_from: '2024-01-06' }],
      ['created_to as a date (the whole day)', { created_to: '2024-01-05' }],
      ['created_to as a timestamp (inclusive)', { created_to: '2024-01-05T23:59:59' }],
      ['created_to one second earlier', { created_to: '2024-01-05T23:59:58' }],
      ['created range', { created_from: '2024-01-03T10:00:00', created_to: '2024-01-06' }],
      ['balance_min (inclusive)', { balance_min: '100' }],
      ['balance_max (inclusive)', { balance_max: '0' }],
      ['balance range with cents', { balance_min: '-50.25', balance_max: '99.99' }],
      ['balance range of one value', { balance_min: '100.01', balance_max: '100.01' }],
      ['every filter at once', { q: 'emma', created_from: '2024-01-02', created_to: '2024-01-09', balance_min: '0', balance_max: '3000' }],
    ];
    it.each(cases)('%s', async (_title, filters) => {
      const want = expectedIds(RECORDS, ranks, 'customer_id', filters);
      const body = await ok({ ...filters, limit: 1000 });
      expect(ids(body)).toEqual(want);
      expect(body.total).toBe(want.length);
      expect(body.next_cursor).toBeNull();
      expect(body.page).toBe(1);
    });

    it('finds something for most of the cases above (the data set is not trivially empty)', () => {
      const nonEmpty = cases.filter(([, f]) => expectedIds(RECORDS, ranks, 'customer_id', f).length > 0);
      expect(nonEmpty.length).toBeGreaterThanOrEqual(16);
      expect(expectedIds(RECORDS, ranks, 'customer_id', { q: 'under_' })).toEqual(['Q-008']);
      expect(expectedIds(RECORDS, ranks, 'customer_id', { q: '100%' })).toEqual(['Q-010']);
    });

    it('counts the filtered total exactly, however the rows are paged', async () => {
      const filters = { q: 'smith' };
      const want = expectedIds(RECORDS, ranks, 'customer_id', filters);
      for (const page of [1, 2, 3, 50]) {
        const body = await ok({ ...filters, limit: 4, page });
        expect(body.total).toBe(want.length);
        expect(ids(body)).toEqual(want.slice((page - 1) * 4, page * 4));
      }
    });
  });

  describe('sort', () => {
    it.each(SORT_VALUES)('sort=%s orders every row, ties by customer_id in the same direction', async (sort) => {
      const want = expectedIds(RECORDS, ranks, sort);
      const body = await ok({ sort, limit: 1000 });
      expect(ids(body)).toEqual(want);
      expect(body.total).toBe(RECORDS.length);
      // OFFSET pages of the same order.
      expect(ids(await ok({ sort, limit: 7, page: 3 }))).toEqual(want.slice(14, 21));
    });

    it('puts NULLs last ascending and first descending', async () => {
      for (const column of ['created_at', 'account_balance', 'date_of_birth'] as const) {
        const nulls = RECORDS.filter((r) => r[column] === null).length;
        expect(nulls).toBeGreaterThan(3);
        const asc = (await ok({ sort: column, limit: 1000 })).data.map((c) => c[column]);
        const desc = (await ok({ sort: `-${column}`, limit: 1000 })).data.map((c) => c[column]);
        expect(asc.slice(-nulls).every((v) => v === null) && asc.slice(0, -nulls).every((v) => v !== null)).toBe(true);
        expect(desc.slice(0, nulls).every((v) => v === null) && desc.slice(nulls).every((v) => v !== null)).toBe(true);
      }
    });

    it('breaks ties by customer_id: ascending with the column ascending, descending with it descending', async () => {
      const asc = ids(await ok({ sort: 'first_name', limit: 1000 }));
      const emmas = RECORDS.filter((r) => r.first_name === 'Emma')
        .map((r) => r.customer_id)
        .sort();
      expect(asc.filter((id) => emmas.includes(id))).toEqual(emmas);
      const desc = ids(await ok({ sort: '-first_name', limit: 1000 }));
      expect(desc.filter((id) => emmas.includes(id))).toEqual([...emmas].reverse());
    });

    it('sorts the filtered rows', async () => {
      const filters = { balance_min: '0', q: 'o' };
      for (const sort of ['-created_at', 'account_balance', '-date_of_birth']) {
        expect(ids(await ok({ ...filters, sort, limit: 1000 }))).toEqual(expectedIds(RECORDS, ranks, sort, filters));
      }
    });
  });

  describe('cursor', () => {
    it.each(SORT_VALUES)('sort=%s: following next_cursor visits every row once, in order, at every page size', async (sort) => {
      const want = expectedIds(RECORDS, ranks, sort);
      for (const limit of [1, 2, 3, 5, 7, 47, 48, 49]) {
        const { seen, pages, last } = await walk({ sort, limit });
        expect(seen, `limit ${limit}`).toEqual(want);
        expect(pages).toEqual(pages.map((_, i) => i + 1));
        expect(last.total).toBe(RECORDS.length);
      }
    });

    it.each([
      ['-created_at', { balance_min: '0' }],
      ['account_balance', { q: 'e' }],
      ['date_of_birth', { created_to: '2024-01-06' }],
      ['-last_name', { q: 'smith' }],
      ['customer_id', { created_from: '2024-01-03' }],
    ] as const)('sort=%s with filters %o: the walk is exactly the filtered order', async (sort, filters) => {
      const want = expectedIds(RECORDS, ranks, sort, filters);
      expect(want.length).toBeGreaterThan(5);
      for (const limit of [1, 3, 4]) {
        const { seen, last } = await walk({ ...filters, sort, limit });
        expect(seen).toEqual(want);
        expect(last.total).toBe(want.length);
      }
    });

    it('starts from any OFFSET page: the cursor of page 3 leads to page 4', async () => {
      const want = expectedIds(RECORDS, ranks, '-account_balance');
      const third = await ok({ sort: '-account_balance', limit: 5, page: 3 });
      const fourth = await ok({ sort: '-account_balance', limit: 5, cursor: third.next_cursor! });
      expect(fourth.page).toBe(4);
      expect(ids(fourth)).toEqual(want.slice(15, 20));
    });

    it('gives next_cursor null on the last page, and the seed page stays as it was', async () => {
      expect((await ok({ sort: 'email', limit: 48 })).next_cursor).toBeNull();
      expect((await ok({ sort: 'email', limit: 47 })).next_cursor).toEqual(expect.any(String));
      const seed = await ok({ page: 1, limit: 5 });
      expect(Object.keys(seed).sort()).toEqual(['data', 'limit', 'page', 'total']);
      const sorted = await ok({ sort: 'customer_id', limit: 5 });
      expect(sorted.data).toEqual(seed.data);
      expect(ids(await ok({ sort: 'customer_id', limit: 5, cursor: sorted.next_cursor! }))).toEqual(ids(await ok({ page: 2, limit: 5 })));
    });

    it.each(['created_at', '-created_at', 'account_balance', '-account_balance', '-date_of_birth', 'first_name', '-customer_id'])(
      'sort=%s: rows present throughout are visited exactly once while rows are inserted between pages',
      async (sort) => {
        const column = sort.replace(/^-/, '') as SortColumn;
        const inserted: Customer[] = [];
        let n = 0;
        // New rows land before, at and after the cursor: tied values, NULLs, ids between existing ones.
        const insertSome = async () => {
          for (let k = 0; k < 3; k++) {
            n++;
            const like = RECORDS[(n * 7) % RECORDS.length]!;
            const rec: Customer = {
              ...like,
              customer_id: `Q-${pad((n * 13) % 50, 3)}-new-${n}`,
              email: `new.${n}@example.com`,
              created_at: n % 4 === 0 ? null : like.created_at,
              account_balance: n % 5 === 0 ? null : like.account_balance,
              date_of_birth: n % 3 === 0 ? null : like.date_of_birth,
            };
            inserted.push(rec);
            await pipeline.db.pool.query(
              `INSERT INTO customers (customer_id, first_name, last_name, email, date_of_birth, account_balance, created_at)
               VALUES ($1, $2, $3, $4, $5, $6, $7)`,
              [rec.customer_id, rec.first_name, rec.last_name, rec.email, rec.date_of_birth, rec.account_balance, rec.created_at],
            );
          }
        };
        try {
          const { seen } = await walk({ sort, limit: 4 }, insertSome);
          expect(inserted.length).toBeGreaterThan(20);
          expect(new Set(seen).size).toBe(seen.length);
          const original = new Set(RECORDS.map((r) => r.customer_id));
          expect(seen.filter((id) => original.has(id)).sort()).toEqual([...original].sort());
          // And what was seen is in the order, new rows included.
          const all = [...RECORDS, ...inserted];
          const byId = new Map(all.map((r) => [r.customer_id, r]));
          const r2 = await collationRanks(pipeline.db.pool, allStrings(all));
          const cmp = comparator(column, r2);
          for (let i = 1; i < seen.length; i++) {
            const c = cmp(byId.get(seen[i - 1]!)!, byId.get(seen[i]!)!);
            expect(sort.startsWith('-') ? c > 0 : c < 0, `${seen[i - 1]} before ${seen[i]}`).toBe(true);
          }
        } finally {
          await pipeline.db.pool.query('DELETE FROM customers WHERE customer_id = ANY($1::text[])', [inserted.map((r) => r.customer_id)]);
        }
      },
    );
  });

  describe('bad parameters', () => {
    const sortCursor = async (params: Record<string, string>) => (await ok({ ...params, limit: 2 })).next_cursor!;

    it.each(
      [
        [{ email: '' }, 'email'],
        [{ q: '' }, 'q'],
        [{ q: 'a'.repeat(256) }, 'q'],
        [{ q: 'nul\u0000' }, 'q'],
        [{ email: 'a\u0000@example.com' }, 'email'],
        [{ created_from: 'yesterday' }, 'created_from'],
        [{ created_from: '2024-13-01' }, 'created_from'],
        [{ created_from: '2024-01-01 10:00:00' }, 'created_from'],
        [{ created_to: '2024-02-30' }, 'created_to'],
        [{ created_to: '2024-01-01T24:00:00' }, 'created_to'],
        [{ created_from: '0000-01-01' }, 'created_from'],
        [{ created_from: '2023-02-29' }, 'created_from'],
        [{ created_from: '2024-01-01T23:60:00' }, 'created_from'],
        [{ created_to: '2024-01-01T23:59:60' }, 'created_to'],
        [{ created_from: '300000-01-01' }, 'created_from'],
        [{ created_from: '-0001-01-01' }, 'created_from'],
        [{ created_to: '2024-01-01 BC' }, 'created_to'],
        [{ created_from: '2024-01-02', created_to: '2024-01-01' }, 'created_to'],
        [{ balance_min: 'abc' }, 'balance_min'],
        [{ balance_min: '1e5' }, 'balance_min'],
        [{ balance_max: '' }, 'balance_max'],
        [{ balance_max: 'NaN' }, 'balance_max'],
        [{ balance_min: '10', balance_max: '9.99' }, 'balance_max'],
        [{ sort: 'phone' }, 'sort'],
        [{ sort: '+email' }, 'sort'],
        [{ sort: '--email' }, 'sort'],
        [{ cursor: 'not a cursor!' }, 'cursor'],
        [{ cursor: 'abc' }, 'cursor'],
        [{ cursor: Buffer.from('{"v":2}').toString('base64url') }, 'cursor'],
      ].map(([params, name]) => [JSON.stringify(params), params, name]) as [string, Record<string, string>, string][],
    )('%s → 400 naming %s', async (_title, params, name) => {
      const res = await get(params);
      expect(res.statusCode, res.body).toBe(400);
      expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
      const body = res.json();
      expect(body.invalid_params.map((p: { name: string }) => p.name)).toContain(name);
      expect(body.invalid_params[0]).toMatchObject({ in: 'query' });
    });

    it('refuses a cursor sent with another sort, other filters, or without its filters, naming cursor', async () => {
      const cursor = await sortCursor({ sort: 'first_name', q: 'emma' });
      const others: Record<string, string>[] = [
        { sort: 'last_name', q: 'emma' },
        { sort: '-first_name', q: 'emma' },
        { sort: 'first_name', q: 'emmet' },
        { sort: 'first_name' },
        { q: 'emma' },
      ];
      for (const params of others) {
        const res = await get({ ...params, cursor });
        expect(res.statusCode).toBe(400);
        expect(res.json().invalid_params).toEqual([
          expect.objectContaining({ name: 'cursor', reason: expect.stringMatching(/another sort or other filters/) }),
        ]);
      }
      expect((await get({ sort: 'first_name', q: 'emma', cursor })).statusCode).toBe(200);
    });

    it('refuses page together with cursor, naming page', async () => {
      const cursor = await sortCursor({ sort: 'email' });
      const res = await get({ sort: 'email', cursor, page: 1 });
      expect(res.statusCode).toBe(400);
      expect(res.json().invalid_params).toEqual([expect.objectContaining({ name: 'page' })]);
    });

    it('refuses a cursor whose key does not fit its sort column (a forged cursor)', async () => {
      const query = (sort: string): Pick<CustomerQuery, 'filters' | 'sort'> => ({
        filters: {},
        sort: { column: sort.replace(/^-/, '') as SortColumn, descending: sort.startsWith('-') },
      });
      for (const [sort, key] of [
        ['created_at', "2024-01-01'; DROP TABLE customers; --"],
        ['created_at', '2024-01-01'],
        ['account_balance', '1e5'],
        ['date_of_birth', 'yesterday'],
        ['first_name', null],
        ['email', 'x\u0000'],
      ] as const) {
        const res = await get({ sort, cursor: encodeCursor(query(sort), 2, key, 'Q-001') });
        expect(res.statusCode, `${sort} ${key}`).toBe(400);
        expect(res.json().invalid_params[0].name).toBe('cursor');
      }
    });
  });

  describe('forged cursors', () => {
    const query = (sort: string): Pick<CustomerQuery, 'filters' | 'sort'> => ({
      filters: {},
      sort: { column: sort.replace(/^-/, '') as SortColumn, descending: sort.startsWith('-') },
    });
    const raw = (payload: unknown) => Buffer.from(JSON.stringify(payload)).toString('base64url');
    const expectCursorProblem = async (params: Record<string, string>, label: string) => {
      const res = await get(params);
      expect(res.statusCode, `${label}: ${res.body}`).toBe(400);
      expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect(res.json().invalid_params).toEqual([expect.objectContaining({ name: 'cursor', in: 'query' })]);
      expect(res.body).not.toMatch(/out of range|\n\s+at /);
    };

    // Keys in the very format the cursor writes them, holding what no stored row can have:
    // PostgreSQL would refuse to cast them ("date/time field value out of range").
    const IMPOSSIBLE_TIMESTAMPS = [
      '2024-02-30T00:00:00.000000 AD',
      '2023-02-29T00:00:00.000000 AD',
      '2024-13-01T00:00:00.000000 AD',
      '2024-00-10T00:00:00.000000 AD',
      '2024-01-00T00:00:00.000000 AD',
      '2024-01-01T25:00:00.000000 AD',
      '2024-01-01T24:00:00.000000 AD',
      '2024-01-01T23:60:00.000000 AD',
      '2024-01-01T23:59:60.000000 AD',
      '0000-01-01T00:00:00.000000 AD',
      '300000-01-01T00:00:00.000000 AD',
      '0044-03-15T00:00:00.000000 BC',
      '-0001-01-01T00:00:00.000000 AD',
    ];
    const IMPOSSIBLE_DATES = [
      '2024-02-30 AD',
      '1900-02-29 AD',
      '2024-04-31 AD',
      '2024-13-01 AD',
      '0000-01-01 AD',
      '300000-01-01 AD',
      '99999999-01-01 AD',
      '0044-03-15 BC',
      '4714-11-24 BC',
      '-0001-01-01 AD',
      '2024-01-01T25:00:00.000000 AD',
    ];

    it.each(['created_at', '-created_at'])('sort=%s: a cursor holding an impossible timestamp → 400 naming cursor', async (sort) => {
      for (const key of IMPOSSIBLE_TIMESTAMPS) await expectCursorProblem({ sort, cursor: encodeCursor(query(sort), 2, key, 'Q-001') }, key);
    });

    it.each(['date_of_birth', '-date_of_birth'])('sort=%s: a cursor holding an impossible date → 400 naming cursor', async (sort) => {
      for (const key of IMPOSSIBLE_DATES) await expectCursorProblem({ sort, cursor: encodeCursor(query(sort), 2, key, 'Q-001') }, key);
    });

    it('still follows a cursor holding the earliest, latest and leap-day keys a row can have', async () => {
      for (const [sort, key] of [
        ['created_at', '0001-01-01T00:00:00.000000 AD'],
        ['created_at', '9999-12-31T23:59:59.999999 AD'],
        ['-created_at', '2024-02-29T12:00:00.000000 AD'],
        ['date_of_birth', '2000-02-29 AD'],
        ['-date_of_birth', '9999-12-31 AD'],
      ] as const) {
        const res = await get({ sort, cursor: encodeCursor(query(sort), 2, key, 'Q-001') });
        expect(res.statusCode, `${sort} ${key}: ${res.body}`).toBe(200);
      }
    });

    it('a cursor of the wrong shape or types → 400 naming cursor', async () => {
      const good = {
        v: 1,
        s: 'created_at',
        f: JSON.parse(Buffer.from(encodeCursor(query('created_at'), 2, null, 'x'), 'base64url').toString()).f,
        p: 2,
        k: null,
        i: 'Q-001',
      };
      const forged: [string, unknown][] = [
        ['p as text', { ...good, p: '2' }],
        ['p zero', { ...good, p: 0 }],
        ['p fractional', { ...good, p: 1.5 }],
        ['p past safe integers', { ...good, p: 2 ** 60 }],
        ['k a number', { ...good, k: 20240101 }],
        ['k an object', { ...good, k: { toString: '2024-01-01' } }],
        ['i a number', { ...good, i: 1 }],
        ['i missing', { ...good, i: undefined }],
        ['v as text', { ...good, v: '1' }],
        ['an array', [good]],
        ['null', null],
        ['a number', 42],
        ['a string', 'cursor'],
      ];
      for (const [label, payload] of forged) await expectCursorProblem({ sort: 'created_at', cursor: raw(payload) }, label);
      // The untouched payload is a cursor.
      expect((await get({ sort: 'created_at', cursor: raw(good) })).statusCode).toBe(200);
    });

    it('a cursor of another sort, or garbage of any length → 400 naming cursor', async () => {
      const ofEmail = await (async () => (await ok({ sort: 'email', limit: 2 })).next_cursor!)();
      await expectCursorProblem({ sort: 'created_at', cursor: ofEmail }, 'another sort');
      await expectCursorProblem(
        { sort: 'date_of_birth', cursor: encodeCursor(query('created_at'), 2, '2024-01-01T00:00:00.000000 AD', 'Q-1') },
        'a timestamp key for a date sort',
      );
      await expectCursorProblem({ sort: 'created_at', cursor: 'A'.repeat(2048) }, '2 KB of garbage');
      await expectCursorProblem({ sort: 'created_at', cursor: 'x'.repeat(10_240) }, '10 KB of garbage');
      await expectCursorProblem(
        { sort: 'created_at', cursor: Buffer.from('\u0000\xff{'.repeat(100), 'latin1').toString('base64url') },
        'binary',
      );
    });
  });

  describe('SQL-injection-shaped values', () => {
    const SHAPES = [
      "x' OR '1'='1",
      "'; DROP TABLE customers; --",
      '1) OR (1=1',
      "\\'",
      "%' --",
      '1; SELECT pg_sleep(5)',
      '$1',
      "' UNION SELECT * FROM customers --",
    ];

    it.each(SHAPES)('%s as email and as q is data: the reference answer, never a 500', async (value) => {
      for (const name of ['email', 'q'] as const) {
        const body = await ok({ [name]: value, limit: 1000 });
        expect(ids(body)).toEqual(expectedIds(RECORDS, ranks, 'customer_id', { [name]: value }));
        expect(body.total).toBe(body.data.length);
      }
      // An apostrophe prefix really is searched for.
      expect(ids(await ok({ q: "O'Brien" }))).toEqual(expectedIds(RECORDS, ranks, 'customer_id', { q: "O'Brien" }).slice(0, 10));
    });

    it.each(SHAPES)('%s in every other parameter is refused with a 400 naming it', async (value) => {
      for (const name of ['created_from', 'created_to', 'balance_min', 'balance_max', 'sort', 'cursor', 'page', 'limit']) {
        const res = await get({ [name]: value });
        expect(res.statusCode, `${name}=${value}`).toBe(400);
        expect(res.json().invalid_params[0].name).toBe(name);
      }
    });

    it('takes injection-shaped text inside a cursor as a sort key, compared as data', async () => {
      const key = "Emma' OR '1'='1";
      const id = "Q-001'; DROP TABLE customers; --";
      const cursor = encodeCursor({ filters: {}, sort: { column: 'first_name', descending: false } }, 2, key, id);
      const body = await ok({ sort: 'first_name', limit: 1000, cursor });
      const r = await collationRanks(pipeline.db.pool, [...allStrings(RECORDS), key, id]);
      const marker = { ...RECORDS[0]!, first_name: key, customer_id: id };
      const cmp = comparator('first_name', r);
      const want = [...RECORDS]
        .sort(cmp)
        .filter((rec) => cmp(rec, marker) > 0)
        .map((rec) => rec.customer_id);
      expect(ids(body)).toEqual(want);
      expect(want.length).toBeGreaterThan(0);
      expect(want.length).toBeLessThan(RECORDS.length);
    });

    it('leaves the table as it was', async () => {
      const { rows } = await pipeline.db.pool.query('SELECT count(*)::int AS n FROM customers');
      expect(rows[0].n).toBe(RECORDS.length);
      expect((await ok({})).total).toBe(RECORDS.length);
    });
  });

  it('documents every parameter in the OpenAPI document, with examples in its description', async () => {
    const doc = (await pipeline.app.inject('/openapi.json')).json();
    const params = doc.paths['/api/customers'].get.parameters as {
      name: string;
      description?: string;
      example?: unknown;
      examples?: object;
    }[];
    const names = ['page', 'limit', 'email', 'q', 'created_from', 'created_to', 'balance_min', 'balance_max', 'sort', 'cursor'];
    expect(params.map((p) => p.name).sort()).toEqual([...names].sort());
    for (const p of params) {
      // Not as `example`: Swagger UI would fill them all in at once (test/http/docs-try-it-out.test.ts).
      expect(p.description, p.name).toMatch(/Examples?: `/);
      expect(p.example ?? p.examples, p.name).toBeUndefined();
    }
  });
});

// ---- the plans ------------------------------------------------------------

interface PlanNode {
  'Node Type': string;
  'Relation Name'?: string;
  'Index Name'?: string;
  Plans?: PlanNode[];
}

describe('GET /api/customers query plans', () => {
  const N = 25_000;
  let db: TestDatabase;

  beforeAll(async () => {
    db = await createTestDatabase();
    await db.pool.query(
      `INSERT INTO customers (customer_id, first_name, last_name, email, date_of_birth, account_balance, created_at)
       SELECT 'C-' || lpad(g::text, 7, '0'),
              (ARRAY['Amélie','José','Zoë','Liam','Olivia','Noah','Emma','Mateo'])[1 + g % 8] || substr(md5(g::text), 1, 4),
              (ARRAY['Dupont','García','Müller','Smith','Rossi'])[1 + g % 5] || substr(md5(g::text), 5, 4),
              'u' || g || '.' || substr(md5(g::text), 9, 6) || '@example.com',
              CASE WHEN g % 10 = 0 THEN NULL ELSE date '1950-01-01' + (g % 20000) END,
              CASE WHEN g % 10 = 1 THEN NULL ELSE ((g * 7919) % 2000000 - 100000) / 100.0 END,
              CASE WHEN g % 10 = 2 THEN NULL ELSE timestamp '2015-01-01' + (g * 7907 % 300000000) * interval '1 second' END
       FROM generate_series(1, $1::int) g`,
      [N],
    );
    await db.pool.query('ANALYZE customers; ANALYZE customers_count');
  });
  afterAll(() => db.drop());

  const resolve = (input: Omit<CustomerQueryInput, 'limit'>): CustomerQuery => {
    const r = resolveCustomerQuery({ limit: 20, ...input });
    if (!r.ok) throw new Error(JSON.stringify(r.problems));
    return r.query;
  };

  /** The scans of `customers` in the plan the statement would run with (values bound, as the API sends them). */
  const scans = async (query: CustomerQuery) => {
    const { text, values } = customerQuerySql(query);
    const { rows } = await db.pool.query(`EXPLAIN (FORMAT JSON) ${text}`, values);
    const plan = rows[0]['QUERY PLAN'][0].Plan as PlanNode;
    const found: { type: string; index?: string }[] = [];
    const nodeTypes: string[] = [];
    const walkPlan = (node: PlanNode) => {
      nodeTypes.push(node['Node Type']);
      if (node['Relation Name'] === 'customers' || node['Index Name']?.startsWith('customers')) {
        found.push({ type: node['Node Type'], index: node['Index Name'] });
      }
      for (const child of node.Plans ?? []) walkPlan(child);
    };
    walkPlan(plan);
    return { found, nodeTypes, indexes: new Set(found.map((s) => s.index).filter(Boolean)) };
  };

  const expectIndexDriven = (found: { type: string }[]) => {
    expect(found.length).toBeGreaterThan(0);
    for (const s of found) expect(s.type).toMatch(/^(Index Scan|Index Only Scan|Bitmap Index Scan|Bitmap Heap Scan)$/);
  };

  it('answers q with a BitmapOr of the three prefix indexes (page and total)', async () => {
    const { found, nodeTypes, indexes } = await scans(resolve({ q: 'emma1' }));
    expectIndexDriven(found);
    expect(nodeTypes).toContain('BitmapOr');
    for (const i of ['customers_first_name_lower_prefix', 'customers_last_name_lower_prefix', 'customers_email_lower_prefix']) {
      expect(indexes).toContain(i);
    }
  });

  it.each([
    ['email', { email: 'U123.202CB9@Example.com' }, 'customers_email_lower_prefix'],
    ['a created_at range', { created_from: '2020-01-01', created_to: '2020-01-03' }, 'customers_created_at_id'],
    ['a balance range', { balance_min: '100', balance_max: '150.50' }, 'customers_account_balance_id'],
    ['q with a sort', { q: 'müller1', sort: '-created_at' }, 'customers_last_name_lower_prefix'],
    [
      'a created_at range sorted by balance',
      { created_from: '2020-01-01', created_to: '2020-01-03', sort: 'account_balance' },
      'customers_created_at_id',
    ],
  ] as const)('answers %s from its index', async (_title, input, index) => {
    const { found, indexes } = await scans(resolve(input));
    expectIndexDriven(found);
    expect(indexes).toContain(index);
  });

  const sortIndex = (column: SortColumn) => (column === 'customer_id' ? 'customers_pkey' : `customers_${column}_id`);

  it.each(SORT_VALUES)('sort=%s reads its (column, customer_id) index on the first page and after a cursor', async (sort) => {
    const column = sort.replace(/^-/, '') as SortColumn;
    const first = resolve({ sort });
    const firstPlan = await scans(first);
    expectIndexDriven(firstPlan.found);
    expect(firstPlan.indexes).toContain(sortIndex(column));

    // A cursor from the middle of the order (a non-NULL key) ...
    const middle = await queryCustomers(db.pool, { ...first, limit: 5000, page: 1 });
    const next = resolve({ sort, cursor: middle.nextCursor! });
    expect(next.after).not.toBeNull();
    const nextPlan = await scans(next);
    expectIndexDriven(nextPlan.found);
    expect(nextPlan.indexes).toContain(sortIndex(column));

    // ... and, for a nullable column, one inside the NULL block.
    if (NULLABLE.has(column)) {
      const inNulls = resolve({ sort, cursor: encodeCursor(first, 2, null, 'C-0012000') });
      const nullsPlan = await scans(inNulls);
      expectIndexDriven(nullsPlan.found);
    }
  });
});
