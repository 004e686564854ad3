// The customer record: its limits, its JSON Schema (API docs and serialization),
// its TypeScript type, and the validator that decides whether a source record
// can be loaded. Everything that knows a field's shape reads it from here.
import { Type, type Static } from 'typebox';

export const LIMITS = {
  customer_id: 50,
  first_name: 100,
  last_name: 100,
  email: 255,
  phone: 20,
  /** numeric(15,2): at most 13 digits before the point. */
  balanceAbsBelow: 1e13,
} as const;

export const FIELDS = [
  'customer_id',
  'first_name',
  'last_name',
  'email',
  'phone',
  'address',
  'date_of_birth',
  'account_balance',
  'created_at',
] as const;
export type Field = (typeof FIELDS)[number];

const DATE_PATTERN = '^\\d{4}-\\d{2}-\\d{2}$';
const TIMESTAMP_PATTERN = '^\\d{4}-\\d{2}-\\d{2}T\\d{2}:\\d{2}:\\d{2}$';

export const CustomerSchema = Type.Object(
  {
    customer_id: Type.String({ minLength: 1, maxLength: LIMITS.customer_id, examples: ['CUST-0001'] }),
    first_name: Type.String({ minLength: 1, maxLength: LIMITS.first_name, examples: ['Amélie'] }),
    last_name: Type.String({ minLength: 1, maxLength: LIMITS.last_name, examples: ['Dupont'] }),
    email: Type.String({ maxLength: LIMITS.email, format: 'email', examples: ['amelie.dupont@example.com'] }),
    phone: Type.Union([Type.String({ maxLength: LIMITS.phone }), Type.Null()], { examples: ['+33 1 23 45 67 89'] }),
    address: Type.Union([Type.String(), Type.Null()], { examples: ['12 Rue de Rivoli, Paris'] }),
    date_of_birth: Type.Union([Type.String({ pattern: DATE_PATTERN }), Type.Null()], { examples: ['1990-02-28'] }),
    account_balance: Type.Union([Type.Number(), Type.Null()], { examples: [1520.75] }),
    created_at: Type.Union([Type.String({ pattern: TIMESTAMP_PATTERN }), Type.Null()], {
      examples: ['2024-01-15T10:30:00'],
    }),
  },
  { $id: 'Customer', additionalProperties: false },
);
export type Customer = Static<typeof CustomerSchema>;

/** A record that passed validation: every field present, normalised to null when absent. */
export type ValidCustomer = Customer;

export type Validation = { ok: true; value: ValidCustomer } | { ok: false; reasons: string[]; customerId: string | null };

// A pragmatic address check (the WHATWG form rule): one @, no spaces, a dotted domain.
export const EMAIL_RE =
  /^[a-zA-Z0-9.!#$%&'*+/=?^_`{|}~-]+@[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)+$/;
const DATE_RE = /^(\d{4})-(\d{2})-(\d{2})$/;
const TIMESTAMP_RE = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})$/;
const BALANCE_RE = /^-?\d+(?:\.\d{1,2})?$/;

/** Length in characters (code points), as PostgreSQL's varchar(n) counts them. */
function charLength(s: string): number {
  // Fast path: no surrogate pairs means UTF-16 units are code points.
  // eslint-disable-next-line no-control-regex
  return /[\ud800-\udfff]/.test(s) ? [...s].length : s.length;
}

const MONTH_DAYS = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

function isCalendarDate(y: number, m: number, d: number): boolean {
  if (y < 1 || m < 1 || m > 12 || d < 1) return false;
  if (d <= MONTH_DAYS[m - 1]!) return true;
  const leap = (y % 4 === 0 && y % 100 !== 0) || y % 400 === 0;
  return m === 2 && d === 29 && leap;
}

export function isValidDate(s: string): boolean {
  const m = DATE_RE.exec(s);
  return m !== null && isCalendarDate(Number(m[1]), Number(m[2]), Number(m[3]));
}

export function isValidTimestamp(s: string): boolean {
  const m = TIMESTAMP_RE.exec(s);
  return (
    m !== null &&
    isCalendarDate(Number(m[1]), Number(m[2]), Number(m[3])) &&
    Number(m[4]) <= 23 &&
    Number(m[5]) <= 59 &&
    Number(m[6]) <= 59
  );
}

