// Filtered, sorted and keyset-paged reads of stored customers (GET
// /api/customers with any of email, q, created_from/to, balance_min/max,
// sort, cursor). The plain page of the seed stays in customers-repository.ts.
//
// Every value is a bind parameter; the only SQL that varies is chosen from
// fixed fragments (the sort column comes from SORT_COLUMNS, never from the
// request). Each filter and sort has its index (migrations/0004_*.sql):
//
// - order: `ORDER BY col <dir>, customer_id <dir>` -- ties broken by
//   customer_id in the same direction, so one (col, customer_id) index read
//   forwards or backwards gives the order. NULLs sort as PostgreSQL's
//   defaults: last ascending, first descending (the index's own order).
// - keyset: the cursor holds the last row's (col, customer_id); the next page
//   is `(col, customer_id) > (k, id)` (`<` descending), an index range. A
//   row comparison never matches NULLs, so nullable columns read the NULL
//   block as a separate segment of the same index (UNION ALL, each segment
//   ordered and limited): ascending, non-NULL keys then the NULLs; descending,
//   the NULLs then the non-NULL keys. Each row is in exactly one segment.
import { createHash } from 'node:crypto';
import type { Pool } from 'pg';
import { isValidDate, isValidTimestamp, type Customer } from '../customer.js';
import { COLUMNS } from './customers-repository.js';

export const SORT_COLUMNS = ['customer_id', 'first_name', 'last_name', 'email', 'created_at', 'account_balance', 'date_of_birth'] as const;
export type SortColumn = (typeof SORT_COLUMNS)[number];
/** The accepted values of `sort`: a column, or `-column` for descending. */
export const SORT_VALUES = SORT_COLUMNS.flatMap((c) => [c, `-${c}`]);

interface ColumnSpec {
  nullable: boolean;
  /** SQL giving the column as text that casts back to the same value exactly. */
  key: string;
  /** The cast that turns a cursor's key text back into the column's type. */
  cast: string;
  /** Whether a key text is one the column can hold, checked before it reaches SQL. */
  keyValid: (key: string) => boolean;
}

const ANY_TEXT = /^[^\u0000]*$/;
const TIMESTAMP_KEY = /^(?:\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6} AD|-?infinity)$/;
const DATE_KEY = /^(?:\d{4}-\d{2}-\d{2} AD|-?infinity)$/;
const NUMERIC_KEY = /^(?:-?\d{1,20}(?:\.\d{1,20})?|NaN)$/;
const isText = (key: string) => ANY_TEXT.test(key);
/**
 * A shape is not enough for dates: `2024-02-30` or hour 25 fit it, and
 * PostgreSQL refuses to cast them ("date/time field value out of range", a
 * 500). Keys must be real dates of the years a stored row has: ingested
 * dates are validated as "YYYY-MM-DD" (years 0001-9999 AD, customer.ts).
 */
const isTimestampKey = (key: string) => TIMESTAMP_KEY.test(key) && (key.endsWith('infinity') || isValidTimestamp(key.slice(0, 19)));
const isDateKey = (key: string) => DATE_KEY.test(key) && (key.endsWith('infinity') || isValidDate(key.slice(0, 10)));
const isNumericKey = (key: string) => NUMERIC_KEY.test(key);

// Keys of timestamps and dates are written with an explicit format (not the
// session's DateStyle), era included; to_char cannot write infinity.
const COLUMN_SPECS: Record<SortColumn, ColumnSpec> = {
  customer_id: { nullable: false, key: 'c.customer_id', cast: 'text', keyValid: isText },
  first_name: { nullable: false, key: 'c.first_name', cast: 'text', keyValid: isText },
  last_name: { nullable: false, key: 'c.last_name', cast: 'text', keyValid: isText },
  email: { nullable: false, key: 'c.email', cast: 'text', keyValid: isText },
  created_at: {
    nullable: true,
    key: `CASE WHEN isfinite(c.created_at) THEN to_char(c.created_at, 'YYYY-MM-DD"T"HH24:MI:SS.US BC') ELSE c.created_at::text END`,
    cast: 'timestamp',
    keyValid: isTimestampKey,
  },
  account_balance: { nullable: true, key: 'c.account_balance::text', cast: 'numeric', keyValid: isNumericKey },
  date_of_birth: {
    nullable: true,
    key: `CASE WHEN isfinite(c.date_of_birth) THEN to_char(c.date_of_birth, 'YYYY-MM-DD BC') ELSE c.date_of_birth::text END`,
    cast: 'date',
    keyValid: isDateKey,
  },
};

