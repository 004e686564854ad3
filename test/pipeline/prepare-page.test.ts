// The byte scan (page-scan.ts) against the reference preparation (JSON.parse +
// validateCustomer, parsePage): for any body, the scan either gives the same
// page — the same counts and byte-identical COPY rows — or steps aside (null).
// Each test also checks that the scan really took the pages it should, so that
// a scan that always stepped aside would fail here.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { generateRecord } from '../../src/core/mock/dataset.js';
import { scanPage } from '../../src/core/ingest/page-scan.js';
import { parsePage, preparePage, recordRow } from '../../src/core/ingest/prepare-page.js';
import { recordSpans } from '../../src/core/ingest/record-spans.js';

const PAGE = 7;

type Outcome = 'scanned' | 'stepped aside';

function view(p: ReturnType<typeof parsePage>) {
  return p.ok ? { ...p, rows: Buffer.from(p.rows).toString('latin1') } : p;
}

/** Checks the scan against the reference on one body; says which path took it and how many records it left to JSON.parse. */
function check(body: Buffer, label = ''): { outcome: Outcome; slowRecords: number } {
  let slowRecords = 0;
  const fast = scanPage(PAGE, body, (page, pos, raw, source) => {
    slowRecords++;
    return recordRow(page, pos, raw, source);
  });
  const ref = parsePage(PAGE, body);
  const msg = `${label}: ${body.toString('latin1').slice(0, 400)}`;
  if (fast) {
    expect(ref.ok, msg).toBe(true);
    expect(view({ ok: true, page: PAGE, ...fast }), msg).toEqual(view(ref));
  }
  expect(view(preparePage(PAGE, body)), msg).toEqual(view(ref));
  return { outcome: fast ? 'scanned' : 'stepped aside', slowRecords };
}

function page(records: string[], envelope = (data: string) => `{"data":${data},"total":1000,"page":${PAGE},"limit":100}`): Buffer {
  return Buffer.from(envelope(`[${records.join(',')}]`));
}

const generated = (i: number) => JSON.stringify(generateRecord(5, i));

/** A generated record with one field's JSON text replaced (or removed with undefined). */
function withField(i: number, field: string, text: string | undefined): string {
  const r = generateRecord(5, i) as Record<string, unknown>;
  const parts = Object.keys(r)
    .filter((k) => k !== field || text !== undefined)
    .map((k) => `"${k}":${k === field ? text : JSON.stringify(r[k])}`);
  if (!(field in r) && text !== undefined) parts.push(`"${field}":${text}`);
  return `{${parts.join(',')}}`;
}

