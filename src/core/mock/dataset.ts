// The records the mock serves, held as the UTF-8 bytes of their JSON in a
// record arena (record-arena.ts), so a page is a view of memory, not a join
// of strings. Two kinds: a file, or a synthetic set computed from (seed,
// index) on demand, whose memory stays bounded at any size.
import { readFileSync } from 'node:fs';
import { validateCustomer, type Customer } from '../customer.js';
import { RecordArena } from './record-arena.js';
import { seededRandom } from './random.js';

export interface Dataset {
  readonly size: number;
  /**
   * The JSON of the records in [start, end) (clamped to the dataset), in
   * dataset order and comma-separated, as UTF-8 bytes: pieces to send one
   * after the other (none for an empty range). They may be views of the
   * dataset's own memory: read them, never write to them.
   */
  slice(start: number, end: number): Buffer[];
  /** The JSON of the record with this id as UTF-8 bytes (a view, as above), or undefined. */
  get(customerId: string): Buffer | undefined;
}

export interface DatasetOptions {
  /** Records per arena chunk (tests make it small to cross chunk boundaries). */
  chunkRecords?: number;
}

export class DatasetError extends Error {
  override name = 'DatasetError';
}

// In a function of its own: a closure over `records` in datasetFromRecords
// would keep them alive as long as the dataset.
function packRecords(records: readonly unknown[], chunkRecords?: number): RecordArena {
  // JSON.stringify gives undefined for undefined (or a function); in an array that is null.
  return new RecordArena(records.length, (i) => JSON.stringify(records[i]) ?? 'null', chunkRecords).fillAll();
}

/** A dataset over records already in memory (a file's, or a test's); it keeps their JSON, not the records. */
export function datasetFromRecords(records: readonly unknown[], opts: DatasetOptions = {}): Dataset {
  const arena = packRecords(records, opts.chunkRecords);
  const byId = new Map<string, number>();
  records.forEach((r, i) => {
    const id = (r as { customer_id?: unknown } | null)?.customer_id;
    if (typeof id === 'string' && !byId.has(id)) byId.set(id, i);
  });
  return {
    size: arena.count,
    slice: (start, end) => arena.pieces(Math.max(0, start), Math.min(end, arena.count), []),
    get: (id) => {
      const i = byId.get(id);
      return i === undefined ? undefined : arena.record(i);
    },
  };
}

/**
 * Reads a JSON data file: an array of records, or an object with a `data` or
 * `customers` array. With `strict`, every record must pass the record schema
 * and ids must be unique; the error names the file and the first bad record.
 */
export function loadDataFile(file: string, strict = true): Dataset {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new DatasetError(`MOCK_DATA_FILE ${file}: cannot be read (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new DatasetError(`MOCK_DATA_FILE ${file}: not valid JSON (${(err as Error).message})`);
  }
  const records = Array.isArray(parsed)
    ? parsed
    : ((parsed as { data?: unknown; customers?: unknown } | null)?.data ?? (parsed as { customers?: unknown } | null)?.customers);
  if (!Array.isArray(records)) {
    throw new DatasetError(`MOCK_DATA_FILE ${file}: expected an array of customer records (or {"data": [...]})`);
  }
  if (strict) {
    const seen = new Set<string>();
    records.forEach((r, i) => {
      const v = validateCustomer(r);
      if (!v.ok) {
        const id = v.customerId === null ? '' : ` (customer_id "${v.customerId}")`;
        throw new DatasetError(`MOCK_DATA_FILE ${file}: record #${i}${id} is invalid: ${v.reasons.join('; ')}`);
      }
      if (seen.has(v.value.customer_id)) {
        throw new DatasetError(`MOCK_DATA_FILE ${file}: record #${i} repeats customer_id "${v.value.customer_id}"`);
      }
      seen.add(v.value.customer_id);
    });
  }
  return datasetFromRecords(records);
}

// ---- synthetic data -------------------------------------------------------

