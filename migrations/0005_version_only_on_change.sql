-- Statement-level triggers fire even when a statement touches no row (the
-- ingest's INSERT of zero new ids, on every unchanged re-ingest): count and
-- version only what really changed, so the page anchors are not rebuilt for
-- nothing.
CREATE OR REPLACE FUNCTION customers_count_insert() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  added bigint := (SELECT count(*) FROM inserted_rows);
BEGIN
  IF added > 0 THEN
    UPDATE customers_count SET n = n + added, version = version + 1;
  END IF;
  RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION customers_count_delete() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  removed bigint := (SELECT count(*) FROM deleted_rows);
BEGIN
  IF removed > 0 THEN
    UPDATE customers_count SET n = n - removed, version = version + 1;
  END IF;
  RETURN NULL;
END $$;
