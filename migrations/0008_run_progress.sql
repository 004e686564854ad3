-- A running run's progress, kept in its row (about once a second) so that
-- any process — the dashboard of another replica, the CLI — shows live
-- counts, and the phases' timings of every run.
ALTER TABLE ingestion_runs
  ADD COLUMN phase          text CHECK (phase IN ('fetching', 'merging')),
  ADD COLUMN pages_expected integer,
  -- From the start to the last page staged, and from there to the commit.
  ADD COLUMN fetch_ms       integer,
  ADD COLUMN merge_ms       integer;
