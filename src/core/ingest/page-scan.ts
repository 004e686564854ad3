// The fast path of page preparation: a source page's bytes → COPY rows in one
// pass, without JSON.parse, UTF-8 decoding or objects per record; the only
// strings made are the short ones the validator's own email and date checks
// read (as latin1: only ASCII can pass them).
//
// Why: decoding, JSON.parse, building rows and encoding them again were ~0.9 s
// of the ~1.3 s of main-thread CPU an unchanged 200k re-ingest spent before
// its merge (bench CPU profiles, commit 875073f); on 1000-record pages of
// generated records parsePage() takes ~1.2 s per 200k, this scan ~0.22 s
// (bench/diagnostics/prepare-page.ts: medians of 7, same process). A valid record's text fields are, byte for byte,
// what COPY wants: JSON strings without escapes hold no byte COPY must escape
// (JSON forbids raw control characters), and their UTF-8 is PostgreSQL's.
//
// The contract: scanPage() returns exactly what parsePage() (prepare-page.ts,
// JSON.parse + validateCustomer) returns for the same body — the same counts
// and byte-identical rows — or null, and then parsePage() decides. It accepts
// only what it fully understands: well-formed JSON whose records' fields are
// strings without escapes (ASCII or 2–3-byte UTF-8), numbers in plain decimal
// form, or null, and whose values pass the record's checks. A record it does
// not accept is handed, as JSON.parse of its own bytes (and those bytes, its
// payload if rejected), to the same function parsePage() uses per record;
// anything wrong with the page's structure gives null. test/pipeline/prepare-page.test.ts holds the two to the same output
// on generated, seed and mutated pages.
import { EMAIL_RE, FIELDS, fastDate, fastTimestamp } from '../customer.js';
import { FIELD_TABLE } from '../fields.js';

/** One record the scan did not accept, as parsePage() would make its row (`source`: the record's own text). */
export type RecordRow = (page: number, pos: number, raw: unknown, source: () => string) => { row: string; rejected: boolean };

export interface ScannedPage {
  records: number;
  rejected: number;
  total: number | null;
  limit: number | null;
  rows: Buffer;
}

const TAB = 0x09;
const QUOTE = 0x22;
const COMMA = 0x2c;
const MINUS = 0x2d;
const DOT = 0x2e;
const ZERO = 0x30;
const COLON = 0x3a;
const LBRACK = 0x5b;
const BSLASH = 0x5c;
const RBRACK = 0x5d;
const LBRACE = 0x7b;
const RBRACE = 0x7d;
const N = 0x4e;

// The field facts, by field number (the position in the field table, the
// staging row's column order): kind, required, longest text.
const TEXT = 0;
const EMAIL = 1;
const DATE = 2;
const TIMESTAMP = 3;
const MONEY = 4;
const KIND_CODE = { text: TEXT, email: EMAIL, date: DATE, timestamp: TIMESTAMP, money: MONEY } as const;
const KIND = FIELD_TABLE.map((f) => KIND_CODE[f.kind]);
const REQ = FIELD_TABLE.map((f) => f.required);
const MAX_CHARS = FIELD_TABLE.map((f) => f.maxChars ?? Infinity);
const NFIELDS = FIELD_TABLE.length;
/** Bit k set: field k is required; a record that lacks one goes to the full check. */
const REQUIRED = FIELD_TABLE.reduce((m, f, k) => (f.required ? m | (1 << k) : m), 0);
// The scan keeps one money value's digits aside (Spans.bal*): a second money
// field needs spans of its own before it can be scanned.
if (KIND.filter((k) => k === MONEY).length > 1) throw new Error('page-scan.ts handles one money field; give Spans one set per field');
const KEYS = FIELDS.map((f) => Buffer.from(f, 'latin1'));
const DATA_KEY = Buffer.from('data', 'latin1');

const decoder = new TextDecoder('utf-8');

function ws(b: Uint8Array, i: number): number {
  for (;;) {
    const c = b[i];
    if (c === 0x20 || c === 0x0a || c === 0x0d || c === TAB) i++;
    else return i;
  }
}

