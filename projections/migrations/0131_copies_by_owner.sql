-- No role but the owner creates or drops database objects. `kim replay`'s copies (a schema per copy with
-- a table LIKE each of the projection's tables, its checkpoints and, for an as-of copy, its rejections)
-- are made and dropped by these two functions, which run as the owner, check the names and grant the
-- operations role what a replay needs on the copy's tables and nothing more. The operations role loses
-- CREATE on the database (projections/grants.py).

CREATE FUNCTION kim_copy_create(copy_schema text, copy_tables text[], as_of boolean) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog
AS $$
DECLARE
    t text;
BEGIN
    IF copy_schema !~ '^[a-z][a-z0-9_]{0,62}$'
       OR copy_schema IN ('public', 'analytics', 'partner', 'information_schema') OR copy_schema LIKE 'pg\_%' THEN
        RAISE EXCEPTION 'not a name for a copy: %', copy_schema USING ERRCODE = 'insufficient_privilege';
    END IF;
    FOREACH t IN ARRAY copy_tables || ARRAY['projection_checkpoints'] LOOP
        IF to_regclass(format('public.%I', t)) IS NULL THEN
            RAISE EXCEPTION 'no table public.% to copy', t USING ERRCODE = 'undefined_table';
        END IF;
    END LOOP;
    EXECUTE format('CREATE SCHEMA IF NOT EXISTS %I', copy_schema);
    EXECUTE format('REVOKE ALL ON SCHEMA %I FROM PUBLIC', copy_schema);
    FOREACH t IN ARRAY copy_tables || ARRAY['projection_checkpoints'] LOOP
        EXECUTE format('CREATE TABLE IF NOT EXISTS %I.%I (LIKE public.%I INCLUDING ALL)', copy_schema, t, t);
    END LOOP;
    IF as_of THEN
        EXECUTE format(
            'CREATE TABLE IF NOT EXISTS %I.rejections (topic text NOT NULL, partition integer NOT NULL,'
            ' "offset" bigint NOT NULL, event_type text, reason text NOT NULL, PRIMARY KEY (topic, partition, "offset"))',
            copy_schema);
    END IF;
    IF EXISTS (SELECT FROM pg_roles WHERE rolname = 'kim_operations') THEN
        EXECUTE format('GRANT USAGE ON SCHEMA %I TO kim_operations', copy_schema);
        EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA %I TO kim_operations', copy_schema);
    END IF;
END
$$;
REVOKE ALL ON FUNCTION kim_copy_create(text, text[], boolean) FROM PUBLIC;
COMMENT ON FUNCTION kim_copy_create(text, text[], boolean) IS
    'Creates a copy schema for kim replay (tables LIKE the live ones) as the owner; idempotent.';

CREATE FUNCTION kim_copy_drop(copy_schema text) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog
AS $$
BEGIN
    IF copy_schema !~ '^[a-z][a-z0-9_]{0,62}$'
       OR copy_schema IN ('public', 'analytics', 'partner', 'information_schema') OR copy_schema LIKE 'pg\_%' THEN
        RAISE EXCEPTION 'not a name for a copy: %', copy_schema USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF NOT EXISTS (SELECT FROM pg_namespace WHERE nspname = copy_schema) THEN
        RETURN;
    END IF;
    IF to_regclass(format('%I.projection_checkpoints', copy_schema)) IS NULL THEN
        RAISE EXCEPTION 'schema % is not a copy of a projection (it has no projection_checkpoints)', copy_schema
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    EXECUTE format('DROP SCHEMA %I CASCADE', copy_schema);
END
$$;
REVOKE ALL ON FUNCTION kim_copy_drop(text) FROM PUBLIC;
COMMENT ON FUNCTION kim_copy_drop(text) IS 'Drops a copy schema of kim replay (only a schema that is a copy) as the owner.';
