-- The service's queries are short OLTP reads and one bulk merge: JIT
-- compilation (hundreds of milliseconds per query) never pays for itself on
-- them, and a mis-estimated read can trigger it. Set for this database, so it
-- holds for every connection (also behind PgBouncer, which rejects startup
-- options). Without the privilege to alter the database, keep the default.
DO $$
BEGIN
  EXECUTE format('ALTER DATABASE %I SET jit = off', current_database());
EXCEPTION WHEN insufficient_privilege THEN
  RAISE NOTICE 'jit left as configured: not allowed to alter database %', current_database();
END $$;