// Field values as JSON text, on every edge the validator and the scan know;
// several cannot come out of JSON.stringify (escapes, number forms, raw bytes).
const EDGES: Record<string, string[]> = {
  customer_id: [
    '""',
    '"C-1"',
    `"${'x'.repeat(50)}"`,
    `"${'x'.repeat(51)}"`,
    `"${'é'.repeat(50)}"`,
    `"${'é'.repeat(51)}"`,
    '"😀"',
    '"a\\u0000b"',
    '"a\\ud800b"',
    '"tab\\there"',
    '"q\\"uote"',
    'null',
    '7',
    'true',
    '"\\u0041"',
  ],
  first_name: [
    '"Zoë"',
    '"€uro"',
    `"${'€'.repeat(100)}"`,
    `"${'€'.repeat(101)}"`,
    '"back\\\\slash"',
    '"sl\\/ash"',
    '"\\u00e9"',
    '[]',
    '{}',
    '{"a":[1,{"b":"]"}]}',
  ],
  last_name: ['"O\'Brien"', '"Nguyễn"', '""', 'null', '"\uFFFD"', '"\u{FEFF}bom"'],
  email: [
    '"a@b.co"',
    '"a@b"',
    '"no-at.example.com"',
    '"a b@c.de"',
    `"${'x'.repeat(243)}@example.com"`,
    `"${'x'.repeat(244)}@example.com"`,
    '"é@example.com"',
    '"a@-b.com"',
    '"A.B+c@Example.COM"',
    '""',
  ],
  phone: ['null', '""', `"${'9'.repeat(20)}"`, `"${'9'.repeat(21)}"`, `"${'☎'.repeat(20)}"`, `"${'☎'.repeat(21)}"`, '5551234', 'false'],
  address: ['null', '""', `"${'x'.repeat(5000)}"`, '"line\\nbreak"', '"\\ud83d\\ude00"', '1', '"日本語の住所"'],
  date_of_birth: [
    'null',
    '"1990-02-28"',
    '"2000-02-29"',
    '"1900-02-29"',
    '"2023-02-29"',
    '"2023-04-31"',
    '"2023-13-01"',
    '"0000-01-01"',
    '"0001-01-01"',
    '"1990-1-1"',
    '"1990-01-01T00:00:00"',
    '"１９９０-01-01"',
    '19900101',
    '""',
    '"1990-01-0a"',
  ],
  account_balance: [
    'null',
    '0',
    '-0',
    '-0.0',
    '-0.00',
    '0.5',
    '-0.50',
    '1.10',
    '1.100',
    '1.15',
    '1520.75',
    '-20',
    '100.00',
    '1e2',
    '1E+2',
    '1.5e-1',
    '0.001',
    '9999999999999.99',
    '10000000000000',
    '-9999999999999',
    '1e21',
    '12345678901.23',
    '"10.00"',
    'true',
    '00',
    '-',
    '1.',
    '.5',
    '+1',
    '1.2.3',
  ],
  created_at: [
    'null',
    '"2024-01-15T10:30:00"',
    '"2024-01-15 10:30:00"',
    '"2024-01-15T24:00:00"',
    '"2024-01-15T23:60:00"',
    '"2024-01-15T23:59:60"',
    '"2023-02-29T00:00:00"',
    '"2024-01-15T10:30:00Z"',
    '"2024-01-15T10:30:00.000"',
    '1705314600',
  ],
  extra_field: ['"ignored"', '1', '-1.5e3', 'null', 'true', 'false', '"with \\" escape"', '[1,2]', '{"nested":true}', 'nul', '01'],
};