type Check = (name: Field, v: unknown, reasons: string[]) => unknown;

/** Text PostgreSQL can store exactly: well-formed UTF-16 (no lone surrogates) and no NUL. */
function textProblem(v: string): string | null {
  if (v.includes('\u0000')) return 'contains a NUL character';
  if (!v.isWellFormed()) return 'contains an unpaired surrogate (not valid Unicode)';
  return null;
}

function requiredString(max: number): Check {
  return (name, v, reasons) => {
    if (typeof v !== 'string') {
      reasons.push(v === undefined || v === null ? `${name}: is required` : `${name}: must be a string`);
      return undefined;
    }
    if (v.length === 0) reasons.push(`${name}: must not be empty`);
    // Code points never outnumber UTF-16 units: count them only when it matters.
    else if (v.length > max && charLength(v) > max) reasons.push(`${name}: longer than ${max} characters`);
    const problem = textProblem(v);
    if (problem) reasons.push(`${name}: ${problem}`);
    return v;
  };
}

function optionalString(max: number | null): Check {
  return (name, v, reasons) => {
    if (v === undefined || v === null) return null;
    if (typeof v !== 'string') {
      reasons.push(`${name}: must be a string or null`);
      return undefined;
    }
    if (max !== null && v.length > max && charLength(v) > max) reasons.push(`${name}: longer than ${max} characters`);
    const problem = textProblem(v);
    if (problem) reasons.push(`${name}: ${problem}`);
    return v;
  };
}

const CHECKS: Record<Field, Check> = {
  customer_id: requiredString(LIMITS.customer_id),
  first_name: requiredString(LIMITS.first_name),
  last_name: requiredString(LIMITS.last_name),
  email: (name, v, reasons) => {
    const before = reasons.length;
    const s = requiredString(LIMITS.email)(name, v, reasons);
    if (reasons.length === before && typeof s === 'string' && !EMAIL_RE.test(s)) {
      reasons.push(`${name}: not a valid email address`);
    }
    return s;
  },
  phone: optionalString(LIMITS.phone),
  address: optionalString(null),
  date_of_birth: (name, v, reasons) => {
    if (v === undefined || v === null) return null;
    if (typeof v !== 'string' || !isValidDate(v)) {
      reasons.push(`${name}: must be a real calendar date "YYYY-MM-DD" or null`);
      return undefined;
    }
    return v;
  },
  account_balance: (name, v, reasons) => {
    if (v === undefined || v === null) return null;
    if (typeof v !== 'number' || !Number.isFinite(v)) {
      reasons.push(`${name}: must be a number or null`);
      return undefined;
    }
    // String(v) is the shortest text that reads back as v: what the source wrote.
    if (!BALANCE_RE.test(String(v))) reasons.push(`${name}: more than 2 decimal places`);
    else if (Math.abs(v) >= LIMITS.balanceAbsBelow) reasons.push(`${name}: out of range for numeric(15,2)`);
    return v;
  },
  created_at: (name, v, reasons) => {
    if (v === undefined || v === null) return null;
    if (typeof v !== 'string' || !isValidTimestamp(v)) {
      reasons.push(`${name}: must be a real timestamp "YYYY-MM-DDTHH:MM:SS" or null`);
      return undefined;
    }
    return v;
  },
};

// ---- the fast path -----------------------------------------------------------
// Almost every record of a real source is valid. validFast() accepts a record
// only where CHECKS would accept it too, with the same value, in straight-line
// code with no per-field closures or reason strings; anything unusual (an
// error, a string long in UTF-16 units, a NUL or any surrogate) returns null
// and the full check decides, with its reasons. test/customer.test.ts holds
// the two to the same answers.

// NUL or any surrogate (paired or not): leave it to the full check.
// eslint-disable-next-line no-control-regex
const UNUSUAL_TEXT = /[\u0000\ud800-\udfff]/;

/** The number the two digits at s[i] and s[i+1] make, or -1 when either is not a digit. */
function digits2(s: string, i: number): number {
  const a = s.charCodeAt(i) - 48;
  const b = s.charCodeAt(i + 1) - 48;
  return a >= 0 && a <= 9 && b >= 0 && b <= 9 ? a * 10 + b : -1;
}