function isDigit(c: number | undefined): boolean {
  return c !== undefined && c >= ZERO && c <= 0x39;
}

function isNull(b: Uint8Array, i: number): boolean {
  return b[i] === 0x6e && b[i + 1] === 0x75 && b[i + 2] === 0x6c && b[i + 3] === 0x6c;
}

function sameBytes(b: Uint8Array, s: number, e: number, key: Uint8Array): boolean {
  if (e - s !== key.length) return false;
  for (let j = 0; j < key.length; j++) if (b[s + j] !== key[j]) return false;
  return true;
}

/** The field a key names (its index in FIELDS), or -1. */
function fieldOf(b: Uint8Array, s: number, e: number): number {
  for (let k = 0; k < KEYS.length; k++) if (sameBytes(b, s, e, KEYS[k]!)) return k;
  return -1;
}

/**
 * The end (after the closing quote) of a string at b[i] with no escapes and
 * only well-formed 1–3-byte UTF-8, or -1. Its length in characters goes to
 * scanned.chars.
 */
const scanned = { chars: 0 };
function plainString(b: Uint8Array, i: number): number {
  let j = i + 1;
  let n = 0;
  for (;;) {
    const c = b[j];
    if (c === undefined) return -1;
    if (c < 0x80) {
      if (c === QUOTE) break;
      if (c < 0x20 || c === BSLASH) return -1;
      j++;
    } else if (c >= 0xc2 && c <= 0xdf) {
      if ((b[j + 1]! & 0xc0) !== 0x80) return -1;
      j += 2;
    } else if (c >= 0xe0 && c <= 0xef) {
      const c1 = b[j + 1]!;
      if ((c1 & 0xc0) !== 0x80 || (b[j + 2]! & 0xc0) !== 0x80) return -1;
      // Overlong forms and UTF-16 surrogates are not UTF-8.
      if ((c === 0xe0 && c1 < 0xa0) || (c === 0xed && c1 >= 0xa0)) return -1;
      j += 3;
    } else {
      // 4-byte sequences (a surrogate pair in UTF-16) and bytes that are not UTF-8.
      return -1;
    }
    n++;
  }
  scanned.chars = n;
  return j + 1;
}

/** The end of a JSON number at b[i] (strict grammar), or -1. */
function numberEnd(b: Uint8Array, i: number): number {
  if (b[i] === MINUS) i++;
  if (b[i] === ZERO) i++;
  else if (isDigit(b[i])) while (isDigit(b[i])) i++;
  else return -1;
  if (b[i] === DOT) {
    i++;
    if (!isDigit(b[i])) return -1;
    while (isDigit(b[i])) i++;
  }
  if (b[i] === 0x65 || b[i] === 0x45) {
    i++;
    if (b[i] === 0x2b || b[i] === MINUS) i++;
    if (!isDigit(b[i])) return -1;
    while (isDigit(b[i])) i++;
  }
  return i;
}

/** Where one record's fields are: start and end per field (start -1: null or absent), and the balance's parts. */
interface Spans {
  at: Int32Array;
  /** account_balance as String(v) writes it: sign, integer digits, fraction digits without trailing zeros. */
  balNeg: boolean;
  balInt: number;
  balIntEnd: number;
  balFrac: number;
  balFracEnd: number;
}

/** A value of a field the record does not define: a plain string, a number or a literal. */
function skipScalar(b: Uint8Array, i: number): number {
  const c = b[i];
  if (c === QUOTE) return plainString(b, i);
  if (c === 0x74) return b[i + 1] === 0x72 && b[i + 2] === 0x75 && b[i + 3] === 0x65 ? i + 4 : -1;
  if (c === 0x66) return b[i + 1] === 0x61 && b[i + 2] === 0x6c && b[i + 3] === 0x73 && b[i + 4] === 0x65 ? i + 5 : -1;
  if (c === 0x6e) return isNull(b, i) ? i + 4 : -1;
  return numberEnd(b, i);
}

