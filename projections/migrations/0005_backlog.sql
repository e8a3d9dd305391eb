-- backlog: applications at the immigration (ABH) and naturalisation (EBH) offices.
-- Written only by projections/backlog/fold.py. Pending states: received, waiting_for_documents,
-- complete, appointment_scheduled; final states: granted (permit not yet handed over), refused,
-- withdrawn, permit_handed_over.
CREATE TABLE backlog_applications (
    application_id        text        PRIMARY KEY,
    office                text        NOT NULL,
    procedure             text        NOT NULL,
    channel               text        NOT NULL,
    case_id               text,
    filed_at              timestamptz NOT NULL,
    state                 text        NOT NULL CHECK (state IN ('received', 'waiting_for_documents', 'complete',
                                                   'appointment_scheduled', 'granted', 'refused', 'withdrawn',
                                                   'permit_handed_over')),
    state_since           timestamptz NOT NULL,
    seq                   integer     NOT NULL,
    documents_requested   integer     NOT NULL DEFAULT 0,
    documents_outstanding text[]      NOT NULL DEFAULT '{}',
    completed_at          timestamptz,
    appointment_at        timestamptz,
    decided_at            timestamptz,
    decision              text,
    left_at               timestamptz,
    withdrawal_reason     text,
    permit_handed_over_at timestamptz,
    permit_valid_until    date,
    seen                  bigint[]    NOT NULL DEFAULT '{}'
);
CREATE INDEX backlog_applications_left ON backlog_applications (left_at);

-- Each stretch of time an application spent in one pending state, in event time.
-- valid_to is NULL while the state lasts. An application is pending at t when one of its
-- intervals has valid_from <= t < valid_to.
CREATE TABLE backlog_intervals (
    application_id text        NOT NULL,
    seq            integer     NOT NULL,
    procedure      text        NOT NULL,
    state          text        NOT NULL,
    valid_from     timestamptz NOT NULL,
    valid_to       timestamptz,
    PRIMARY KEY (application_id, seq)
);
CREATE INDEX backlog_intervals_time ON backlog_intervals (valid_from, valid_to);

-- Pending now (as far as the log has been read), by procedure and state.
CREATE VIEW backlog_by_procedure_state AS
SELECT procedure, state, count(*) AS pending, min(filed_at) AS oldest_filed_at
FROM backlog_applications
WHERE state IN ('received', 'waiting_for_documents', 'complete', 'appointment_scheduled')
GROUP BY procedure, state;

-- Pending at as_of, by procedure and state.
CREATE FUNCTION backlog_at(as_of timestamptz)
RETURNS TABLE (procedure text, state text, pending bigint)
LANGUAGE sql STABLE
AS $$
    SELECT i.procedure, i.state, count(*)
    FROM backlog_intervals i
    WHERE i.valid_from <= as_of AND (i.valid_to IS NULL OR i.valid_to > as_of)
    GROUP BY i.procedure, i.state
$$;

-- Pending at as_of by age in whole days since filing: 0-30, 31-90, 91-180, >180.
CREATE FUNCTION backlog_age_buckets(as_of timestamptz)
RETURNS TABLE (procedure text, bucket text, pending bigint)
LANGUAGE sql STABLE
AS $$
    SELECT i.procedure,
           CASE WHEN d <= 30 THEN '0-30' WHEN d <= 90 THEN '31-90' WHEN d <= 180 THEN '91-180' ELSE '>180' END,
           count(*)
    FROM backlog_intervals i
    JOIN backlog_applications a USING (application_id),
         LATERAL (SELECT floor(kim_days(a.filed_at, as_of))::int AS d) age
    WHERE i.valid_from <= as_of AND (i.valid_to IS NULL OR i.valid_to > as_of)
    GROUP BY 1, 2
$$;

