-- Deep pages without deep OFFSET scans. Every 100th customer_id (in order)
-- is kept as an anchor: page k of the read API starts at the anchor of its
-- bucket and skips fewer than 100 index entries, whatever the depth.
-- The anchors are rebuilt by the ingest that changes the set of ids, in its
-- transaction; `version` counts changes to that set (kept by the same
-- triggers as the row count), so anchors that are out of date (rows added
-- by hand, say) are detected and the read falls back to a plain OFFSET.
CREATE TABLE customers_page_anchors (
  bucket      integer     PRIMARY KEY,
  customer_id varchar(50) NOT NULL
);

ALTER TABLE customers_count
  ADD COLUMN version         bigint NOT NULL DEFAULT 0,
  ADD COLUMN anchors_version bigint NOT NULL DEFAULT -1;

CREATE OR REPLACE FUNCTION customers_count_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  UPDATE customers_count SET n = n + (SELECT count(*) FROM inserted_rows), version = version + 1;
  RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION customers_count_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  UPDATE customers_count SET n = n - (SELECT count(*) FROM deleted_rows), version = version + 1;
  RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION customers_count_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  UPDATE customers_count SET n = 0, version = version + 1;
  RETURN NULL;
END $$;

CREATE FUNCTION customers_ids_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  UPDATE customers_count SET version = version + 1;
  RETURN NULL;
END $$;

-- An id changed in place moves a row in the order.
CREATE TRIGGER customers_ids_changed AFTER UPDATE OF customer_id ON customers
  FOR EACH STATEMENT EXECUTE FUNCTION customers_ids_changed();

CREATE FUNCTION rebuild_customers_page_anchors() RETURNS void LANGUAGE sql AS $$
  DELETE FROM customers_page_anchors;
  INSERT INTO customers_page_anchors (bucket, customer_id)
    SELECT ((rn - 1) / 100)::int, customer_id
    FROM (SELECT customer_id, row_number() OVER (ORDER BY customer_id) AS rn FROM customers) AS ordered
    WHERE (rn - 1) % 100 = 0;
  UPDATE customers_count SET anchors_version = version;
$$;

SELECT rebuild_customers_page_anchors();