/** The value of field k at b[i], checked as validateCustomer checks it: its end, or -1. */
function fieldValue(b: Uint8Array, i: number, k: number, sp: Spans): number {
  const at = sp.at;
  if (KIND[k] === MONEY) {
    if (isNull(b, i)) return i + 4;
    let j = i;
    const neg = b[j] === MINUS;
    if (neg) j++;
    const is = j;
    if (b[j] === ZERO) j++;
    else if (isDigit(b[j])) while (isDigit(b[j])) j++;
    else return -1;
    const ie = j;
    // numeric(15,2): at most 13 digits before the point.
    if (ie - is > 13) return -1;
    let fs = j;
    let fe = j;
    if (b[j] === DOT) {
      j++;
      fs = j;
      while (isDigit(b[j])) j++;
      fe = j;
      if (fe === fs || fe - fs > 2) return -1;
    }
    // An exponent or anything else after the digits fails the caller's delimiter check.
    while (fe > fs && b[fe - 1] === ZERO) fe--;
    sp.balNeg = neg && !(ie - is === 1 && b[is] === ZERO && fe === fs);
    sp.balInt = is;
    sp.balIntEnd = ie;
    sp.balFrac = fs;
    sp.balFracEnd = fe;
    at[2 * k] = i;
    return j;
  }
  if (b[i] !== QUOTE) {
    // null: absent for the optional fields; the required ones go to the full check.
    return !REQ[k] && isNull(b, i) ? i + 4 : -1;
  }
  // Dates and timestamps: the validator's own checks, on the (short) text.
  if (KIND[k] === DATE) {
    if (b[i + 11] !== QUOTE || !fastDate(latin1(b, i + 1, i + 11))) return -1;
    at[2 * k] = i + 1;
    at[2 * k + 1] = i + 11;
    return i + 12;
  }
  if (KIND[k] === TIMESTAMP) {
    if (b[i + 20] !== QUOTE || !fastTimestamp(latin1(b, i + 1, i + 20))) return -1;
    at[2 * k] = i + 1;
    at[2 * k + 1] = i + 20;
    return i + 21;
  }
  const end = plainString(b, i);
  if (end < 0) return -1;
  const n = scanned.chars;
  if (n > MAX_CHARS[k]! || (REQ[k] && n === 0)) return -1;
  // Without surrogates, characters are UTF-16 units: the same bound validFast applies.
  // EMAIL_RE allows ASCII only: a UTF-8 byte read as latin1 fails it as the character would.
  if (KIND[k] === EMAIL && !EMAIL_RE.test(latin1(b, i + 1, end - 1))) return -1;
  at[2 * k] = i + 1;
  at[2 * k + 1] = end - 1;
  return end;
}

function latin1(b: Uint8Array, s: number, e: number): string {
  return (b as Buffer).toString('latin1', s, e);
}

/** A record at b[i] ('{') that validateCustomer accepts as it stands: its end, or -1. */
function scanRecord(b: Uint8Array, i: number, sp: Spans): number {
  sp.at.fill(-1);
  let seen = 0;
  let next = 0;
  i = ws(b, i + 1);
  if (b[i] === RBRACE) return -1;
  for (;;) {
    if (b[i] !== QUOTE) return -1;
    const ks = i + 1;
    let j = ks;
    let k: number;
    // Sources write their fields in one order: try the field after the last one first.
    const guess = KEYS[next];
    if (guess !== undefined && sameBytes(b, ks, ks + guess.length, guess) && b[ks + guess.length] === QUOTE) {
      k = next;
      j = ks + guess.length;
    } else {
      for (;;) {
        const c = b[j];
        if (c === QUOTE) break;
        if (c === undefined || c < 0x20 || c === BSLASH) return -1;
        j++;
      }
      k = fieldOf(b, ks, j);
    }
    next = k + 1;
    i = ws(b, j + 1);
    if (b[i] !== COLON) return -1;
    i = ws(b, i + 1);
    if (k < 0) i = skipScalar(b, i);
    else {
      // A repeated key: JSON.parse keeps the last; leave that to it.
      if (seen & (1 << k)) return -1;
      seen |= 1 << k;
      i = fieldValue(b, i, k, sp);
    }
    if (i < 0) return -1;
    i = ws(b, i);
    const c = b[i];
    if (c === COMMA) i = ws(b, i + 1);
    else if (c === RBRACE) break;
    else return -1;
  }
  if ((seen & REQUIRED) !== REQUIRED) return -1;
  return i + 1;
}