-- Per calendar week (Monday, Dortmund time) and procedure: filed (inflow), no longer pending
-- (outflow = decided or withdrawn), and how: granted, refused, withdrawn.
CREATE VIEW backlog_flow_weekly AS
SELECT week, procedure,
       sum(inflow)::bigint AS inflow, sum(outflow)::bigint AS outflow,
       sum(granted)::bigint AS granted, sum(refused)::bigint AS refused, sum(withdrawn)::bigint AS withdrawn
FROM (
    SELECT kim_week(filed_at) AS week, procedure, 1 AS inflow, 0 AS outflow, 0 AS granted, 0 AS refused,
           0 AS withdrawn
    FROM backlog_applications
    UNION ALL
    SELECT kim_week(left_at), procedure, 0, 1,
           (decision IS NOT DISTINCT FROM 'GRANTED')::int, (decision IS NOT DISTINCT FROM 'REFUSED')::int,
           (withdrawal_reason IS NOT NULL)::int
    FROM backlog_applications
    WHERE left_at IS NOT NULL
) t
GROUP BY week, procedure;

-- Processing time in days from filing to decision, per procedure and overall ('ALL').
CREATE VIEW backlog_processing_time AS
SELECT coalesce(procedure, 'ALL') AS procedure,
       count(*) AS decided,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY kim_days(filed_at, decided_at)) AS median_days,
       percentile_cont(0.9) WITHIN GROUP (ORDER BY kim_days(filed_at, decided_at)) AS p90_days
FROM backlog_applications
WHERE decided_at IS NOT NULL
GROUP BY GROUPING SETS ((procedure), ());

-- Weeks to clear the backlog pending at as_of at the throughput of the `weeks` weeks before it
-- (outflow with as_of - weeks*7 days < left_at <= as_of), per procedure and overall ('ALL').
-- weeks_to_clear is NULL when nothing left the backlog in that window.
CREATE FUNCTION backlog_weeks_to_clear(as_of timestamptz, weeks integer)
RETURNS TABLE (procedure text, pending bigint, outflow bigint, outflow_per_week double precision,
               weeks_to_clear double precision)
LANGUAGE sql STABLE
AS $$
    WITH per AS (
        SELECT p.procedure,
               (SELECT count(*) FROM backlog_intervals i
                WHERE i.procedure = p.procedure AND i.valid_from <= as_of
                  AND (i.valid_to IS NULL OR i.valid_to > as_of)) AS pending,
               (SELECT count(*) FROM backlog_applications a
                WHERE a.procedure = p.procedure AND a.left_at > as_of - make_interval(days => weeks * 7)
                  AND a.left_at <= as_of) AS outflow
        FROM (SELECT DISTINCT procedure FROM backlog_applications WHERE filed_at <= as_of) p
    ), total AS (
        SELECT procedure, pending, outflow FROM per
        UNION ALL
        SELECT 'ALL', coalesce(sum(pending), 0)::bigint, coalesce(sum(outflow), 0)::bigint FROM per
    )
    SELECT procedure, pending, outflow, outflow::double precision / weeks,
           pending / nullif(outflow::double precision / weeks, 0)
    FROM total
$$;

-- Daily history: pending applications at the end of each day (Dortmund time) from `from_day` to
-- `to_day`, by procedure and state. Days without any pending application in a group are left out.
CREATE FUNCTION backlog_daily(from_day date, to_day date)
RETURNS TABLE (day date, procedure text, state text, pending bigint)
LANGUAGE sql STABLE
AS $$
    SELECT d.day, i.procedure, i.state, count(*)
    FROM (SELECT g::date AS day, ((g::date + 1)::timestamp AT TIME ZONE 'Europe/Berlin') AS day_end
          FROM generate_series(from_day, to_day, interval '1 day') AS g) d
    JOIN backlog_intervals i ON i.valid_from < d.day_end AND (i.valid_to IS NULL OR i.valid_to >= d.day_end)
    GROUP BY d.day, i.procedure, i.state
$$;