/** The query string as validated by the route's schema (shapes, lengths, enums). */
export interface CustomerQueryInput {
  page?: number;
  limit: number;
  email?: string;
  q?: string;
  created_from?: string;
  created_to?: string;
  balance_min?: string;
  balance_max?: string;
  sort?: string;
  cursor?: string;
}

const FILTER_NAMES = ['email', 'q', 'created_from', 'created_to', 'balance_min', 'balance_max'] as const;
export type CustomerFilters = Partial<Record<(typeof FILTER_NAMES)[number], string>>;

export interface CustomerQuery {
  filters: CustomerFilters;
  sort: { column: SortColumn; descending: boolean };
  limit: number;
  /** The page number reported in the answer (1-based; a cursor carries the next one). */
  page: number;
  /** Rows after this one in the order; OFFSET paging when null. */
  after: { key: string | null; id: string } | null;
}

export interface QueryProblem {
  name: string;
  reason: string;
}

/** True when the request asks for more than the seed's plain page. */
export function isCustomerQuery(input: CustomerQueryInput): boolean {
  return input.sort !== undefined || input.cursor !== undefined || FILTER_NAMES.some((f) => input[f] !== undefined);
}

interface CursorPayload {
  v: 1;
  /** sort */
  s: string;
  /** hash of the filters */
  f: string;
  /** page number of the page it leads to */
  p: number;
  /** sort key of the last row (text; null for a NULL) */
  k: string | null;
  /** customer_id of the last row */
  i: string;
}

function filtersHash(filters: CustomerFilters): string {
  const canonical = JSON.stringify(FILTER_NAMES.map((f) => filters[f] ?? null));
  return createHash('sha256').update(canonical).digest('base64url').slice(0, 16);
}

function sortText(sort: CustomerQuery['sort']): string {
  return `${sort.descending ? '-' : ''}${sort.column}`;
}

/** The opaque cursor: base64url of JSON; meaningful only with the same sort and filters. */
export function encodeCursor(query: Pick<CustomerQuery, 'filters' | 'sort'>, page: number, key: string | null, id: string): string {
  const payload: CursorPayload = { v: 1, s: sortText(query.sort), f: filtersHash(query.filters), p: page, k: key, i: id };
  return Buffer.from(JSON.stringify(payload)).toString('base64url');
}

const CURSOR_MISMATCH = 'belongs to another sort or other filters: send it with the sort and filters of the request that returned it';

function decodeCursor(
  text: string,
  query: Pick<CustomerQuery, 'filters' | 'sort'>,
): { page: number; after: NonNullable<CustomerQuery['after']> } | string {
  let payload: Partial<CursorPayload>;
  try {
    payload = JSON.parse(Buffer.from(text, 'base64url').toString('utf8')) as Partial<CursorPayload>;
  } catch {
    return 'is not a cursor of this API';
  }
  const spec = COLUMN_SPECS[query.sort.column];
  const wellFormed =
    typeof payload === 'object' &&
    payload !== null &&
    payload.v === 1 &&
    typeof payload.s === 'string' &&
    typeof payload.f === 'string' &&
    Number.isSafeInteger(payload.p) &&
    (payload.p as number) >= 1 &&
    typeof payload.i === 'string' &&
    ANY_TEXT.test(payload.i) &&
    (payload.k === null || typeof payload.k === 'string');
  if (!wellFormed) return 'is not a cursor of this API';
  if (payload.s !== sortText(query.sort) || payload.f !== filtersHash(query.filters)) return CURSOR_MISMATCH;
  const key = payload.k as string | null;
  if (key === null ? !spec.nullable : !spec.keyValid(key)) return 'is not a cursor of this API';
  return { page: payload.p as number, after: { key, id: payload.i as string } };
}

const startOf = (t: string) => (t.length === 10 ? `${t}T00:00:00` : t);
const endOf = (t: string) => (t.length === 10 ? `${t}T23:59:59` : t);

