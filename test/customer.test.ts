import { describe, expect, it } from 'vitest';
import { validateCustomer, validateCustomerFully, validFast } from '../src/core/customer.js';
import { generateRecord } from '../src/core/mock/dataset.js';

// Values that sit on every edge the full check knows, per field.
const EDGES: Record<string, unknown[]> = {
  customer_id: [
    '',
    'C-1',
    'x'.repeat(50),
    'x'.repeat(51),
    '😀'.repeat(25),
    '😀'.repeat(26),
    'a\u0000b',
    'a\ud800b',
    'tab\there',
    null,
    7,
    undefined,
  ],
  first_name: ['', 'Zoë', 'x'.repeat(100), 'x'.repeat(101), '𝒜'.repeat(100), 'line\nbreak', 'back\\slash', '\udc00', [], {}],
  last_name: ["O'Brien", '', null, 'Nguyễn', 'x'.repeat(100), false],
  email: [
    'a@b.co',
    'a@b',
    'no-at.example.com',
    'a b@c.de',
    `${'x'.repeat(243)}@example.com`,
    `${'x'.repeat(244)}@example.com`,
    '',
    null,
    'é@example.com',
    'a@-b.com',
  ],
  phone: [null, undefined, '', '+1-555-000-0000', 'x'.repeat(20), 'x'.repeat(21), '☎'.repeat(20), 5551234, 'nul\u0000'],
  address: [null, '', '12 Rue de Rivoli\tParis', 'x'.repeat(5000), '\ud83d', 1],
  date_of_birth: [
    null,
    '1990-02-28',
    '2000-02-29',
    '1900-02-29',
    '2024-02-29',
    '2023-02-29',
    '2023-04-31',
    '2023-13-01',
    '0000-01-01',
    '0001-01-01',
    '1990-1-1',
    '1990-01-01T00:00:00',
    '１９９０-01-01',
    19900101,
    '',
  ],
  account_balance: [
    null,
    0,
    -0,
    1.15,
    0.1 + 0.2,
    1520.75,
    -20,
    1e-7,
    0.001,
    9999999999999.99,
    1e13,
    -1e13,
    1e21,
    12345678901.23,
    '10.00',
    true,
  ],
  created_at: [
    null,
    '2024-01-15T10:30:00',
    '2024-01-15 10:30:00',
    '2024-01-15T24:00:00',
    '2024-01-15T23:60:00',
    '2024-01-15T23:59:60',
    '2023-02-29T00:00:00',
    '2024-01-15T10:30:00Z',
    '2024-01-15T10:30:00.000',
    1705314600,
    '',
  ],
};

function* cases(): Generator<unknown> {
  const base = generateRecord(7, 3);
  for (const [field, values] of Object.entries(EDGES)) {
    for (const v of values) {
      const r: Record<string, unknown> = { ...base };
      if (v === undefined) delete r[field];
      else r[field] = v;
      yield r;
    }
  }
  yield { ...base, extra: 'ignored' };
  yield null;
  yield [];
  yield 'record';
  yield {};
}

describe('validateCustomer', () => {
  it("gives the full check's answer — value or reasons — on every edge of every field", () => {
    let n = 0;
    for (const r of cases()) {
      expect(validateCustomer(r), JSON.stringify(r)).toEqual(validateCustomerFully(r));
      n++;
    }
    expect(n).toBeGreaterThan(80);
  });

  it('agrees with the full check on 20,000 generated records, and takes the fast path for them', () => {
    for (let i = 0; i < 20_000; i++) {
      const r = JSON.parse(JSON.stringify(generateRecord(42, i)));
      const full = validateCustomerFully(r);
      expect(full.ok).toBe(true);
      expect(validFast(r)).toEqual(full.ok ? full.value : null);
    }
  });

  it('never accepts on the fast path what the full check rejects, for random balances and dates', () => {
    for (let i = 0; i < 20_000; i++) {
      const r: Record<string, unknown> = { ...generateRecord(1, i) };
      r.account_balance = Number((Math.random() * 1e6 - 5e5).toFixed(1 + (i % 4)));
      r.date_of_birth =
        `${1 + (i % 2999)}`.padStart(4, '0') + `-${String(1 + (i % 13)).padStart(2, '0')}-${String(1 + (i % 31)).padStart(2, '0')}`;
      const fast = validFast(r);
      const full = validateCustomerFully(r);
      if (fast !== null) expect(full).toEqual({ ok: true, value: fast });
      expect(validateCustomer(r)).toEqual(full);
    }
  });

  it('turns absent optional fields into null and drops unknown fields', () => {
    const { phone: _p, address: _a, ...rest } = generateRecord(3, 1);
    const v = validateCustomer({ ...rest, nickname: 'x' });
    expect(v.ok && v.value).toEqual({ ...rest, phone: null, address: null });
  });
});
