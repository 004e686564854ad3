// The customer record: its JSON Schema (API docs and serialisation), its
// TypeScript type, and the validator that decides whether a source record
// can be loaded — all made from the field table (fields.ts), where each
// field is declared once.
import { Type, type TSchema } from 'typebox';
import { FIELD_TABLE, FIELDS, MONEY_ABS_BELOW, type Field, type FieldSpec } from './fields.js';

export { FIELDS, type Field } from './fields.js';

type Row = (typeof FIELD_TABLE)[number];

/** Each field's character limit, by name (null = unbounded). */
export const LIMITS = Object.fromEntries(FIELD_TABLE.map((f) => [f.name, f.maxChars])) as {
  [F in Row as F['name']]: F['maxChars'];
};

const DATE_PATTERN = '^\\d{4}-\\d{2}-\\d{2}$';
const TIMESTAMP_PATTERN = '^\\d{4}-\\d{2}-\\d{2}T\\d{2}:\\d{2}:\\d{2}$';

function fieldSchema(f: FieldSpec): TSchema {
  const max = f.maxChars === null ? {} : { maxLength: f.maxChars };
  const value =
    f.kind === 'money'
      ? Type.Number()
      : f.kind === 'date'
        ? Type.String({ pattern: DATE_PATTERN })
        : f.kind === 'timestamp'
          ? Type.String({ pattern: TIMESTAMP_PATTERN })
          : f.kind === 'email'
            ? Type.String({ ...max, format: 'email' })
            : Type.String({ ...(f.required ? { minLength: 1 } : {}), ...max });
  if (f.required) return { ...value, examples: [f.example] };
  return Type.Union([value, Type.Null()], { examples: [f.example] });
}

export const CustomerSchema = Type.Object(Object.fromEntries(FIELD_TABLE.map((f) => [f.name, fieldSchema(f)])), {
  $id: 'Customer',
  additionalProperties: false,
});

/** A field's value in JSON: a number for money, else a string; null when the field is optional. */
type ValueOf<F extends Row> = (F['kind'] extends 'money' ? number : string) | (F['required'] extends true ? never : null);

/** A stored (or valid) customer record, as the read API answers it. */
export type Customer = { [F in Row as F['name']]: ValueOf<F> };

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
    m !== null && isCalendarDate(Number(m[1]), Number(m[2]), Number(m[3])) && Number(m[4]) <= 23 && Number(m[5]) <= 59 && Number(m[6]) <= 59
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

function emailCheck(max: number): Check {
  const text = requiredString(max);
  return (name, v, reasons) => {
    const before = reasons.length;
    const s = text(name, v, reasons);
    if (reasons.length === before && typeof s === 'string' && !EMAIL_RE.test(s)) {
      reasons.push(`${name}: not a valid email address`);
    }
    return s;
  };
}

const dateCheck: Check = (name, v, reasons) => {
  if (v === undefined || v === null) return null;
  if (typeof v !== 'string' || !isValidDate(v)) {
    reasons.push(`${name}: must be a real calendar date "YYYY-MM-DD" or null`);
    return undefined;
  }
  return v;
};

const timestampCheck: Check = (name, v, reasons) => {
  if (v === undefined || v === null) return null;
  if (typeof v !== 'string' || !isValidTimestamp(v)) {
    reasons.push(`${name}: must be a real timestamp "YYYY-MM-DDTHH:MM:SS" or null`);
    return undefined;
  }
  return v;
};

const moneyCheck: Check = (name, v, reasons) => {
  if (v === undefined || v === null) return null;
  if (typeof v !== 'number' || !Number.isFinite(v)) {
    reasons.push(`${name}: must be a number or null`);
    return undefined;
  }
  // String(v) is the shortest text that reads back as v: what the source wrote.
  if (!BALANCE_RE.test(String(v))) reasons.push(`${name}: more than 2 decimal places`);
  else if (Math.abs(v) >= MONEY_ABS_BELOW) reasons.push(`${name}: out of range for numeric(15,2)`);
  return v;
};

function checkOf(f: FieldSpec): Check {
  switch (f.kind) {
    case 'email':
      return emailCheck(f.maxChars ?? Infinity);
    case 'date':
      return dateCheck;
    case 'timestamp':
      return timestampCheck;
    case 'money':
      return moneyCheck;
    case 'text':
      return f.required ? requiredString(f.maxChars ?? Infinity) : optionalString(f.maxChars);
  }
}

const CHECKS: Record<Field, Check> = Object.fromEntries(FIELD_TABLE.map((f) => [f.name, checkOf(f)])) as Record<Field, Check>;

// ---- the fast path -----------------------------------------------------------
// Almost every record of a real source is valid. validFast() accepts a record
// only where CHECKS would accept it too, with the same value, in straight-line
// code with no per-field closures or reason strings; anything unusual (an
// error, a string long in UTF-16 units, a NUL or any surrogate) returns null
// and the full check decides, with its reasons. test/customer.test.ts holds
// the two to the same answers.

// NUL or any surrogate (paired or not): leave it to the full check.
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
  return hi >= 0 && lo >= 0 && m >= 0 && d >= 0 && s.charCodeAt(4) === 45 && s.charCodeAt(7) === 45 && isCalendarDate(hi * 100 + lo, m, d);
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

/** What the fast path checks of each field, in the table's order. */
const FAST = FIELD_TABLE.map((f) => ({ name: f.name, kind: f.kind, required: f.required, max: f.maxChars ?? Infinity }));

/**
 * The valid record, or null when the full check must decide (exported for its
 * tests; callers use validateCustomer). For a finite v
 * below 1e13, Math.round(v·100)/100 === v exactly when v is the double nearest
 * to a decimal with at most 2 places — when String(v) matches BALANCE_RE.
 */
export function validFast(rec: Record<string, unknown>): ValidCustomer | null {
  const out: Record<string, unknown> = {};
  for (const f of FAST) {
    const v = rec[f.name];
    if (v === undefined || v === null) {
      if (f.required) return null;
      out[f.name] = null;
      continue;
    }
    switch (f.kind) {
      case 'text':
      case 'email':
        if (typeof v !== 'string' || v.length > f.max || UNUSUAL_TEXT.test(v)) return null;
        if (f.required && v.length === 0) return null;
        if (f.kind === 'email' && !EMAIL_RE.test(v)) return null;
        break;
      case 'date':
        if (!fastDate(v)) return null;
        break;
      case 'timestamp':
        if (!fastTimestamp(v)) return null;
        break;
      case 'money':
        if (typeof v !== 'number' || !(Math.abs(v) < MONEY_ABS_BELOW)) return null;
        if (Math.round(v * 100) / 100 !== v) return null;
        break;
    }
    out[f.name] = v;
  }
  return out as ValidCustomer;
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