/** "YYYY-MM-DD" at the start of s, a real date (by character codes: no regex, no allocation). */
function datePrefixOk(s: string): boolean {
  const hi = digits2(s, 0);
  const lo = digits2(s, 2);
  const m = digits2(s, 5);
  const d = digits2(s, 8);
  return (
    hi >= 0 && lo >= 0 && m >= 0 && d >= 0 && s.charCodeAt(4) === 45 && s.charCodeAt(7) === 45 && isCalendarDate(hi * 100 + lo, m, d)
  );
}

export function fastDate(v: unknown): boolean {
  return typeof v === 'string' && v.length === 10 && datePrefixOk(v);
}

export function fastTimestamp(v: unknown): boolean {
  if (typeof v !== 'string' || v.length !== 19 || !datePrefixOk(v) || v.charCodeAt(10) !== 84) return false;
  const h = digits2(v, 11);
  const min = digits2(v, 14);
  const sec = digits2(v, 17);
  return v.charCodeAt(13) === 58 && v.charCodeAt(16) === 58 && h >= 0 && h <= 23 && min >= 0 && min <= 59 && sec >= 0 && sec <= 59;
}

function fastRequired(v: unknown, max: number): v is string {
  return typeof v === 'string' && v.length > 0 && v.length <= max && !UNUSUAL_TEXT.test(v);
}

function fastOptional(v: unknown, max: number): boolean {
  return v === undefined || v === null || (typeof v === 'string' && v.length <= max && !UNUSUAL_TEXT.test(v));
}

/**
 * The valid record, or null when the full check must decide (exported for its
 * tests; callers use validateCustomer). For a finite v
 * below 1e13, Math.round(v·100)/100 === v exactly when v is the double nearest
 * to a decimal with at most 2 places — when String(v) matches BALANCE_RE.
 */
export function validFast(rec: Record<string, unknown>): ValidCustomer | null {
  const { customer_id, first_name, last_name, email, phone, address, date_of_birth, account_balance, created_at } = rec;
  if (
    !fastRequired(customer_id, LIMITS.customer_id) ||
    !fastRequired(first_name, LIMITS.first_name) ||
    !fastRequired(last_name, LIMITS.last_name) ||
    !fastRequired(email, LIMITS.email) ||
    !EMAIL_RE.test(email) ||
    !fastOptional(phone, LIMITS.phone) ||
    !fastOptional(address, Infinity) ||
    (date_of_birth != null && !fastDate(date_of_birth)) ||
    (created_at != null && !fastTimestamp(created_at))
  ) {
    return null;
  }
  if (account_balance != null) {
    if (typeof account_balance !== 'number' || !(Math.abs(account_balance) < LIMITS.balanceAbsBelow)) return null;
    if (Math.round(account_balance * 100) / 100 !== account_balance) return null;
  }
  return {
    customer_id,
    first_name,
    last_name,
    email,
    phone: (phone ?? null) as string | null,
    address: (address ?? null) as string | null,
    date_of_birth: (date_of_birth ?? null) as string | null,
    account_balance: (account_balance ?? null) as number | null,
    created_at: (created_at ?? null) as string | null,
  };
}

/**
 * Checks one source record against the record schema. Unknown fields are
 * ignored; absent optional fields become null. Every problem is reported,
 * not just the first, so an operator can fix the source in one pass.
 */
export function validateCustomer(raw: unknown): Validation {
  if (typeof raw === 'object' && raw !== null && !Array.isArray(raw)) {
    const value = validFast(raw as Record<string, unknown>);
    if (value !== null) return { ok: true, value };
  }
  return validateCustomerFully(raw);
}

/** The full check: every field, every reason (the fast path's referee). */
export function validateCustomerFully(raw: unknown): Validation {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    return { ok: false, reasons: ['record: must be a JSON object'], customerId: null };
  }
  const rec = raw as Record<string, unknown>;
  const reasons: string[] = [];
  const out: Record<string, unknown> = {};
  for (const f of FIELDS) out[f] = CHECKS[f](f, rec[f], reasons);
  if (reasons.length > 0) {
    const id = rec.customer_id;
    return { ok: false, reasons, customerId: typeof id === 'string' ? id.slice(0, 200) : null };
  }
  return { ok: true, value: out as ValidCustomer };
}
