-- The seed's table, exactly as DESIGN.md §1 defines it.
CREATE TABLE customers (
  customer_id     varchar(50)  PRIMARY KEY,
  first_name      varchar(100) NOT NULL,
  last_name       varchar(100) NOT NULL,
  email           varchar(255) NOT NULL,
  phone           varchar(20),
  address         text,
  date_of_birth   date,
  account_balance numeric(15,2),
  created_at      timestamp
);

-- An exact row count kept by statement-level triggers, so a page's `total`
-- is one row read instead of a count(*) scan of the table.
CREATE TABLE customers_count (
  singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
  n         bigint  NOT NULL
);
INSERT INTO customers_count (n) SELECT count(*) FROM customers;

CREATE FUNCTION customers_count_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  UPDATE customers_count SET n = n + (SELECT count(*) FROM inserted_rows);
  RETURN NULL;
END $$;

CREATE FUNCTION customers_count_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  UPDATE customers_count SET n = n - (SELECT count(*) FROM deleted_rows);
  RETURN NULL;
END $$;

CREATE FUNCTION customers_count_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  UPDATE customers_count SET n = 0;
  RETURN NULL;
END $$;

CREATE TRIGGER customers_count_insert AFTER INSERT ON customers
  REFERENCING NEW TABLE AS inserted_rows FOR EACH STATEMENT EXECUTE FUNCTION customers_count_insert();
CREATE TRIGGER customers_count_delete AFTER DELETE ON customers
  REFERENCING OLD TABLE AS deleted_rows FOR EACH STATEMENT EXECUTE FUNCTION customers_count_delete();
CREATE TRIGGER customers_count_truncate AFTER TRUNCATE ON customers
  FOR EACH STATEMENT EXECUTE FUNCTION customers_count_truncate();
