-- Database roles (issue 8): one group role per kind of component, each allowed only what it needs.
--   kim_worker      projection workers and the bulk path: write the projections and their checkpoints
--   kim_operations  kim replay | dlq | agency | audit | erase | status
--   kim_analyst     the analytics schema only (created by 0060)
--   kim_gateway     the HTTP gateway: tokens, signing keys, consents, idempotency keys
-- They are NOLOGIN groups: a login role is a member of exactly one (`kim up` makes kim_<role>_login on the
-- local cluster; on an external server the operator does, see README). What each may do is not here but in
-- projections/grants.py, applied after every migrate, so tables of later migrations get their grants too.
-- Roles are cluster-wide: several databases on one server share them, hence "create only if missing".
-- A migrator without CREATEROLE (an external server) skips this with a notice; the grants then skip the
-- missing roles and every component uses KIM_DATABASE_URL (kim status says so).

DO $$
DECLARE
    name text;
BEGIN
    FOREACH name IN ARRAY ARRAY['kim_worker', 'kim_operations', 'kim_analyst', 'kim_gateway'] LOOP
        IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = name) THEN
            BEGIN
                EXECUTE format('CREATE ROLE %I NOLOGIN', name);
            EXCEPTION
                WHEN duplicate_object OR unique_violation THEN
                    NULL;  -- another database's migration created it at the same moment
                WHEN insufficient_privilege THEN
                    RAISE NOTICE 'role % not created: the migrating user lacks CREATEROLE', name;
            END;
        END IF;
    END LOOP;
END
$$;
