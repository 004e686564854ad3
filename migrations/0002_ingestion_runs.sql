-- One row per ingest, written outside the ingest's transaction so that
-- failed runs stay recorded with their error.
CREATE TABLE ingestion_runs (
  id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  status      text        NOT NULL DEFAULT 'running' CHECK (status IN ('running', 'succeeded', 'failed')),
  source_url  text        NOT NULL,
  started_at  timestamptz NOT NULL DEFAULT now(),
  finished_at timestamptz,
  pages       integer     NOT NULL DEFAULT 0,
  fetched     integer     NOT NULL DEFAULT 0,
  inserted    integer     NOT NULL DEFAULT 0,
  updated     integer     NOT NULL DEFAULT 0,
  unchanged   integer     NOT NULL DEFAULT 0,
  rejected    integer     NOT NULL DEFAULT 0,
  retries     integer     NOT NULL DEFAULT 0,
  error       text
);
CREATE INDEX ingestion_runs_running ON ingestion_runs (id) WHERE status = 'running';

-- Records that broke the schema: the raw JSON text as received (text, not
-- jsonb, so that even a NUL or a lone surrogate is kept as it came) and why.
CREATE TABLE rejected_records (
  id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  run_id      bigint  NOT NULL REFERENCES ingestion_runs (id) ON DELETE CASCADE,
  page        integer NOT NULL,
  position    integer NOT NULL,
  customer_id text,
  payload     text    NOT NULL,
  reasons     text[]  NOT NULL
);
CREATE INDEX rejected_records_run ON rejected_records (run_id, id);
