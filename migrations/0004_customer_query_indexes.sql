-- Indexes behind the filters, sorts and keyset cursors of GET /api/customers
-- (src/pipeline/db/customer-query.ts). Each query shape reads an index, never
-- the whole table; test/pipeline/customers-query.test.ts checks the plans.

-- Case-insensitive prefix search (`q`) over first name, last name and email:
-- `lower(col) LIKE 'prefix%'` is a range scan of a pattern_ops index whatever
-- the database collation (a default-collation index serves LIKE only under
-- "C"). The three are OR-ed: a BitmapOr of these indexes. The email one also
-- serves the exact, case-insensitive `email` filter (`lower(email) = ...`):
-- text_pattern_ops has the ordinary equality operator.
CREATE INDEX customers_first_name_lower_prefix ON customers (lower(first_name) text_pattern_ops);
CREATE INDEX customers_last_name_lower_prefix  ON customers (lower(last_name) text_pattern_ops);
CREATE INDEX customers_email_lower_prefix      ON customers (lower(email) text_pattern_ops);

-- Sorts and keyset cursors: (column, customer_id), in the column's own
-- collation, read forwards for `sort=col` (NULLs last) and backwards for
-- `sort=-col` (NULLs first) -- PostgreSQL's default NULL placement, so one
-- index serves both directions. The trailing customer_id breaks ties and is
-- the second half of the cursor's row comparison `(col, customer_id) > (...)`.
-- The created_at and account_balance ones also serve the range filters.
CREATE INDEX customers_first_name_id      ON customers (first_name, customer_id);
CREATE INDEX customers_last_name_id       ON customers (last_name, customer_id);
CREATE INDEX customers_email_id           ON customers (email, customer_id);
CREATE INDEX customers_created_at_id      ON customers (created_at, customer_id);
CREATE INDEX customers_account_balance_id ON customers (account_balance, customer_id);
CREATE INDEX customers_date_of_birth_id   ON customers (date_of_birth, customer_id);
