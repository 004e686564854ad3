// Reads of stored customers. Dates, timestamps and balances are formatted by
// PostgreSQL into the seed's JSON forms, so no time zone of this process (or
// of the server's session) can shift them.
import DataLoader from 'dataloader';
import type { Pool } from 'pg';
import type { Customer } from '../customer.js';
import { FIELD_TABLE, readBack } from '../fields.js';

/** The read API's columns in the seed's JSON forms (also used by customer-query.ts), from the field table. */
export const COLUMNS = FIELD_TABLE.map((f) => readBack(f)).join(', ');

/** Anchors are every ANCHOR_STRIDE-th id (migrations/0003_page_anchors.sql). */
export const ANCHOR_STRIDE = 100;

/** $1 = the ids asked for (duplicates allowed). */
export const BY_IDS_SQL = `SELECT ${COLUMNS} FROM customers WHERE customer_id = ANY($1::text[])`;

/**
 * $1 = limits, $2 = offsets: one page per pair, answered in one statement and
 * so from one snapshot; `k` is the pair's 1-based position. A page with no rows
 * still gives one row (customer_id null) carrying the total.
 */
export const LIST_SQL = `
SELECT k.k, (SELECT n FROM customers_count) AS total, p.*
FROM unnest($1::bigint[], $2::bigint[]) WITH ORDINALITY AS k(lim, off, k)
LEFT JOIN LATERAL (
  SELECT ${COLUMNS} FROM customers
  WHERE customer_id >= COALESCE((SELECT customer_id FROM anchor), '')
  ORDER BY customer_id
  OFFSET CASE WHEN EXISTS (SELECT 1 FROM anchor) THEN k.off % ${ANCHOR_STRIDE} ELSE k.off END
  LIMIT CASE WHEN k.off < (SELECT n FROM customers_count) THEN k.lim ELSE 0 END
) AS p ON true
ORDER BY k.k, p.customer_id`.replace(
  /anchor/g,
  // The anchor of the page's bucket, when the anchors are up to date.
  `(SELECT pa.customer_id FROM customers_page_anchors pa
    WHERE pa.bucket = k.off / ${ANCHOR_STRIDE}
      AND (SELECT version = anchors_version FROM customers_count)) AS a`,
);

export interface CustomerPage {
  data: Customer[];
  total: number;
}

/**
 * The read API's two hot reads, batched: the lookups and pages asked while
 * the event loop handles one round of ready sockets go to PostgreSQL as one
 * statement each (DataLoader, dispatched on setImmediate). Under load that is
 * one round trip for many requests instead of one each, which is most of
 * what a read costs here (BENCHMARKS.md). Nothing is cached: a batch is sent
 * after every request in it arrived, so each answer is from a snapshot taken
 * after its request came in.
 *
 * A deep page starts at the anchor of its bucket, so it reads at most
 * ANCHOR_STRIDE + limit index entries; when the anchors are out of date it
 * falls back to a plain OFFSET. `total` is the trigger-kept count, exact.
 */
export class CustomerReader {
  private readonly byId: DataLoader<string, Customer | null>;
  private readonly pages: DataLoader<string, CustomerPage>;

  constructor(
    private readonly pool: Pool,
    /** DB_TRANSACTION_POOLER: the pool goes through PgBouncer in transaction mode. */
    private readonly opts: { transactionPooler?: boolean } = {},
  ) {
    const batch = { cache: false, batchScheduleFn: (run: () => void) => setImmediate(run), maxBatchSize: 1000 };
    this.byId = new DataLoader((ids) => this.loadByIds(ids), batch);
    this.pages = new DataLoader((keys) => this.loadPages(keys), batch);
  }

  get(customerId: string): Promise<Customer | null> {
    return this.byId.load(customerId);
  }

  /** Page `page` (1-based) of `limit` customers in customer_id order, with the total. */
  page(page: number, limit: number): Promise<CustomerPage> {
    return this.pages.load(`${limit}:${(page - 1) * limit}`);
  }

  /**
   * The two reads as named statements (parsed and planned once per
   * connection: unnamed, the by-id bench ran 14,100 instead of 17,000 lookups/s), unless
   * through a transaction pooler: there a named statement is prepared on the
   * server connection the client had first, and the next batch may run on
   * another ("prepared statement does not exist").
   */
  private statement(name: string, text: string, values: unknown[]): { text: string; values: unknown[]; name?: string } {
    return this.opts.transactionPooler ? { text, values } : { name, text, values };
  }

  private async loadByIds(ids: readonly string[]): Promise<(Customer | null)[]> {
    const { rows } = await this.pool.query<Customer>(this.statement('customers-by-ids', BY_IDS_SQL, [ids]));
    const found = new Map(rows.map((r) => [r.customer_id, r]));
    return ids.map((id) => found.get(id) ?? null);
  }

  private async loadPages(keys: readonly string[]): Promise<CustomerPage[]> {
    const distinct = [...new Set(keys)];
    const pairs = distinct.map((k) => k.split(':').map(Number) as [number, number]);
    const { rows } = await this.pool.query<Customer & { k: string; total: string }>(
      this.statement('customers-pages', LIST_SQL, [pairs.map((p) => p[0]), pairs.map((p) => p[1])]),
    );
    const answers: CustomerPage[] = distinct.map(() => ({ data: [], total: 0 }));
    for (const { k, total, ...c } of rows) {
      const answer = answers[Number(k) - 1]!;
      answer.total = Number(total);
      if (c.customer_id !== null) answer.data.push(c);
    }
    const byKey = new Map(distinct.map((k, i) => [k, answers[i]!]));
    // Requests that asked for the same page share its rows (read-only once answered).
    return keys.map((k) => byKey.get(k)!);
  }
}

/** Rebuilds the page anchors when the set of ids changed since they were built. */
export async function refreshPageAnchors(db: Pick<Pool, 'query'>): Promise<boolean> {
  const { rows } = await db.query<{ stale: boolean }>('SELECT version <> anchors_version AS stale FROM customers_count');
  if (!rows[0]?.stale) return false;
  await db.query('SELECT rebuild_customers_page_anchors()');
  return true;
}
