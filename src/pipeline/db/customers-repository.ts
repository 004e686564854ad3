// Reads of stored customers. Dates, timestamps and balances are formatted by
// PostgreSQL into the seed's JSON forms, so no time zone of this process (or
// of the server's session) can shift them.
import type { Pool } from 'pg';
import type { Customer } from '../../customer.js';

const COLUMNS = `customer_id, first_name, last_name, email, phone, address,
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

/** A page in customer_id order, and the exact total (kept by triggers, not counted). */
export async function listCustomers(
  pool: Pool,
  page: number,
  limit: number,
): Promise<{ data: Customer[]; total: number }> {
  const { rows } = await pool.query<Customer & { total: string }>({
    name: 'customers-page',
    text: `SELECT (SELECT n FROM customers_count) AS total, p.*
           FROM (SELECT ${COLUMNS} FROM customers ORDER BY customer_id LIMIT $1 OFFSET $2) AS p
           RIGHT JOIN (SELECT 1) AS one ON true`,
    values: [limit, (page - 1) * limit],
  });
  const total = Number(rows[0]?.total ?? 0);
  const data = rows[0]?.customer_id == null ? [] : rows.map(({ total: _t, ...c }) => c as Customer);
  return { data, total };
}
