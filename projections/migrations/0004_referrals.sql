-- referrals: written only by projections/referrals/fold.py.
-- The case context a referral is judged against (open or closed, consents, applied event ids).
CREATE TABLE referral_cases (
    case_id   text        PRIMARY KEY,
    status    text        NOT NULL CHECK (status IN ('open', 'closed')),
    opened_at timestamptz NOT NULL,
    closed_at timestamptz,
    consents  json        NOT NULL DEFAULT '{}',
    seen      bigint[]    NOT NULL DEFAULT '{}'
);

-- One row per referral with its lifecycle timestamps.
CREATE TABLE referrals (
    case_id        text        NOT NULL,
    referral_id    text        NOT NULL,
    from_agency    text        NOT NULL,
    to_agency      text        NOT NULL,
    lebenslage     text        NOT NULL,
    consent_id     text        NOT NULL,
    due_by         date        NOT NULL,
    status         text        NOT NULL CHECK (status IN ('issued', 'accepted', 'declined', 'completed')),
    issued_at      timestamptz NOT NULL,
    accepted_at    timestamptz,
    declined_at    timestamptz,
    completed_at   timestamptz,
    decline_reason text,
    outcome        text,
    PRIMARY KEY (case_id, referral_id)
);
CREATE INDEX referrals_open ON referrals (to_agency, due_by) WHERE status IN ('issued', 'accepted');

-- From -> to agency: how many referrals, how they ended, acceptance rate (accepted of answered)
-- and completion rate (completed of accepted).
CREATE VIEW referral_matrix AS
SELECT from_agency, to_agency,
       count(*) AS issued,
       count(accepted_at) AS accepted,
       count(declined_at) AS declined,
       count(completed_at) AS completed,
       count(*) FILTER (WHERE status IN ('issued', 'accepted')) AS open,
       count(accepted_at)::double precision / nullif(count(accepted_at) + count(declined_at), 0) AS acceptance_rate,
       count(completed_at)::double precision / nullif(count(accepted_at), 0) AS completion_rate
FROM referrals
GROUP BY from_agency, to_agency;

-- Lead times in days from issue to acceptance and to completion, per receiving agency and overall ('ALL').
CREATE VIEW referral_lead_times AS
SELECT coalesce(to_agency, 'ALL') AS to_agency,
       count(accepted_at) AS accepted,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY kim_days(issued_at, accepted_at)) AS median_days_to_accept,
       percentile_cont(0.9) WITHIN GROUP (ORDER BY kim_days(issued_at, accepted_at)) AS p90_days_to_accept,
       count(completed_at) AS completed,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY kim_days(issued_at, completed_at)) AS median_days_to_complete,
       percentile_cont(0.9) WITHIN GROUP (ORDER BY kim_days(issued_at, completed_at)) AS p90_days_to_complete
FROM referrals
GROUP BY GROUPING SETS ((to_agency), ());

CREATE VIEW referral_decline_reasons AS
SELECT to_agency, decline_reason AS reason, count(*) AS declined
FROM referrals
WHERE status = 'declined'
GROUP BY to_agency, decline_reason;

-- Referrals issued by as_of and neither declined nor completed by then, per receiving agency:
-- open, still awaiting an answer (not accepted either), and overdue (awaiting, due_by passed).
CREATE FUNCTION referrals_open(as_of timestamptz)
RETURNS TABLE (to_agency text, open bigint, awaiting_answer bigint, overdue bigint)
LANGUAGE sql STABLE
AS $$
    SELECT r.to_agency, count(*),
           count(*) FILTER (WHERE NOT coalesce(r.accepted_at <= as_of, false)),
           count(*) FILTER (WHERE NOT coalesce(r.accepted_at <= as_of, false)
                              AND (as_of AT TIME ZONE 'Europe/Berlin')::date > r.due_by)
    FROM referrals r
    WHERE r.issued_at <= as_of
      AND NOT coalesce(r.declined_at <= as_of, false)
      AND NOT coalesce(r.completed_at <= as_of, false)
    GROUP BY r.to_agency
$$;

-- Every referral overdue at as_of: issued, not accepted or declined by then, and its due day passed.
CREATE FUNCTION referrals_overdue(as_of timestamptz)
RETURNS TABLE (case_id text, referral_id text, from_agency text, to_agency text, lebenslage text,
               issued_at timestamptz, due_by date, days_overdue integer)
LANGUAGE sql STABLE
AS $$
    SELECT r.case_id, r.referral_id, r.from_agency, r.to_agency, r.lebenslage, r.issued_at, r.due_by,
           (as_of AT TIME ZONE 'Europe/Berlin')::date - r.due_by
    FROM referrals r
    WHERE r.issued_at <= as_of
      AND NOT coalesce(r.accepted_at <= as_of, false)
      AND NOT coalesce(r.declined_at <= as_of, false)
      AND (as_of AT TIME ZONE 'Europe/Berlin')::date > r.due_by
$$;