/**
 * The end of any JSON value at b[i] (strings, nesting), without checking it:
 * JSON.parse checks what this delimits. -1 when it runs off the end.
 */
function skipValue(b: Uint8Array, i: number): number {
  const len = b.length;
  let depth = 0;
  for (;;) {
    if (i >= len) return -1;
    const c = b[i]!;
    if (c === QUOTE) {
      i++;
      for (;;) {
        if (i >= len) return -1;
        const d = b[i]!;
        if (d === BSLASH) i += 2;
        else if (d === QUOTE) break;
        else i++;
      }
      i++;
    } else if (c === LBRACE || c === LBRACK) {
      depth++;
      i++;
    } else if (c === RBRACE || c === RBRACK) {
      if (depth === 0) return i;
      depth--;
      i++;
    } else if (depth === 0 && (c === COMMA || c === 0x20 || c === 0x0a || c === 0x0d || c === TAB)) {
      return i;
    } else {
      i++;
    }
    if (depth === 0 && (c === QUOTE || c === RBRACE || c === RBRACK)) return i;
  }
}

class Out {
  buf: Buffer;
  o = 0;
  constructor(size: number) {
    this.buf = Buffer.allocUnsafe(size);
  }
  reserve(n: number): void {
    if (this.o + n <= this.buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.o + n));
    this.buf.copy(next, 0, 0, this.o);
    this.buf = next;
  }
}

/** The decimal digits of a non-negative integer. */
function writeInt(out: Buffer, o: number, v: number): number {
  let digits = 1;
  for (let x = v; x >= 10; x = Math.floor(x / 10)) digits++;
  for (let d = digits - 1; d >= 0; d--) {
    out[o + d] = ZERO + (v % 10);
    v = Math.floor(v / 10);
  }
  return o + digits;
}

/** The staging row of a record scanRecord accepted, as stagingRow() writes it. */
function writeRow(b: Uint8Array, out: Buffer, o: number, page: number, pos: number, sp: Spans): number {
  const at = sp.at;
  o = writeInt(out, o, page);
  out[o++] = TAB;
  o = writeInt(out, o, pos);
  out[o++] = TAB;
  for (let k = 0; k < NFIELDS; k++) {
    const s = at[2 * k]!;
    if (s < 0) {
      out[o++] = BSLASH;
      out[o++] = N;
    } else if (KIND[k] === MONEY) {
      if (sp.balNeg) out[o++] = MINUS;
      for (let j = sp.balInt; j < sp.balIntEnd; j++) out[o++] = b[j]!;
      if (sp.balFracEnd > sp.balFrac) {
        out[o++] = DOT;
        for (let j = sp.balFrac; j < sp.balFracEnd; j++) out[o++] = b[j]!;
      }
    } else {
      const e = at[2 * k + 1]!;
      for (let j = s; j < e; j++) out[o++] = b[j]!;
    }
    out[o++] = TAB;
  }
  // payload and reasons: \N\t\N\n
  out[o++] = BSLASH;
  out[o++] = N;
  out[o++] = TAB;
  out[o++] = BSLASH;
  out[o++] = N;
  out[o++] = 0x0a;
  return o;
}