/**
 * Checks what a schema cannot (real calendar dates, ranges the right way
 * round, a cursor of this sort and these filters) and resolves the query.
 * Every problem is reported, each naming its parameter.
 */
export function resolveCustomerQuery(
  input: CustomerQueryInput,
): { ok: true; query: CustomerQuery } | { ok: false; problems: QueryProblem[] } {
  const problems: QueryProblem[] = [];
  const filters: CustomerFilters = {};
  for (const name of FILTER_NAMES) {
    const value = input[name];
    if (value !== undefined) filters[name] = value;
  }
  for (const name of ['email', 'q'] as const) {
    // PostgreSQL text cannot hold NUL, so no value would match, and the driver would fail.
    if (filters[name]?.includes('\u0000')) problems.push({ name, reason: 'must not contain a NUL character' });
  }
  for (const name of ['created_from', 'created_to'] as const) {
    const v = filters[name];
    if (v !== undefined && !(v.length === 10 ? isValidDate(v) : isValidTimestamp(v))) {
      problems.push({ name, reason: 'must be a real date "YYYY-MM-DD" or timestamp "YYYY-MM-DDTHH:MM:SS"' });
    }
  }
  if (problems.length === 0 && filters.created_from && filters.created_to && startOf(filters.created_from) > endOf(filters.created_to)) {
    problems.push({ name: 'created_to', reason: 'must not be before created_from' });
  }
  // Doubles round monotonically, so min > max as doubles means min > max exactly.
  if (filters.balance_min && filters.balance_max && Number(filters.balance_min) > Number(filters.balance_max)) {
    problems.push({ name: 'balance_max', reason: 'must not be less than balance_min' });
  }

  const sortValue = input.sort ?? 'customer_id';
  const descending = sortValue.startsWith('-');
  const column = (descending ? sortValue.slice(1) : sortValue) as SortColumn;
  if (!COLUMN_SPECS[column]) {
    // The schema's enum already refuses it; this keeps the allow-list the only source of SQL.
    problems.push({ name: 'sort', reason: `must be one of ${SORT_VALUES.join(', ')}` });
    return { ok: false, problems };
  }
  const sort = { column, descending };

  let page = input.page ?? 1;
  let after: CustomerQuery['after'] = null;
  if (input.cursor !== undefined) {
    if (input.page !== undefined) {
      problems.push({ name: 'page', reason: 'cannot be combined with cursor (a cursor carries its own position)' });
    }
    const decoded = decodeCursor(input.cursor, { filters, sort });
    if (typeof decoded === 'string') problems.push({ name: 'cursor', reason: decoded });
    else ({ page, after } = decoded);
  }
  if (problems.length > 0) return { ok: false, problems };
  return { ok: true, query: { filters, sort, limit: input.limit, page, after } };
}

/** Makes `%`, `_` and `\` in user input literal characters of a LIKE pattern. */
export function escapeLike(s: string): string {
  return s.replace(/[\\%_]/g, (m) => `\\${m}`);
}

/**
 * The one statement of a query: the exact total and the page (limit + 1 rows,
 * the extra one telling whether a next page exists), from one snapshot.
 * Exported for the EXPLAIN tests.
 */
