-- Who did what to the platform, and when: every operational action (replay, swap, drop of a copy,
-- dead-letter re-drive, erasure, agency add/remove) appends one row here, in the same transaction
-- as its effect where it has one. Append-only: rows are never changed or removed (triggers refuse
-- UPDATE, DELETE and TRUNCATE), so the log answers a data-protection officer's "who did this".
CREATE TABLE audit_log (
    id       bigserial   PRIMARY KEY,
    at       timestamptz NOT NULL DEFAULT now(),
    actor    text        NOT NULL CHECK (actor <> ''),
    action   text        NOT NULL CHECK (action ~ '^[a-z]+(\.[a-z_]+)*$'),
    target   text        NOT NULL,
    outcome  text        NOT NULL CHECK (outcome IN ('ok', 'refused', 'failed')),
    details  jsonb       NOT NULL DEFAULT '{}'::jsonb
);

CREATE INDEX audit_log_by_action ON audit_log (action, at);

CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only: % is not allowed', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$$;

CREATE TRIGGER audit_log_no_update BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();

COMMENT ON TABLE audit_log IS 'Append-only record of operational actions: actor, time, action, target, outcome, details.';
