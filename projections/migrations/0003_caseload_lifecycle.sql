-- caseload, second step: the whole case lifecycle (case manager, needs, pauses, hand-overs, consents),
-- and the analyst views over it. Written only by projections/caseload/fold.py.
-- `agency` is now the agency responsible for the case (it changes with CaseHandedOver); `opened_by` is
-- the agency that opened it. Weeks are ISO weeks (Monday) in Dortmund's time zone.
ALTER TABLE caseload_cases
    ADD COLUMN opened_by         text,
    ADD COLUMN target_group      text,
    ADD COLUMN access_route      text,
    ADD COLUMN case_manager_ref  text,
    ADD COLUMN manager_agency    text,
    ADD COLUMN assigned_at       timestamptz,
    ADD COLUMN first_assigned_at timestamptz,
    ADD COLUMN lebenslagen       text[]  NOT NULL DEFAULT '{}',
    ADD COLUMN priorities        text[]  NOT NULL DEFAULT '{}',
    ADD COLUMN paused_since      timestamptz,
    ADD COLUMN pauses            integer NOT NULL DEFAULT 0,
    ADD COLUMN handovers         integer NOT NULL DEFAULT 0,
    ADD COLUMN handed_over_at    timestamptz,
    ADD COLUMN consents          json    NOT NULL DEFAULT '{}',
    ADD COLUMN seen              bigint[] NOT NULL DEFAULT '{}';
UPDATE caseload_cases SET opened_by = agency WHERE opened_by IS NULL;
CREATE INDEX caseload_cases_manager ON caseload_cases (manager_agency, case_manager_ref) WHERE status = 'open';

-- The calendar week (its Monday) of an instant, in Dortmund.
CREATE FUNCTION kim_week(at timestamptz) RETURNS date
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN date_trunc('week', at AT TIME ZONE 'Europe/Berlin')::date;

-- Days between two instants, as a fraction.
CREATE FUNCTION kim_days(from_at timestamptz, to_at timestamptz) RETURNS double precision
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN extract(epoch FROM to_at - from_at)::double precision / 86400;

-- Open cases and closures by the responsible agency; openings by the agency that opened the case.
CREATE OR REPLACE VIEW caseload_by_agency AS
SELECT agency, sum(open_cases)::bigint AS open_cases, sum(opened)::bigint AS opened, sum(closed)::bigint AS closed
FROM (
    SELECT agency, count(*) FILTER (WHERE status = 'open') AS open_cases, 0 AS opened,
           count(*) FILTER (WHERE status = 'closed') AS closed
    FROM caseload_cases GROUP BY agency
    UNION ALL
    SELECT coalesce(opened_by, agency), 0, count(*), 0 FROM caseload_cases GROUP BY 1
) t
GROUP BY agency;

CREATE VIEW caseload_open_by_manager AS
SELECT manager_agency AS agency, case_manager_ref,
       count(*) AS open_cases,
       count(*) FILTER (WHERE paused_since IS NOT NULL) AS paused
FROM caseload_cases
WHERE status = 'open' AND case_manager_ref IS NOT NULL
GROUP BY manager_agency, case_manager_ref;

CREATE VIEW caseload_manager_load AS
SELECT agency, count(*) AS case_managers, sum(open_cases)::bigint AS open_cases,
       round(avg(open_cases), 1) AS avg_per_manager, max(open_cases) AS max_per_manager
FROM caseload_open_by_manager
GROUP BY agency;

CREATE VIEW caseload_open_by_lebenslage AS
SELECT n.lebenslage,
       count(*) AS open_cases,
       count(*) FILTER (WHERE n.priority = 'URGENT') AS urgent,
       count(*) FILTER (WHERE n.priority = 'HIGH') AS high,
       count(*) FILTER (WHERE n.priority = 'NORMAL') AS normal
FROM caseload_cases c, unnest(c.lebenslagen, c.priorities) AS n(lebenslage, priority)
WHERE c.status = 'open'
GROUP BY n.lebenslage;

CREATE VIEW caseload_weekly AS
SELECT week, agency, district, sum(opened)::bigint AS opened, sum(closed)::bigint AS closed
FROM (
    SELECT kim_week(opened_at) AS week, coalesce(opened_by, agency) AS agency, district, 1 AS opened, 0 AS closed
    FROM caseload_cases
    UNION ALL
    SELECT kim_week(closed_at), agency, district, 0, 1 FROM caseload_cases WHERE status = 'closed'
) t
GROUP BY week, agency, district;

CREATE VIEW caseload_closure_reasons AS
SELECT agency, closure_reason, count(*) AS closed
FROM caseload_cases
WHERE status = 'closed'
GROUP BY agency, closure_reason;

-- Cases open at as_of that have never had a case manager, per responsible agency, and how long they wait.
CREATE FUNCTION caseload_waiting(as_of timestamptz)
RETURNS TABLE (agency text, waiting bigint, median_days double precision, max_days double precision)
LANGUAGE sql STABLE
AS $$
    SELECT c.agency, count(*),
           percentile_cont(0.5) WITHIN GROUP (ORDER BY kim_days(c.opened_at, as_of)),
           max(kim_days(c.opened_at, as_of))
    FROM caseload_cases c
    WHERE c.opened_at <= as_of
      AND (c.closed_at IS NULL OR c.closed_at > as_of)
      AND (c.first_assigned_at IS NULL OR c.first_assigned_at > as_of)
    GROUP BY c.agency
$$;

-- Cases open at as_of by age (days since opening), per responsible agency.
CREATE FUNCTION caseload_age_buckets(as_of timestamptz)
RETURNS TABLE (agency text, bucket text, open_cases bigint)
LANGUAGE sql STABLE
AS $$
    SELECT c.agency,
           CASE WHEN d <= 30 THEN '0-30' WHEN d <= 90 THEN '31-90' WHEN d <= 180 THEN '91-180'
                WHEN d <= 365 THEN '181-365' ELSE '>365' END,
           count(*)
    FROM caseload_cases c, LATERAL (SELECT floor(kim_days(c.opened_at, as_of))::int AS d) age
    WHERE c.opened_at <= as_of AND (c.closed_at IS NULL OR c.closed_at > as_of)
    GROUP BY 1, 2
$$;
