// Where each record of a page is in the page's bytes, so that a rejected
// record is kept as the source sent it (`1e400` stays `1e400`, `1.0` stays
// `1.0`, key order and spacing as they were), not as JSON.stringify would
// write the value JSON.parse made of it. A small tokenizer that skips strings
// and counts depth: no recursion, so a record nested 10,000 levels deep costs
// a loop, not the stack.
//
// It reads a body JSON.parse has already accepted (after UTF-8 decoding):
// every structural character is ASCII, and a UTF-8 decoder never folds an
// ASCII byte into a replacement character, so a slice between two of them
// decodes to exactly the text JSON.parse read there.

const TAB = 0x09;
const LF = 0x0a;
const CR = 0x0d;
const SPACE = 0x20;
const QUOTE = 0x22;
const COMMA = 0x2c;
const COLON = 0x3a;
const LBRACK = 0x5b;
const BSLASH = 0x5c;
const RBRACK = 0x5d;
const LBRACE = 0x7b;
const RBRACE = 0x7d;

const DATA = Buffer.from('data', 'latin1');
const decoder = new TextDecoder('utf-8');

function ws(b: Uint8Array, i: number): number {
  for (;;) {
    const c = b[i];
    if (c === SPACE || c === LF || c === CR || c === TAB) i++;
    else return i;
  }
}

/** The end (after the closing quote) of the string at b[i]. */
function stringEnd(b: Uint8Array, i: number): number {
  const len = b.length;
  for (i++; i < len; i++) {
    const c = b[i];
    if (c === BSLASH) i++;
    else if (c === QUOTE) return i + 1;
  }
  return -1;
}

/** The end of the value at b[i], however deep: -1 when it runs off the end. */
function valueEnd(b: Uint8Array, i: number): number {
  const len = b.length;
  let depth = 0;
  while (i < len) {
    const c = b[i]!;
    if (c === QUOTE) {
      i = stringEnd(b, i);
      if (i < 0) return -1;
      if (depth === 0) return i;
    } else if (c === LBRACE || c === LBRACK) {
      depth++;
      i++;
    } else if (c === RBRACE || c === RBRACK) {
      if (depth === 0) return i; // a scalar ends at its container's close
      i++;
      if (--depth === 0) return i;
    } else if (depth === 0 && (c === COMMA || c === SPACE || c === LF || c === CR || c === TAB)) {
      return i;
    } else {
      i++;
    }
  }
  return depth === 0 ? i : -1;
}

/** Whether the key b[s..e) (quotes included) is "data", as JSON.parse reads it (escapes too). */
function isDataKey(b: Uint8Array, s: number, e: number): boolean {
  const inner = b.subarray(s + 1, e - 1);
  if (!inner.includes(BSLASH)) return inner.length === DATA.length && DATA.equals(inner);
  return JSON.parse(decoder.decode(b.subarray(s, e))) === 'data';
}

/**
 * The byte ranges of the records of a page's top-level "data" array (the last
 * such key, as JSON.parse keeps it): [start, end) of record n at 2n and 2n+1.
 * Null when the body is not an object with a data array (JSON.parse decides
 * that first; this only locates).
 */
export function recordSpans(b: Uint8Array): Int32Array | null {
  let i = b[0] === 0xef && b[1] === 0xbb && b[2] === 0xbf ? 3 : 0; // a BOM, which TextDecoder drops
  i = ws(b, i);
  if (b[i] !== LBRACE) return null;
  i = ws(b, i + 1);
  let data = -1;
  while (b[i] === QUOTE) {
    const ke = stringEnd(b, i);
    if (ke < 0) return null;
    const isData = isDataKey(b, i, ke);
    i = ws(b, ke);
    if (b[i] !== COLON) return null;
    i = ws(b, i + 1);
    if (isData) data = i;
    i = valueEnd(b, i);
    if (i < 0) return null;
    i = ws(b, i);
    if (b[i] === COMMA) i = ws(b, i + 1);
  }
  if (data < 0 || b[data] !== LBRACK) return null;

  const spans: number[] = [];
  i = ws(b, data + 1);
  if (b[i] === RBRACK) return new Int32Array(0);
  for (;;) {
    const e = valueEnd(b, i);
    if (e < 0) return null;
    spans.push(i, e);
    i = ws(b, e);
    if (b[i] === COMMA) i = ws(b, i + 1);
    else if (b[i] === RBRACK) return Int32Array.from(spans);
    else return null;
  }
}

/** The source text of record `pos` (spans from recordSpans). */
export function recordText(b: Uint8Array, spans: Int32Array, pos: number): string {
  return decoder.decode(b.subarray(spans[2 * pos], spans[2 * pos + 1]));
}
