-- Every audit entry records the database login that wrote it, beside the actor it claims (KIM_ACTOR can
-- say anything; the login cannot be chosen by the caller). Entries are written only through
-- audit_append(), which runs as the owner and takes the login from session_user; no role may INSERT into
-- audit_log directly any more (projections/grants.py), so an entry can no longer claim another login.
ALTER TABLE audit_log ADD COLUMN db_login text;
COMMENT ON COLUMN audit_log.db_login IS
    'The database login (session_user) that appended the entry; NULL for entries written before migration 0130.';

CREATE FUNCTION audit_append(actor text, action text, target text, outcome text, details jsonb)
RETURNS bigint
LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, public
AS $$
    INSERT INTO public.audit_log (actor, action, target, outcome, details, db_login)
    VALUES (actor, action, target, outcome, coalesce(details, '{}'::jsonb), session_user)
    RETURNING id
$$;
REVOKE ALL ON FUNCTION audit_append(text, text, text, text, jsonb) FROM PUBLIC;
COMMENT ON FUNCTION audit_append(text, text, text, text, jsonb) IS
    'The one way to append to audit_log: records the caller''s database login (session_user) with the entry.';