describe('page scan', () => {
  it('prepares generated pages itself, byte for byte as JSON.parse + validation does', () => {
    for (let p = 0; p < 10; p++) {
      const r = check(page(Array.from({ length: 300 }, (_, j) => generated(p * 300 + j))), `page ${p}`);
      expect(r).toEqual({ outcome: 'scanned', slowRecords: 0 });
    }
  });

  it('prepares the seed file (non-ASCII names, nulls, pretty-printed) the same way', () => {
    const seed = readFileSync(new URL('../../data/customers.json', import.meta.url), 'utf8');
    const r = check(Buffer.from(`{\n  "data": ${seed},\n  "total": 60\n}`), 'seed');
    expect(r.outcome).toBe('scanned');
    expect(r.slowRecords).toBeLessThan(5);
  });

  it('gives every field edge the reference answer, scanning the page and leaving only the unusual record to JSON.parse', () => {
    let n = 0;
    for (const [field, values] of Object.entries(EDGES)) {
      for (const [k, text] of [...values, undefined].entries()) {
        const body = page([generated(1), withField(2 + k, field, text), generated(3)]);
        const r = check(body, `${field}=${text}`);
        // A record the scan cannot take alone costs its own JSON.parse, not the page's:
        // only a page that is not JSON at all is left to the reference.
        if (r.outcome === 'stepped aside') expect(parsePage(PAGE, body).ok, `${field}=${text}`).toBe(false);
        else expect(r.slowRecords, `${field}=${text}`).toBeLessThanOrEqual(1);
        n++;
      }
    }
    expect(n).toBeGreaterThan(120);
  });

  it('scans plain values itself: records with them never reach JSON.parse', () => {
    const plain = ['"1990-02-28"', '"2000-02-29"', '0', '-0', '-0.00', '1.10', '100.00', '9999999999999.99', '"Zoë"', 'null'];
    for (const text of plain) {
      const field =
        text.startsWith('"19') || text.startsWith('"20') ? 'date_of_birth' : text.startsWith('"') ? 'first_name' : 'account_balance';
      expect(check(page([withField(9, field, text)]), text)).toEqual({ outcome: 'scanned', slowRecords: 0 });
    }
    // Keys in another order, with a field the record does not define.
    const r = generateRecord(5, 9) as Record<string, unknown>;
    const reordered = `{"note":"x",${Object.keys(r)
      .reverse()
      .map((k) => `"${k}":${JSON.stringify(r[k])}`)
      .join(',')}}`;
    expect(check(page([reordered]), reordered)).toEqual({ outcome: 'scanned', slowRecords: 0 });
  });

  it('leaves a record with a repeated key to JSON.parse, which keeps the last value', () => {
    const base = generated(30).slice(0, -1);
    for (const extra of [
      '"phone":null',
      '"phone":"1"',
      '"first_name":"Again"',
      '"account_balance":null',
      '"date_of_birth":null',
      '"customer_id":"NEW-1"',
    ]) {
      const field = extra.slice(1, extra.indexOf('"', 1));
      const rec = `${withField(30, field, field === 'customer_id' ? '"OLD-1"' : field === 'account_balance' ? '12.5' : field === 'phone' ? '"555"' : field === 'date_of_birth' ? '"1990-01-01"' : '"First"').slice(0, -1)},${extra}}`;
      expect(check(page([rec]), rec), rec).toEqual({ outcome: 'scanned', slowRecords: 1 });
    }
    expect(base.length).toBeGreaterThan(0);
  });

  it('reads the envelope as JSON.parse does: key order, whitespace, extra fields, byte order mark', () => {
    const recs = [generated(10), generated(11)];
    const data = `[${recs.join(',')}]`;
    const envelopes = [
      `{"total":2,"limit":2,"data":${data}}`,
      `{ "data" : [ ${recs.join(' ,\r\n\t')} ] , "total" : 2 }`,
      `{"meta":{"next":"/api/customers?page=2","data":[1]},"note":"a \\"data\\": [] inside","data":${data},"total":2}`,
      `\ufeff{"data":${data},"total":2}`,
      `{"data":[],"total":0}`,
      `{"data":${data},"total":-1,"limit":0}`,
      `{"data":${data},"total":2.5,"limit":"100"}`,
      `{"data":${data}}`,
      JSON.stringify({ data: recs.map((r) => JSON.parse(r)), total: 2 }, null, 2),
    ];
    for (const env of envelopes) expect(check(Buffer.from(env), env.slice(0, 60)).outcome, env.slice(0, 80)).toBe('scanned');
  });

  it('steps aside for bodies that are not pages, so the reference can say why', () => {
    const recs = [generated(20), generated(21)];
    const data = `[${recs.join(',')}]`;
    // A repeated "data": JSON.parse keeps the last one; the scan leaves that to it.
    const twice = Buffer.from(`{"data":${data},"data":[]}`);
    expect(check(twice, 'data twice').outcome).toBe('stepped aside');
    expect(view(parsePage(PAGE, twice))).toMatchObject({ ok: true, records: 0 });
    const bodies = [
      `{"data":${data}} trailing`,
      `{"data":${data},}`,
      `{"data":${data}`,
      `{"data":null,"total":2}`,
      `{"data":{"0":1}}`,
      `{"total":2}`,
      `[${data}]`,
      `{"data":[${recs[0]},,${recs[1]}]}`,
      `{"data":[${recs[0]} ${recs[1]}]}`,
      `{"data":[${recs[0]},]}`,
      `{"data":[${recs[0]}],"total":tru}`,
      '',
      'null',
    ];
    for (const b of bodies) {
      const r = check(Buffer.from(b), b.slice(0, 60));
      expect(r.outcome, b.slice(0, 80)).toBe('stepped aside');
      expect(parsePage(PAGE, Buffer.from(b)).ok, b.slice(0, 80)).toBe(false);
    }
    // Cut anywhere (a reset mid-body), a page is never taken for a shorter one.
    const whole = page(recs);
    for (let cut = 0; cut < whole.length; cut += 3) expect(check(whole.subarray(0, cut), `cut at ${cut}`).outcome).toBe('stepped aside');
  });

  it('agrees with the reference on 4,000 randomly damaged pages', () => {
    let seed = 12345;
    const rand = () => {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      return seed / 2 ** 32;
    };
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
    const tokens = [
      '\\',
      '"',
      '\\"',
      '\\n',
      '\\u00e9',
      '\\ud800',
      'é',
      '😀',
      '\t',
      ' ',
      ',',
      '}',
      ']',
      '{',
      '[',
      ':',
      'null',
      '-',
      '.',
      '0',
      '9',
      'e5',
      '\u0000',
      '\u001f',
      '"x":1,',
    ];
    const rawBytes = [
      [0xff],
      [0xc0, 0x80],
      [0xed, 0xa0, 0x80],
      [0xe0, 0x80, 0x80],
      [0x80],
      [0xc3],
      [0xe2, 0x82],
      [0xf0, 0x9f, 0x98, 0x80],
      [0xef, 0xbb, 0xbf],
    ];
    const fields = Object.keys(EDGES);
    const counts: Record<string, number> = { scanned: 0, 'stepped aside': 0, slowRecords: 0 };
    for (let t = 0; t < 4000; t++) {
      const recs = Array.from({ length: 6 }, (_, j) => generated(100 + j + (t % 50)));
      let body: Buffer;
      const op = t % 4;
      if (op === 0) {
        const f = pick(fields);
        recs[Math.floor(rand() * recs.length)] = withField(200 + t, f, pick([...EDGES[f]!, undefined]));
        body = page(recs);
      } else {
        body = page(recs);
        const at = Math.floor(rand() * body.length);
        const insert = op === 1 ? Buffer.from(pick(tokens)) : op === 2 ? Buffer.from(pick(rawBytes)) : Buffer.alloc(0);
        const del = op === 3 ? 1 + Math.floor(rand() * 3) : rand() < 0.5 ? 1 : 0;
        body = Buffer.concat([body.subarray(0, at), insert, body.subarray(at + del)]);
      }
      const r = check(body, `case ${t}`);
      counts[r.outcome]!++;
      counts.slowRecords! += r.slowRecords;
    }
    // All three paths were taken: whole pages scanned, records left to JSON.parse, pages left to the reference.
    expect(counts.scanned).toBeGreaterThan(1000);
    expect(counts['stepped aside']).toBeGreaterThan(500);
    expect(counts.slowRecords).toBeGreaterThan(300);
  });
});