const FIRST = [
  'Amélie',
  'José',
  'Zoë',
  'Łukasz',
  'Søren',
  'Nguyễn',
  'Ana',
  'Liam',
  'Olivia',
  'Noah',
  'Emma',
  'Mateo',
  'Chloé',
  'Björn',
  'Aiko',
  'Priya',
  'Omar',
  'Fatima',
  'Yusuf',
  'Ingrid',
  'Kwame',
  'Mei',
  'Raúl',
  'Sinéad',
];
const LAST = [
  'Dupont',
  'García',
  'Müller',
  'Kowalski',
  'Øster',
  'Tanaka',
  'Smith',
  'Okafor',
  "O'Brien",
  'Rossi',
  'Novák',
  'Silva',
  'Andersson',
  'Haddad',
  'Kim',
  'Patel',
  'Cohen',
  'Ivanova',
  'Mensah',
  'Schmidt',
];
const STREETS = ['Main St', 'Rue de Rivoli', 'Königstraße', 'Calle Mayor', 'High Street', 'Via Roma', 'Ulica Długa', 'Elm Avenue'];
const CITIES = ['Springfield', 'Paris', 'München', 'Madrid', 'London', 'Roma', 'Gdańsk', 'Toronto'];

const pad = (n: number, w: number) => String(n).padStart(w, '0');
export const generatedId = (index: number) => `GEN-${pad(index + 1, 9)}`;

/** The index of a generated record's id (generatedId's inverse), or -1 for any other string. */
export function generatedIndex(id: string): number {
  const m = /^GEN-(\d{9})$/.exec(id);
  return m ? Number(m[1]) - 1 : -1;
}

/** The record at `index` of the synthetic dataset `seed`: a pure function. */
export function generateRecord(seed: number, index: number): Customer {
  const r = seededRandom((seed * 0x9e3779b1) ^ (index * 0x85ebca77));
  const pick = <T>(xs: readonly T[]) => xs[Math.floor(r() * xs.length)]!;
  const first = pick(FIRST);
  const last = pick(LAST);
  const maybe = <T>(v: T): T | null => (r() < 0.1 ? null : v);
  const y = 1940 + Math.floor(r() * 66);
  const m = 1 + Math.floor(r() * 12);
  const d = 1 + Math.floor(r() * 28);
  const cy = 2015 + Math.floor(r() * 11);
  const email = `${first}.${last}.${index + 1}@example.com`
    .normalize('NFD')
    .replace(/[^A-Za-z0-9.@]/g, '')
    .toLowerCase();
  return {
    customer_id: generatedId(index),
    first_name: first,
    last_name: last,
    email,
    phone: maybe(`+1-555-${pad(Math.floor(r() * 1000), 3)}-${pad(Math.floor(r() * 10000), 4)}`),
    address: maybe(`${1 + Math.floor(r() * 999)} ${pick(STREETS)}, ${pick(CITIES)}`),
    date_of_birth: maybe(`${y}-${pad(m, 2)}-${pad(d, 2)}`),
    account_balance: maybe(Math.round(r() * 2_000_000 - 100_000) / 100),
    created_at: maybe(
      `${cy}-${pad(1 + Math.floor(r() * 12), 2)}-${pad(1 + Math.floor(r() * 28), 2)}T${pad(Math.floor(r() * 24), 2)}:${pad(Math.floor(r() * 60), 2)}:${pad(Math.floor(r() * 60), 2)}`,
    ),
  };
}

/** Records of a synthetic set kept serialised once computed (about 250 bytes each). */
export const GENERATED_CACHE_MAX = 1_000_000;

const COMMA = Buffer.from(',');

/**
 * `size` synthetic records, computed on demand from (seed, index). The first
 * GENERATED_CACHE_MAX records are kept in an arena once computed, a chunk at
 * a time, so a page asked again costs no JSON; past that, records are
 * computed per request and memory stays flat at any size.
 */
export function generatedDataset(size: number, seed: number, opts: DatasetOptions = {}): Dataset {
  const json = (i: number) => JSON.stringify(generateRecord(seed, i));
  const arena = new RecordArena(Math.min(size, GENERATED_CACHE_MAX), json, opts.chunkRecords);
  return {
    size,
    slice(start, end) {
      const from = Math.max(0, start);
      const to = Math.min(end, size);
      const out = arena.pieces(from, Math.min(to, arena.count), []);
      const past = Math.max(from, arena.count);
      if (past < to) {
        const rest: string[] = [];
        for (let i = past; i < to; i++) rest.push(json(i));
        if (out.length) out.push(COMMA);
        out.push(Buffer.from(rest.join(',')));
      }
      return out;
    },
    get(id) {
      const i = generatedIndex(id);
      if (i < 0 || i >= size) return undefined;
      // A lookup reads the arena where it is filled, and does not fill it.
      return i < arena.count && arena.has(i) ? arena.record(i) : Buffer.from(json(i));
    },
  };
}
