-- Per-case-manager figures only where the platform allows them (KIM_CASE_MANAGER_FIGURES, default off).
--
-- analytics.caseload_by_case_manager (0060) shows open cases per case-manager pseudonym: performance data about
-- employees. In a German public administration a technical means of monitoring the behaviour or performance of
-- staff needs the staff council's agreement (Personalrat; e.g. §72/§75 LPVG NRW), so the operator turns these
-- figures on only with that agreement, and analysts otherwise get the aggregate analytics.case_manager_load
-- (0101).
--
-- The switch is one row of platform_settings, owned by the migrating owner: `kim up` writes it from
-- KIM_CASE_MANAGER_FIGURES (infra/platform_settings.py). kim_analyst holds no privilege on it (ADMIN_ONLY in
-- projections/grants.py) and it is no session setting, so no SET or set_config of an analyst's session can
-- turn it on. The analytics schema reads it (analytics.case_manager_figures(), SECURITY DEFINER) and is the one
-- place that decides: `kim query`, the HTTP API and the dashboard only read what it answers.

CREATE TABLE platform_settings (
    only_row             boolean PRIMARY KEY DEFAULT true CHECK (only_row),
    case_manager_figures boolean NOT NULL DEFAULT false,
    updated_at           timestamptz NOT NULL DEFAULT now()
);
INSERT INTO platform_settings DEFAULT VALUES;
COMMENT ON TABLE platform_settings IS
    'Platform switches the analytics schema obeys, one row, written only by `kim up` (as the owner) from the environment: case_manager_figures = KIM_CASE_MANAGER_FIGURES.';
COMMENT ON COLUMN platform_settings.case_manager_figures IS
    'True when analysts may see figures per case-manager pseudonym (KIM_CASE_MANAGER_FIGURES; only with the staff council''s agreement)';

CREATE FUNCTION analytics.case_manager_figures() RETURNS boolean
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp
AS $$
    SELECT coalesce((SELECT s.case_manager_figures FROM public.platform_settings s), false)
$$;
COMMENT ON FUNCTION analytics.case_manager_figures() IS
    'Whether this installation shows figures per case manager (open cases per case-manager pseudonym): KIM_CASE_MANAGER_FIGURES as `kim up` wrote it, off unless the operator turned it on with the staff council''s agreement. No session setting changes it.';

-- The gate: true when the figures are allowed, otherwise an error (SQLSTATE KIM01) that names the setting.
CREATE FUNCTION analytics.require_case_manager_figures() RETURNS boolean
LANGUAGE plpgsql STABLE
AS $$
BEGIN
    IF NOT analytics.case_manager_figures() THEN
        RAISE EXCEPTION 'per-case-manager figures are off (KIM_CASE_MANAGER_FIGURES)'
            USING ERRCODE = 'KIM01',
                  DETAIL = 'Open cases per case manager are performance data about staff; the operator turns them '
                           'on only with the staff council''s agreement.',
                  HINT = 'analytics.case_manager_load has the caseload per case manager in bands, per agency.';
    END IF;
    RETURN true;
END
$$;
COMMENT ON FUNCTION analytics.require_case_manager_figures() IS
    'True when analytics.case_manager_figures() allows figures per case manager; otherwise an error with SQLSTATE KIM01 naming KIM_CASE_MANAGER_FIGURES. The gate of caseload_by_case_manager.';

-- Same columns as in 0060, so CREATE OR REPLACE keeps the grants and column comments. security_barrier: an
-- analyst's own condition on the view (a temporary function, say) runs only on rows the view gives out, and the
-- gate runs before any row is read.
CREATE OR REPLACE VIEW analytics.caseload_by_case_manager WITH (security_barrier) AS
SELECT agency, case_manager_ref,
       analytics.shown(open_cases) AS open_cases, analytics.is_small(open_cases) AS open_cases_suppressed,
       analytics.shown(paused) AS paused, analytics.is_small(paused) AS paused_suppressed
FROM caseload_open_by_manager
WHERE analytics.require_case_manager_figures();
COMMENT ON VIEW analytics.caseload_by_case_manager IS
    'Open cases per case manager as far as the log has been read (over caseload_open_by_manager) — only where analytics.case_manager_figures() is true (KIM_CASE_MANAGER_FIGURES, with the staff council''s agreement); otherwise reading it is an error (SQLSTATE KIM01) and case_manager_load has the aggregate.';

REVOKE EXECUTE ON FUNCTION analytics.case_manager_figures() FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION analytics.require_case_manager_figures() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION analytics.case_manager_figures() TO kim_analyst;
GRANT EXECUTE ON FUNCTION analytics.require_case_manager_figures() TO kim_analyst;
