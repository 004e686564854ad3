// The customer record's fields, each declared once: its name, JSON type and
// limits, its column, how it is read back into the seed's JSON form, and
// whether a null in the source keeps the stored value. The JSON Schema and
// both validators (customer.ts), the page scan's field facts (page-scan.ts),
// the COPY rows and the staging tables (loader.ts), and the read API's
// columns (customers-repository.ts), the merge's column lists and the
// change log's images and changed-field masks (loader.ts) are all made from
// this table. Adding a field is a row here and a migration that adds its
// column to `customers` and its attribute to the `customer_image` type (in
// the table's order). The key comes first.

/**
 * How a field is written in JSON and checked:
 * - `text`: a string (of at most `maxChars` characters when set);
 * - `email`: a text that is an email address (EMAIL_RE);
 * - `date`: "YYYY-MM-DD", a real calendar date;
 * - `timestamp`: "YYYY-MM-DDTHH:MM:SS", a real date and time (no zone);
 * - `money`: a number with at most 2 decimals that numeric(15,2) holds.
 */
export type FieldKind = 'text' | 'email' | 'date' | 'timestamp' | 'money';

export interface FieldSpec {
  readonly name: string;
  readonly kind: FieldKind;
  /** Required fields are non-empty strings, NOT NULL columns; the others may be null or absent. */
  readonly required: boolean;
  /** Characters (code points, as varchar(n) counts them) at most; null = unbounded. */
  readonly maxChars: number | null;
  /** The column's type in `customers` (migrations/0001_customers.sql). */
  readonly column: string;
  /** A null (or absent) value in the source keeps the stored value on a merge. */
  readonly nullKeepsStored: boolean;
  /** An example value, for the API documents. */
  readonly example: string | number;
}

export const FIELD_TABLE = [
  { name: 'customer_id', kind: 'text', required: true, maxChars: 50, column: 'varchar(50)', nullKeepsStored: false, example: 'CUST-0001' },
  { name: 'first_name', kind: 'text', required: true, maxChars: 100, column: 'varchar(100)', nullKeepsStored: false, example: 'Amélie' },
  { name: 'last_name', kind: 'text', required: true, maxChars: 100, column: 'varchar(100)', nullKeepsStored: false, example: 'Dupont' },
  {
    name: 'email',
    kind: 'email',
    required: true,
    maxChars: 255,
    column: 'varchar(255)',
    nullKeepsStored: false,
    example: 'amelie.dupont@example.com',
  },
  {
    name: 'phone',
    kind: 'text',
    required: false,
    maxChars: 20,
    column: 'varchar(20)',
    nullKeepsStored: true,
    example: '+33 1 23 45 67 89',
  },
  {
    name: 'address',
    kind: 'text',
    required: false,
    maxChars: null,
    column: 'text',
    nullKeepsStored: true,
    example: '12 Rue de Rivoli, Paris',
  },
  { name: 'date_of_birth', kind: 'date', required: false, maxChars: null, column: 'date', nullKeepsStored: true, example: '1990-02-28' },
  {
    name: 'account_balance',
    kind: 'money',
    required: false,
    maxChars: null,
    column: 'numeric(15,2)',
    nullKeepsStored: true,
    example: 1520.75,
  },
  {
    name: 'created_at',
    kind: 'timestamp',
    required: false,
    maxChars: null,
    column: 'timestamp',
    nullKeepsStored: true,
    example: '2024-01-15T10:30:00',
  },
] as const satisfies readonly FieldSpec[];

export type Field = (typeof FIELD_TABLE)[number]['name'];

/** The field names, in the table's order (the staging row's column order). */
export const FIELDS: readonly Field[] = FIELD_TABLE.map((f) => f.name);

/** The key of a record: the first field. */
export const KEY_FIELD = 'customer_id' satisfies Field;

/** numeric(15,2): at most 13 digits before the point. */
export const MONEY_ABS_BELOW = 1e13;

/** How a column is read back into its JSON form, by PostgreSQL (no time zone of a process or session can shift it). */
export function readBack(f: FieldSpec, table = ''): string {
  const col = `${table}${f.name}`;
  switch (f.kind) {
    case 'date':
      return `to_char(${col}, 'YYYY-MM-DD') AS ${f.name}`;
    case 'timestamp':
      return `to_char(${col}, 'YYYY-MM-DD"T"HH24:MI:SS') AS ${f.name}`;
    case 'money':
      return `${col}::float8 AS ${f.name}`;
    default:
      return table ? `${col} AS ${f.name}` : col;
  }
}

/** The column's type in a staging table: text for strings (limits are the validator's), else the column's own. */
export function stagingType(f: FieldSpec): string {
  return f.kind === 'text' || f.kind === 'email' ? 'text' : f.column;
}