/** The data array at b[i] ('['): its records' rows into out; the array's end, or -1. */
function scanData(
  b: Uint8Array,
  i: number,
  page: number,
  out: Out,
  counts: { records: number; rejected: number },
  slow: RecordRow,
): number {
  const sp: Spans = { at: new Int32Array(2 * NFIELDS), balNeg: false, balInt: 0, balIntEnd: 0, balFrac: 0, balFracEnd: 0 };
  i = ws(b, i + 1);
  if (b[i] === RBRACK) return i + 1;
  for (let pos = 0; ; pos++) {
    // A fast row is never longer than its record's JSON plus 64 bytes.
    out.reserve(b.length - i + 64);
    const end = b[i] === LBRACE ? scanRecord(b, i, sp) : -1;
    if (end >= 0) {
      out.o = writeRow(b, out.buf, out.o, page, pos, sp);
      i = end;
    } else {
      const e = skipValue(b, i);
      if (e < 0) return -1;
      const text = decoder.decode(b.subarray(i, e));
      let raw: unknown;
      try {
        raw = JSON.parse(text);
      } catch {
        return -1;
      }
      const r = slow(page, pos, raw, () => text);
      if (r.rejected) counts.rejected++;
      const row = Buffer.from(r.row);
      out.reserve(row.length);
      out.o += row.copy(out.buf, out.o);
      i = e;
    }
    counts.records = pos + 1;
    i = ws(b, i);
    if (b[i] === COMMA) i = ws(b, i + 1);
    else if (b[i] === RBRACK) return i + 1;
    else return -1;
  }
}

/**
 * The page at `body` prepared as parsePage() would prepare it, or null when
 * parsePage() must decide (see the top of this file).
 */
export function scanPage(page: number, body: Uint8Array, slow: RecordRow): ScannedPage | null {
  // A Buffer view (no copy): latin1() reads emails and dates through it.
  const b = Buffer.isBuffer(body) ? body : Buffer.from(body.buffer, body.byteOffset, body.byteLength);
  let i = 0;
  // TextDecoder drops a byte order mark before JSON.parse sees the text.
  if (b[0] === 0xef && b[1] === 0xbb && b[2] === 0xbf) i = 3;
  i = ws(b, i);
  if (b[i] !== LBRACE) return null;
  i = ws(b, i + 1);
  const out = new Out(b.length + 1024);
  const counts = { records: 0, rejected: 0 };
  let dataStart = -1;
  let dataEnd = -1;
  for (;;) {
    if (b[i] !== QUOTE) return null;
    const ks = i + 1;
    let j = ks;
    for (;;) {
      const c = b[j];
      if (c === undefined || c === BSLASH) return null;
      if (c === QUOTE) break;
      j++;
    }
    i = ws(b, j + 1);
    if (b[i] !== COLON) return null;
    i = ws(b, i + 1);
    if (sameBytes(b, ks, j, DATA_KEY)) {
      if (dataStart >= 0 || b[i] !== LBRACK) return null;
      dataStart = i;
      i = scanData(b, i, page, out, counts, slow);
      dataEnd = i;
    } else {
      i = skipValue(b, i);
    }
    if (i < 0) return null;
    i = ws(b, i);
    if (b[i] === COMMA) i = ws(b, i + 1);
    else if (b[i] === RBRACE) break;
    else return null;
  }
  if (dataStart < 0) return null;
  // The rest of the envelope (total, limit, whatever else, anything after the
  // closing brace) is small: JSON.parse checks it, with the data array
  // standing in as 0; the scan above found the array at the top level.
  let env: unknown;
  try {
    env = JSON.parse(decoder.decode(b.subarray(0, dataStart)) + '0' + decoder.decode(b.subarray(dataEnd)));
  } catch {
    return null;
  }
  const e = env as { data?: unknown; total?: unknown; limit?: unknown };
  if (typeof env !== 'object' || env === null || e.data !== 0) return null;
  const total = typeof e.total === 'number' && Number.isInteger(e.total) && e.total >= 0 ? e.total : null;
  const limit = typeof e.limit === 'number' && Number.isInteger(e.limit) && e.limit > 0 ? e.limit : null;
  return { records: counts.records, rejected: counts.rejected, total, limit, rows: out.buf.subarray(0, out.o) };
}