export function customerQuerySql(query: CustomerQuery): { text: string; values: unknown[] } {
  const values: unknown[] = [];
  const bind = (v: unknown, cast: string) => {
    values.push(v);
    return `$${values.length}::${cast}`;
  };

  const f = query.filters;
  const where: string[] = [];
  // lower(col) as the indexes have it (migrations/0004): the expressions must match.
  if (f.email !== undefined) where.push(`lower(c.email) = lower(${bind(f.email, 'text')})`);
  if (f.q !== undefined) {
    // A constant pattern once the parameter is bound (unnamed statements are
    // planned with their values), so the planner turns each LIKE into an
    // index range over its text_pattern_ops index: a BitmapOr of the three.
    const p = `lower(${bind(escapeLike(f.q), 'text')}) || '%'`;
    where.push(`(lower(c.first_name) LIKE ${p} OR lower(c.last_name) LIKE ${p} OR lower(c.email) LIKE ${p})`);
  }
  if (f.created_from !== undefined) where.push(`c.created_at >= ${bind(f.created_from, 'timestamp')}`);
  if (f.created_to !== undefined) {
    // A date alone means the whole of that day; a timestamp is inclusive.
    where.push(
      f.created_to.length === 10
        ? `c.created_at < (${bind(f.created_to, 'date')} + 1)::timestamp`
        : `c.created_at <= ${bind(f.created_to, 'timestamp')}`,
    );
  }
  if (f.balance_min !== undefined) where.push(`c.account_balance >= ${bind(f.balance_min, 'numeric')}`);
  if (f.balance_max !== undefined) where.push(`c.account_balance <= ${bind(f.balance_max, 'numeric')}`);
  const filtered = where.length > 0;
  const filter = filtered ? where.join(' AND ') : 'true';

  // Without filters the total is the trigger-kept row count (one row read).
  // With filters it is counted with the same WHERE: exact, and index-driven
  // by the same indexes as the page, so its cost follows the number of
  // matching rows, not the size of the table.
  const total = filtered ? `SELECT count(*) FROM customers c WHERE ${filter}` : 'SELECT n FROM customers_count';

  const { column, descending } = query.sort;
  const spec = COLUMN_SPECS[column];
  const dir = descending ? 'DESC' : 'ASC';
  const orderBy = (alias: string) =>
    column === 'customer_id' ? `${alias}.customer_id ${dir}` : `${alias}.${column} ${dir}, ${alias}.customer_id ${dir}`;
  const beyond = descending ? '<' : '>';

  // The rows after the cursor, as segments in the order (see the top of the file).
  let segments: string[];
  const after = query.after;
  if (after === null) segments = ['true'];
  else if (column === 'customer_id') segments = [`c.customer_id ${beyond} ${bind(after.id, 'text')}`];
  else if (after.key === null) {
    const inNulls = `c.${column} IS NULL AND c.customer_id ${beyond} ${bind(after.id, 'text')}`;
    segments = descending ? [inNulls, `c.${column} IS NOT NULL`] : [inNulls];
  } else {
    const rest = `(c.${column}, c.customer_id) ${beyond} (${bind(after.key, spec.cast)}, ${bind(after.id, 'text')})`;
    segments = !descending && spec.nullable ? [rest, `c.${column} IS NULL`] : [rest];
  }

  const limit = bind(query.limit + 1, 'bigint');
  const select = `SELECT ${COLUMNS}, ${spec.key} AS sort_key`;
  let page: string;
  if (segments.length === 1) {
    // OFFSET paging (`page`) only without a cursor: a cursor's position is its key.
    const offset = bind(after === null ? (query.page - 1) * query.limit : 0, 'bigint');
    page = `${select} FROM customers c WHERE ${filter} AND ${segments[0]} ORDER BY ${orderBy('c')} LIMIT ${limit} OFFSET ${offset}`;
  } else {
    // Each segment reads at most limit + 1 rows of its index; the final sort is of those few.
    const parts = segments.map((s) => `(SELECT * FROM customers c WHERE ${filter} AND ${s} ORDER BY ${orderBy('c')} LIMIT ${limit})`);
    page = `${select} FROM (${parts.join(' UNION ALL ')}) c ORDER BY ${orderBy('c')} LIMIT ${limit}`;
  }
  return { text: `SELECT (${total}) AS total, p.* FROM (SELECT 1) one LEFT JOIN (${page}) p ON true`, values };
}

export interface CustomerQueryResult {
  data: Customer[];
  total: number;
  nextCursor: string | null;
}

/** One query: the page, the exact total of the filtered set, and the cursor of the next page (null on the last). */
export async function queryCustomers(pool: Pool, query: CustomerQuery): Promise<CustomerQueryResult> {
  // Unnamed on purpose: the statement is planned with its values each time,
  // which is what lets the planner use the prefix indexes for `q`.
  const { rows } = await pool.query<Customer & { total: string; sort_key: string | null }>(customerQuerySql(query));
  const total = Number(rows[0]?.total ?? 0);
  if (rows[0]?.customer_id == null) return { data: [], total, nextCursor: null };
  const page = rows.slice(0, query.limit);
  const last = rows[page.length - 1]!;
  const nextCursor = rows.length > query.limit ? encodeCursor(query, query.page + 1, last.sort_key, last.customer_id) : null;
  return { data: page.map(({ total: _t, sort_key: _k, ...c }) => c), total, nextCursor };
}
