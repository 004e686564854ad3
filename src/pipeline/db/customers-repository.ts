// Reads of stored customers. Dates, timestamps and balances are formatted by
// PostgreSQL into the seed's JSON forms, so no time zone of this process (or
// of the server's session) can shift them.
import type { Pool } from 'pg';
import type { Customer } from '../../customer.js';

/** The read API's columns in the seed's JSON forms (also used by customer-query.ts). */
export const COLUMNS = `customer_id, first_name, last_name, email, phone, address,
  to_char(date_of_birth, 'YYYY-MM-DD') AS date_of_birth,
  account_balance::float8 AS account_balance,
  to_char(created_at, 'YYYY-MM-DD"T"HH24:MI:SS') AS created_at`;

export async function getCustomer(pool: Pool, customerId: string): Promise<Customer | null> {
  const { rows } = await pool.query<Customer>({
    name: 'customer-by-id',
    text: `SELECT ${COLUMNS} FROM customers WHERE customer_id = $1`,
    values: [customerId],
  });
  return rows[0] ?? null;
}

/** Anchors are every ANCHOR_STRIDE-th id (migrations/0003_page_anchors.sql). */
export const ANCHOR_STRIDE = 100;

/** $1 = limit, $2 = offset. */
export const LIST_SQL = `
SELECT (SELECT n FROM customers_count) AS total, p.*
FROM (SELECT 1) AS one
LEFT JOIN (
  SELECT ${COLUMNS} FROM customers
  WHERE customer_id >= COALESCE((SELECT customer_id FROM anchor), '')
  ORDER BY customer_id
  OFFSET CASE WHEN EXISTS (SELECT 1 FROM anchor) THEN $2::bigint % ${ANCHOR_STRIDE} ELSE $2::bigint END
  LIMIT CASE WHEN $2::bigint < (SELECT n FROM customers_count) THEN $1::bigint ELSE 0 END
) AS p ON true`.replace(
  /anchor/g,
  // The anchor of the page's bucket, when the anchors are up to date.
  `(SELECT pa.customer_id FROM customers_page_anchors pa
    WHERE pa.bucket = $2::bigint / ${ANCHOR_STRIDE}
      AND (SELECT version = anchors_version FROM customers_count)) AS a`,
);

/**
 * A page in customer_id order, and the exact total (kept by triggers, not
 * counted), from one snapshot. A deep page starts at the anchor of its
 * bucket, so it reads at most ANCHOR_STRIDE + limit index entries; when the
 * anchors are out of date it falls back to a plain OFFSET.
 */
export async function listCustomers(
  pool: Pool,
  page: number,
  limit: number,
): Promise<{ data: Customer[]; total: number }> {
  const { rows } = await pool.query<Customer & { total: string }>({
    name: 'customers-page',
    text: LIST_SQL,
    values: [limit, (page - 1) * limit],
  });
  const total = Number(rows[0]?.total ?? 0);
  const data = rows[0]?.customer_id == null ? [] : rows.map(({ total: _t, ...c }) => c as Customer);
  return { data, total };
}

/** Rebuilds the page anchors when the set of ids changed since they were built. */
export async function refreshPageAnchors(db: Pick<Pool, 'query'>): Promise<boolean> {
  const { rows } = await db.query<{ stale: boolean }>('SELECT version <> anchors_version AS stale FROM customers_count');
  if (!rows[0]?.stale) return false;
  await db.query('SELECT rebuild_customers_page_anchors()');
  return true;
}
