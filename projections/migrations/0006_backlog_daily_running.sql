-- backlog_daily in one pass: instead of testing every interval against every day (days x intervals),
-- count +1 on the day an interval starts and -1 on the day it ends (Dortmund calendar days) and keep
-- a running total per procedure and state. Same answers: an interval counts at the end of day d when
-- valid_from < end of d <= valid_to, i.e. from its first day up to the day before its last.
CREATE OR REPLACE FUNCTION backlog_daily(from_day date, to_day date)
RETURNS TABLE (day date, procedure text, state text, pending bigint)
LANGUAGE sql STABLE
AS $$
    WITH steps AS (
        SELECT i.procedure, i.state, (i.valid_from AT TIME ZONE 'Europe/Berlin')::date AS day, 1 AS delta
        FROM backlog_intervals i
        WHERE (i.valid_from AT TIME ZONE 'Europe/Berlin')::date <= to_day
        UNION ALL
        SELECT i.procedure, i.state, (i.valid_to AT TIME ZONE 'Europe/Berlin')::date, -1
        FROM backlog_intervals i
        WHERE i.valid_to IS NOT NULL AND (i.valid_to AT TIME ZONE 'Europe/Berlin')::date <= to_day
    ), per_day AS (
        SELECT s.procedure, s.state, s.day, sum(s.delta) AS delta, false AS wanted
        FROM steps s GROUP BY s.procedure, s.state, s.day
    ), grid AS (
        SELECT g.procedure, g.state, d::date AS day, 0::bigint AS delta, true AS wanted
        FROM (SELECT DISTINCT p.procedure, p.state FROM per_day p) g,
             generate_series(from_day, to_day, interval '1 day') AS d
    ), running AS (
        SELECT u.day, u.procedure, u.state, u.wanted,
               sum(u.delta) OVER (PARTITION BY u.procedure, u.state ORDER BY u.day) AS pending
        FROM (SELECT * FROM per_day UNION ALL SELECT * FROM grid) u
    )
    SELECT r.day, r.procedure, r.state, r.pending::bigint
    FROM running r
    WHERE r.wanted AND r.pending > 0
$$;