/** The rejected rows of a prepared page: position, payload and reasons, read back from COPY text. */
function rejectedOf(p: ReturnType<typeof parsePage>): { pos: number; payload: string; reasons: string }[] {
  if (!p.ok) throw new Error(p.reason);
  const unescape = (f: string) => f.replace(/\\([\\tnr])/g, (_, c: string) => ({ t: '\t', n: '\n', r: '\r' })[c] ?? c);
  return Buffer.from(p.rows)
    .toString('utf8')
    .split('\n')
    .filter(Boolean)
    .map((line) => line.split('\t'))
    .filter((f) => f[12] !== '\\N')
    .map((f) => ({ pos: Number(f[1]), payload: unescape(f[11]!), reasons: unescape(f[12]!) }));
}

describe('rejected records', () => {
  const deep = (n: number, inner = '1') => '['.repeat(n) + inner + ']'.repeat(n);

  it('keep their payload exactly as the source wrote it, on the scan and on the reference alike', () => {
    const bad = [
      withField(41, 'account_balance', '1e400'),
      // Rejected for its email; its 1.0 and its spacing stay as written.
      `{ "email" : "nope",\n  "customer_id":"C-42", "first_name":"A", "last_name":"B", "account_balance": 1.0, "z": -0.0E+00 }`,
      `{"last_name":"Ł\\u00f3d\\u017a","customer_id":"C-43","first_name":"\\ud800"}`,
    ];
    const body = page([generated(40), ...bad, generated(44)]);
    // A key written with an escape: the scan steps aside and parsePage decides alone.
    const escaped = Buffer.from(body.toString('utf8').replace('"data"', '"d\\u0061ta"'));
    for (const b of [body, escaped]) {
      const rejected = rejectedOf(preparePage(PAGE, b));
      expect(rejected.map((r) => [r.pos, r.payload])).toEqual(bad.map((text, k) => [k + 1, text]));
      expect(rejected[0]!.reasons).toMatch(/account_balance: must be a number/);
    }
    expect(check(body).outcome).toBe('scanned');
    expect(check(escaped).outcome).toBe('stepped aside');
  });

  it('nested 10,000 levels deep, in a known field, an unknown one or as the record itself, are one rejected record each', () => {
    const deepRecords = [
      withField(51, 'first_name', deep(10_000, '"x"')),
      withField(52, 'notes', deep(10_000)),
      deep(10_000),
      withField(53, 'address', deep(5_000, '{"a":' + deep(5_000) + '}')),
    ];
    const body = page([generated(50), ...deepRecords, generated(54)]);
    const parsed = parsePage(PAGE, body);
    expect(parsed).toMatchObject({ ok: true, records: 6, rejected: 3 });
    const rejected = rejectedOf(parsed);
    expect(rejected.map((r) => r.pos)).toEqual([1, 3, 4]);
    expect(rejected.map((r) => r.payload)).toEqual([deepRecords[0], deepRecords[2], deepRecords[3]]);
    expect(rejected[0]!.reasons).toMatch(/first_name: must be a string/);
    expect(rejected[1]!.reasons).toMatch(/record: must be a JSON object/);
    expect(rejected[2]!.reasons).toMatch(/address: must be a string or null/);
    expect(check(body).outcome).toBe('scanned');
  });

  it('a page nested deep instead of an object is a malformed page, not a crash; deep envelope fields are ignored', () => {
    expect(preparePage(PAGE, Buffer.from(deep(100_000)))).toEqual({ ok: false, reason: 'body is not a JSON object' });
    expect(preparePage(PAGE, Buffer.from(`{"data":${deep(100_000)}}`))).toMatchObject({ ok: true, records: 1, rejected: 1 });
    const meta = page([generated(60)], (data) => `{"meta":${deep(100_000)},"data":${data}}`);
    expect(preparePage(PAGE, meta)).toMatchObject({ ok: true, records: 1, rejected: 0 });
  });

  it('are found where JSON.parse finds them: the last "data" key, any key spelling, any spacing', () => {
    const text = (b: string) => {
      const buf = Buffer.from(b);
      const spans = recordSpans(buf)!;
      return Array.from({ length: spans.length / 2 }, (_, k) => buf.subarray(spans[2 * k], spans[2 * k + 1]).toString());
    };
    expect(text('{"data":[1],"data":[ "a" , {"b":"]"} ,[[]],null ]}')).toEqual(['"a"', '{"b":"]"}', '[[]]', 'null']);
    expect(text('\ufeff { "x" : {"data":[9]}, "d\\u0061ta" : [ 1e400,\n-1.0 ] }')).toEqual(['1e400', '-1.0']);
    expect(text('{"data":[]}')).toEqual([]);
    expect(recordSpans(Buffer.from('{"total":1}'))).toBeNull();
  });
});
