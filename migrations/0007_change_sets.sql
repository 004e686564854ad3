-- Every run is a change set (issue #13): what each run inserted, updated and
-- deleted, readable per run and per customer, previewable (dry run) and
-- undoable (revert). Written by src/pipeline/ingest/loader.ts (changeSetSql),
-- read by src/pipeline/ingest/changes-repository.ts.

-- A customer's stored values, without its id: the before- and after-images.
-- text rather than varchar(n): an image is only ever written back into
-- `customers`, whose columns check the lengths.
CREATE TYPE customer_image AS (
  first_name      text,
  last_name       text,
  email           text,
  phone           text,
  address         text,
  date_of_birth   date,
  account_balance numeric(15,2),
  created_at      timestamp
);

-- One row per (run, customer) the run changed. Kept lean, because a first
-- ingest writes one per record:
--   before  the stored row before the run (NULL for an insert);
--   after   stored only for a dry run, whose result is not in `customers`.
--           Otherwise it is derived when read: the next applied change's
--           before-image of the same customer, else the current row (only
--           ingests and reverts write `customers`, one at a time, and each
--           logs what it writes);
--   fields  a bit mask of the fields that differ between before and after,
--           in the order of customer_image (bit 0 = first_name);
--   change  'i' insert, 'u' update, 'd' delete.
-- No foreign key to ingestion_runs: its per-row check would cost every
-- logged row; runs are never deleted, and change sets are pruned by run id.
CREATE TABLE customer_changes (
  run_id      bigint      NOT NULL,
  fields      smallint    NOT NULL,
  change      "char"      NOT NULL CHECK (change IN ('i', 'u', 'd')),
  dry_run     boolean     NOT NULL DEFAULT false,
  customer_id varchar(50) NOT NULL,
  before      customer_image,
  after       customer_image,
  -- A run's changes in customer_id order (GET /api/ingest/runs/:id/changes);
  -- `change` rides along so that its filter is read from the index.
  PRIMARY KEY (run_id, customer_id) INCLUDE (change)
);
-- A customer's history, newest first, and "the next change of this customer
-- after run N" (the after-image, and the conflicts of a revert).
CREATE INDEX customer_changes_customer ON customer_changes (customer_id, run_id);

ALTER TABLE ingestion_runs
  ADD COLUMN deleted           integer NOT NULL DEFAULT 0,
  ADD COLUMN dry_run           boolean NOT NULL DEFAULT false,
  ADD COLUMN reverts           bigint REFERENCES ingestion_runs (id),
  ADD COLUMN reverted_by       bigint REFERENCES ingestion_runs (id),
  ADD COLUMN changes_pruned_at timestamptz;

-- The runs before this migration logged no change set: as if pruned, so
-- that a revert of one is refused instead of undoing nothing.
UPDATE ingestion_runs SET changes_pruned_at = now();

-- The runs whose change sets are still kept, by age (the retention prune).
CREATE INDEX ingestion_runs_changes_kept ON ingestion_runs (started_at) WHERE changes_pruned_at IS NULL;

-- An image in the read API's record shape (as customers-repository.ts COLUMNS
-- formats a row): dates and timestamps as text, the balance as a number.
CREATE FUNCTION customer_image_json(id text, img customer_image) RETURNS json
LANGUAGE sql STABLE AS $$
  SELECT CASE WHEN img IS NULL THEN NULL ELSE json_build_object(
    'customer_id', id,
    'first_name', (img).first_name,
    'last_name', (img).last_name,
    'email', (img).email,
    'phone', (img).phone,
    'address', (img).address,
    'date_of_birth', to_char((img).date_of_birth, 'YYYY-MM-DD'),
    'account_balance', (img).account_balance::float8,
    'created_at', to_char((img).created_at, 'YYYY-MM-DD"T"HH24:MI:SS')
  ) END
$$;
