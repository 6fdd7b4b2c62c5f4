-- PostgreSQL roles of the reserves database; idempotent, safe to re-run after a migration.
-- Applies to the schema in force (current_schema(): set search_path first).
--   riskcast_publisher  appends: `riskcast publish` connects as a member of it (SELECT,
--                       INSERT; UPDATE only of publications.is_current; takes publish_lock)
--   riskcast_finance    reads only: SELECT on tables and views, nothing else
-- Both are NOLOGIN groups: give people and services their own LOGIN role IN ROLE one of
-- them (docs/finance.md).
DO $$
BEGIN
    CREATE ROLE riskcast_publisher NOLOGIN;
EXCEPTION WHEN duplicate_object OR unique_violation THEN
    NULL;  -- exists already (or another session created it a moment ago)
END $$;

DO $$
BEGIN
    CREATE ROLE riskcast_finance NOLOGIN;
EXCEPTION WHEN duplicate_object OR unique_violation THEN
    NULL;
END $$;

DO $$
DECLARE
    s text := current_schema();
BEGIN
    IF s IS NULL THEN
        RAISE EXCEPTION 'no current schema: SET search_path to the reserves schema first';
    END IF;
    EXECUTE format('GRANT USAGE ON SCHEMA %I TO riskcast_publisher, riskcast_finance', s);
    -- the publisher runs the migrations, so it may create objects in the schema
    EXECUTE format('GRANT CREATE ON SCHEMA %I TO riskcast_publisher', s);
    -- history is append-only for the publisher: it inserts runs, never changes or deletes
    -- them (a correction is a new run); the one mutable fact is which run is current
    EXECUTE format('GRANT SELECT, INSERT ON ALL TABLES IN SCHEMA %I TO riskcast_publisher', s);
    EXECUTE format('REVOKE UPDATE ON ALL TABLES IN SCHEMA %I FROM riskcast_publisher', s);
    EXECUTE format('GRANT UPDATE (is_current) ON %I.publications TO riskcast_publisher', s);
    -- LOCK TABLE ... IN EXCLUSIVE MODE needs UPDATE: only the publisher may take the lock
    IF to_regclass(format('%I.publish_lock', s)) IS NOT NULL THEN
        EXECUTE format('GRANT UPDATE ON %I.publish_lock TO riskcast_publisher', s);
    END IF;
    -- every table and view: reserves, reserves_totals, reserves_horizon and their *_latest views
    EXECUTE format('GRANT SELECT ON ALL TABLES IN SCHEMA %I TO riskcast_finance', s);
    -- finance can read what is created later, by the role running this file or the publisher
    EXECUTE format('ALTER DEFAULT PRIVILEGES IN SCHEMA %I GRANT SELECT ON TABLES TO riskcast_finance', s);
    EXECUTE format(
        'ALTER DEFAULT PRIVILEGES FOR ROLE riskcast_publisher IN SCHEMA %I '
        'GRANT SELECT ON TABLES TO riskcast_finance', s);
    -- nobody but the owner deletes history; finance never writes
    EXECUTE format('REVOKE DELETE, TRUNCATE ON ALL TABLES IN SCHEMA %I FROM riskcast_publisher', s);
    EXECUTE format(
        'REVOKE INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER ON ALL TABLES IN SCHEMA %I '
        'FROM riskcast_finance', s);
    -- the track record is derived data that every scoring replaces (V005): the one table the
    -- publisher may delete from; publications and their figures stay append-only
    IF to_regclass(format('%I.track_record', s)) IS NOT NULL THEN
        EXECUTE format('GRANT DELETE ON %I.track_record TO riskcast_publisher', s);
    END IF;
    -- not even SELECT on the lock table: a finance session could hold a lock that blocks publish
    IF to_regclass(format('%I.publish_lock', s)) IS NOT NULL THEN
        EXECUTE format('REVOKE ALL ON %I.publish_lock FROM riskcast_finance', s);
    END IF;
END $$;
