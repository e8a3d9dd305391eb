-- analytics: the steering indicators over the outcomes read model (outcomes_cases, outcomes_goals) and the
-- immigration offices' decisions (backlog_applications). Every function takes a period of Dortmund days
-- (from_day .. to_day, inclusive) and the moment the answer is given for, as_of: an event counts in the period by
-- the day it occurred, and only if it occurred at or before as_of, so a period still running is answered as far
-- as it has got. Counts from 1 to small_cell_max() are NULL with their _suppressed flag, rates and medians over
-- so few cases are NULL (analytics.over). The fixed indicator set, with definitions, numerators, denominators,
-- event-time rules and suppression, is the view analytics.indicators; `kim report` computes it for a period.

CREATE FUNCTION analytics.kim_day(at timestamptz) RETURNS date
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN (at AT TIME ZONE 'Europe/Berlin')::date;
COMMENT ON FUNCTION analytics.kim_day(timestamptz) IS 'The Dortmund calendar day of a moment (Europe/Berlin).';

CREATE FUNCTION analytics.months_after(at timestamptz, months integer) RETURNS timestamptz
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN ((at AT TIME ZONE 'Europe/Berlin') + make_interval(months => months)) AT TIME ZONE 'Europe/Berlin';
COMMENT ON FUNCTION analytics.months_after(timestamptz, integer) IS
    'The same wall-clock time in Dortmund so many calendar months later (a day past the month''s end becomes its last day).';

-- The indicators, each computed once by a function over the read models' tables as the caller's search_path
-- finds them (the live tables, or a copy at a cut), and answered to analysts by a wrapper in analytics below.
-- Each answer is suppressed as one table (analytics.protect_rows, migration 0090): every count column is a line
-- with its 'ALL' total, rows ordered by key with 'ALL' last; a rate is NULL when a count it is made of is hidden.

-- Goals -------------------------------------------------------------------------------------------

CREATE FUNCTION indicator_goal_outcomes(from_day date, to_day date, as_of timestamptz,
                                        group_by text DEFAULT 'lebenslage')
RETURNS TABLE (group_key text, agreed bigint, agreed_suppressed boolean, achieved bigint,
               achieved_suppressed boolean, abandoned bigint, abandoned_suppressed boolean,
               achievement_rate double precision, median_days_to_achieve double precision,
               open_at_end bigint, open_at_end_suppressed boolean, overdue bigint, overdue_suppressed boolean)
LANGUAGE sql STABLE
AS $$
    WITH g AS (
        SELECT CASE group_by WHEN 'agency' THEN g.agency WHEN 'district' THEN g.district ELSE g.lebenslage END AS k,
               g.agreed_at <= as_of AND analytics.kim_day(g.agreed_at) BETWEEN from_day AND to_day AS agreed,
               g.resolved_at <= as_of AND analytics.kim_day(g.resolved_at) BETWEEN from_day AND to_day AS ended,
               g.status, kim_days(g.agreed_at, g.resolved_at) AS days,
               g.agreed_at <= as_of AND (g.resolved_at IS NULL OR g.resolved_at > as_of) AS open,
               g.target_date < analytics.kim_day(as_of) AS late
        FROM outcomes_goals g
    ), t AS (
        SELECT CASE WHEN grouping(k) = 1 THEN 'ALL' ELSE k END AS k, grouping(k) = 1 AS total,
               count(*) FILTER (WHERE agreed) AS agreed,
               count(*) FILTER (WHERE ended AND status = 'achieved') AS achieved,
               count(*) FILTER (WHERE ended AND status = 'abandoned') AS abandoned,
               percentile_cont(0.5) WITHIN GROUP (ORDER BY days) FILTER (WHERE ended AND status = 'achieved') AS med,
               count(*) FILTER (WHERE open) AS open,
               count(*) FILTER (WHERE open AND late) AS overdue
        FROM g
        GROUP BY GROUPING SETS ((k), ())
    ), r AS (
        SELECT t.*, row_number() OVER (ORDER BY t.total, t.k) AS i FROM t
    ), s AS MATERIALIZED (  -- lines: each count column with its ALL total
        SELECT analytics.protect_rows(
            (SELECT array_agg(v ORDER BY r.i, x.c) FROM r,
                    LATERAL (VALUES (1, r.agreed), (2, r.achieved), (3, r.abandoned), (4, r.open),
                                    (5, r.overdue)) x(c, v)),
            5, (SELECT array_agg(r.total ORDER BY r.i) FROM r)) AS st
    ), h AS (
        SELECT r.*, st[5 * i - 4] > 0 AS h1, st[5 * i - 3] > 0 AS h2, st[5 * i - 2] > 0 AS h3, st[5 * i - 1] > 0 AS h4,
               st[5 * i] > 0 AS h5
        FROM r, s
    )
    SELECT k, CASE WHEN h1 THEN NULL ELSE agreed END, h1, CASE WHEN h2 THEN NULL ELSE achieved END, h2,
           CASE WHEN h3 THEN NULL ELSE abandoned END, h3,
           CASE WHEN h2 OR h3 THEN NULL
                ELSE analytics.over(achieved::double precision / nullif(achieved + abandoned, 0), achieved + abandoned)
           END,
           analytics.over(med, achieved), CASE WHEN h4 THEN NULL ELSE open END, h4,
           CASE WHEN h5 THEN NULL ELSE overdue END, h5
    FROM h
    ORDER BY i
$$;

CREATE FUNCTION indicator_goal_abandon_reasons(from_day date, to_day date, as_of timestamptz)
RETURNS TABLE (reason text, abandoned bigint, abandoned_suppressed boolean)
LANGUAGE sql STABLE
AS $$
    WITH t AS (
        SELECT CASE WHEN grouping(g.abandon_reason) = 1 THEN 'ALL' ELSE g.abandon_reason END AS k,
               grouping(g.abandon_reason) = 1 AS total, count(*) AS n
        FROM outcomes_goals g
        WHERE g.status = 'abandoned' AND g.resolved_at <= as_of
          AND analytics.kim_day(g.resolved_at) BETWEEN from_day AND to_day
        GROUP BY GROUPING SETS ((g.abandon_reason), ())
    ), r AS (
        SELECT t.*, row_number() OVER (ORDER BY t.total, t.k) AS i FROM t
    ), s AS MATERIALIZED (
        SELECT analytics.protect_rows((SELECT array_agg(r.n ORDER BY r.i) FROM r), 1,
                                      (SELECT array_agg(r.total ORDER BY r.i) FROM r)) AS st
    )
    SELECT k, CASE WHEN st[i] > 0 THEN NULL ELSE n END, st[i] > 0 FROM r, s ORDER BY i
$$;

-- Endings and returns -----------------------------------------------------------------------------

CREATE FUNCTION indicator_case_endings(from_day date, to_day date, as_of timestamptz,
                                       group_by text DEFAULT 'district')
RETURNS TABLE (group_key text, closed bigint, closed_suppressed boolean, successful bigint,
               successful_suppressed boolean, into_regelsystem bigint, into_regelsystem_suppressed boolean,
               observable_6m bigint, observable_6m_suppressed boolean, returned_6m bigint,
               returned_6m_suppressed boolean, return_rate_6m double precision, observable_12m bigint,
               observable_12m_suppressed boolean, returned_12m bigint, returned_12m_suppressed boolean,
               return_rate_12m double precision)
LANGUAGE sql STABLE
AS $$
    WITH e AS (
        SELECT CASE group_by WHEN 'agency' THEN c.holder ELSE c.district END AS k,
               c.closure_reason IN ('GOALS_ACHIEVED', 'HANDED_OVER_TO_REGELSYSTEM') AS ok,
               c.closure_reason = 'HANDED_OVER_TO_REGELSYSTEM' AS regel,
               analytics.months_after(c.closed_at, 6) <= as_of AS seen6,
               analytics.months_after(c.closed_at, 12) <= as_of AS seen12,
               EXISTS (SELECT 1 FROM outcomes_cases n
                       WHERE n.client_key_id = c.client_key_id AND n.opened_at > c.closed_at
                         AND n.opened_at <= analytics.months_after(c.closed_at, 6) AND n.opened_at <= as_of) AS back6,
               EXISTS (SELECT 1 FROM outcomes_cases n
                       WHERE n.client_key_id = c.client_key_id AND n.opened_at > c.closed_at
                         AND n.opened_at <= analytics.months_after(c.closed_at, 12) AND n.opened_at <= as_of) AS back12
        FROM outcomes_cases c
        WHERE c.closed_at <= as_of AND analytics.kim_day(c.closed_at) BETWEEN from_day AND to_day
    ), t AS (
        SELECT CASE WHEN grouping(k) = 1 THEN 'ALL' ELSE k END AS k, grouping(k) = 1 AS total, count(*) AS closed,
               count(*) FILTER (WHERE ok) AS ok, count(*) FILTER (WHERE regel) AS regel,
               count(*) FILTER (WHERE ok AND seen6) AS seen6, count(*) FILTER (WHERE ok AND seen6 AND back6) AS back6,
               count(*) FILTER (WHERE ok AND seen12) AS seen12,
               count(*) FILTER (WHERE ok AND seen12 AND back12) AS back12
        FROM e
        GROUP BY GROUPING SETS ((k), ())
    ), r AS (
        SELECT t.*, row_number() OVER (ORDER BY t.total, t.k) AS i FROM t
    ), s AS MATERIALIZED (  -- lines: each count column with its ALL total
        SELECT analytics.protect_rows(
            (SELECT array_agg(v ORDER BY r.i, x.c) FROM r,
                    LATERAL (VALUES (1, r.closed), (2, r.ok), (3, r.regel), (4, r.seen6), (5, r.back6), (6, r.seen12),
                                    (7, r.back12)) x(c, v)),
            7, (SELECT array_agg(r.total ORDER BY r.i) FROM r)) AS st
    ), h AS (
        SELECT r.*, st[7 * i - 6] > 0 AS h1, st[7 * i - 5] > 0 AS h2, st[7 * i - 4] > 0 AS h3, st[7 * i - 3] > 0 AS h4,
               st[7 * i - 2] > 0 AS h5, st[7 * i - 1] > 0 AS h6, st[7 * i] > 0 AS h7
        FROM r, s
    )
    SELECT k, CASE WHEN h1 THEN NULL ELSE closed END, h1, CASE WHEN h2 THEN NULL ELSE ok END, h2,
           CASE WHEN h3 THEN NULL ELSE regel END, h3, CASE WHEN h4 THEN NULL ELSE seen6 END, h4,
           CASE WHEN h5 THEN NULL ELSE back6 END, h5,
           CASE WHEN h4 OR h5 THEN NULL ELSE analytics.over(back6::double precision / nullif(seen6, 0), seen6) END,
           CASE WHEN h6 THEN NULL ELSE seen12 END, h6, CASE WHEN h7 THEN NULL ELSE back12 END, h7,
           CASE WHEN h6 OR h7 THEN NULL ELSE analytics.over(back12::double precision / nullif(seen12, 0), seen12) END
    FROM h
    ORDER BY i
$$;

CREATE FUNCTION indicator_first_contact(from_day date, to_day date, as_of timestamptz,
                                        group_by text DEFAULT 'district')
RETURNS TABLE (group_key text, opened bigint, opened_suppressed boolean, contacted bigint,
               contacted_suppressed boolean, median_days_to_contact double precision,
               p90_days_to_contact double precision)
LANGUAGE sql STABLE
AS $$
    WITH c AS (
        SELECT CASE group_by WHEN 'agency' THEN c.opened_by ELSE c.district END AS k,
               c.first_contact_at <= as_of AS contacted, kim_days(c.opened_at, c.first_contact_at) AS days
        FROM outcomes_cases c
        WHERE c.opened_at <= as_of AND analytics.kim_day(c.opened_at) BETWEEN from_day AND to_day
    ), t AS (
        SELECT CASE WHEN grouping(k) = 1 THEN 'ALL' ELSE k END AS k, grouping(k) = 1 AS total, count(*) AS opened,
               count(*) FILTER (WHERE contacted) AS contacted,
               percentile_cont(0.5) WITHIN GROUP (ORDER BY days) FILTER (WHERE contacted) AS med,
               percentile_cont(0.9) WITHIN GROUP (ORDER BY days) FILTER (WHERE contacted) AS p90
        FROM c
        GROUP BY GROUPING SETS ((k), ())
    ), r AS (
        SELECT t.*, row_number() OVER (ORDER BY t.total, t.k) AS i FROM t
    ), s AS MATERIALIZED (  -- lines: each count column with its ALL total
        SELECT analytics.protect_rows(
            (SELECT array_agg(v ORDER BY r.i, x.c) FROM r, LATERAL (VALUES (1, r.opened), (2, r.contacted)) x(c, v)),
            2, (SELECT array_agg(r.total ORDER BY r.i) FROM r)) AS st
    )
    SELECT k, CASE WHEN st[2 * i - 1] > 0 THEN NULL ELSE opened END, st[2 * i - 1] > 0,
           CASE WHEN st[2 * i] > 0 THEN NULL ELSE contacted END, st[2 * i] > 0,
           analytics.over(med, contacted), analytics.over(p90, contacted)
    FROM r, s
    ORDER BY i
$$;

-- Immigration and naturalisation offices (building block 3) ----------------------------------------

CREATE FUNCTION indicator_immigration_decisions(from_day date, to_day date, as_of timestamptz)
RETURNS TABLE (procedure text, decided bigint, decided_suppressed boolean, granted bigint,
               granted_suppressed boolean, refused bigint, refused_suppressed boolean,
               grant_rate double precision)
LANGUAGE sql STABLE
AS $$
    WITH t AS (
        SELECT CASE WHEN grouping(a.procedure) = 1 THEN 'ALL' ELSE a.procedure END AS k,
               grouping(a.procedure) = 1 AS total, count(*) AS decided,
               count(*) FILTER (WHERE a.decision = 'GRANTED') AS granted,
               count(*) FILTER (WHERE a.decision = 'REFUSED') AS refused
        FROM backlog_applications a
        WHERE a.decided_at <= as_of AND analytics.kim_day(a.decided_at) BETWEEN from_day AND to_day
        GROUP BY GROUPING SETS ((a.procedure), ())
    ), r AS (
        SELECT t.*, row_number() OVER (ORDER BY t.total, t.k) AS i FROM t
    ), s AS MATERIALIZED (  -- lines: each column with its ALL total; in each row granted + refused = decided
        SELECT analytics.protect_rows(
            (SELECT array_agg(v ORDER BY r.i, x.c) FROM r,
                    LATERAL (VALUES (1, r.decided), (2, r.granted), (3, r.refused)) x(c, v)),
            3, (SELECT array_agg(r.total ORDER BY r.i) FROM r), ARRAY[2, 3, 1]) AS st
    ), h AS (
        SELECT r.*, st[3 * i - 2] > 0 AS h1, st[3 * i - 1] > 0 AS h2, st[3 * i] > 0 AS h3 FROM r, s
    )
    SELECT k, CASE WHEN h1 THEN NULL ELSE decided END, h1, CASE WHEN h2 THEN NULL ELSE granted END, h2,
           CASE WHEN h3 THEN NULL ELSE refused END, h3,
           CASE WHEN h1 OR h2 OR h3 THEN NULL
                ELSE analytics.over(granted::double precision / nullif(decided, 0), decided) END
    FROM h
    ORDER BY i
$$;

-- What analysts call: the same answers, as the database owner over the live tables (the indicator_* functions
-- above are SECURITY INVOKER over unqualified tables, so `kim report` runs them on a copy of the read models
-- folded to a recorded cut of the log: one definition for both).

CREATE FUNCTION analytics.goal_outcomes(from_day date, to_day date, as_of timestamptz,
                                        group_by text DEFAULT 'lebenslage')
RETURNS TABLE (group_key text, agreed bigint, agreed_suppressed boolean, achieved bigint,
               achieved_suppressed boolean, abandoned bigint, abandoned_suppressed boolean,
               achievement_rate double precision, median_days_to_achieve double precision,
               open_at_end bigint, open_at_end_suppressed boolean, overdue bigint, overdue_suppressed boolean)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp
AS $$ SELECT * FROM indicator_goal_outcomes(from_day, to_day, as_of, group_by) $$;
COMMENT ON FUNCTION analytics.goal_outcomes(date, date, timestamptz, text) IS
    'Goals per Lebenslage (group_by => ''lebenslage''), agreeing agency (''agency'') or Stadtbezirk (''district''), total row group_key = ''ALL'': agreed in the period; achieved and abandoned in the period (by the day they ended); achievement rate (achieved of ended; NULL when a part is hidden); median days from agreement to achievement; still open at as_of, and of those overdue (target date before as_of''s day). Suppressed as one table (lines: each count column with its total).';

CREATE FUNCTION analytics.goal_abandon_reasons(from_day date, to_day date, as_of timestamptz)
RETURNS TABLE (reason text, abandoned bigint, abandoned_suppressed boolean)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp
AS $$ SELECT * FROM indicator_goal_abandon_reasons(from_day, to_day, as_of) $$;
COMMENT ON FUNCTION analytics.goal_abandon_reasons(date, date, timestamptz) IS
    'Goals abandoned in the period per reason (GoalAbandonReason), total row reason = ''ALL''. Suppressed as one table (the column with its total).';

CREATE FUNCTION analytics.case_endings(from_day date, to_day date, as_of timestamptz,
                                       group_by text DEFAULT 'district')
RETURNS TABLE (group_key text, closed bigint, closed_suppressed boolean, successful bigint,
               successful_suppressed boolean, into_regelsystem bigint, into_regelsystem_suppressed boolean,
               observable_6m bigint, observable_6m_suppressed boolean, returned_6m bigint,
               returned_6m_suppressed boolean, return_rate_6m double precision, observable_12m bigint,
               observable_12m_suppressed boolean, returned_12m bigint, returned_12m_suppressed boolean,
               return_rate_12m double precision)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp
AS $$ SELECT * FROM indicator_case_endings(from_day, to_day, as_of, group_by) $$;
COMMENT ON FUNCTION analytics.case_endings(date, date, timestamptz, text) IS
    'Cases closed in the period per Stadtbezirk (group_by => ''district'') or the agency holding them at the end (''agency''), total row group_key = ''ALL'': closed; successful (goals achieved, or handed over into a Regelsystem) and of those into a Regelsystem; of the successful ones whose 6 (12) months after closing have passed by as_of, how many came back — a new case of the same client (linked by the key id of the sealed pseudonym, never the pseudonym; an erased client has no link) opened within 6 (12) months — and the return rate (returned of observable; NULL when a part is hidden). Suppressed as one table (lines: each count column with its total).';

CREATE FUNCTION analytics.first_contact(from_day date, to_day date, as_of timestamptz,
                                        group_by text DEFAULT 'district')
RETURNS TABLE (group_key text, opened bigint, opened_suppressed boolean, contacted bigint,
               contacted_suppressed boolean, median_days_to_contact double precision,
               p90_days_to_contact double precision)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp
AS $$ SELECT * FROM indicator_first_contact(from_day, to_day, as_of, group_by) $$;
COMMENT ON FUNCTION analytics.first_contact(date, date, timestamptz, text) IS
    'Cases opened in the period per Stadtbezirk (group_by => ''district'') or opening agency (''agency''), total row group_key = ''ALL'': opened; of them, with a first case manager by as_of (CaseManagerAssigned: the first contact), and the days from opening to it (median, 90th percentile; NULL over 1 to small_cell_max() cases). Suppressed as one table (lines: each count column with its total).';

CREATE FUNCTION analytics.immigration_decisions(from_day date, to_day date, as_of timestamptz)
RETURNS TABLE (procedure text, decided bigint, decided_suppressed boolean, granted bigint,
               granted_suppressed boolean, refused bigint, refused_suppressed boolean,
               grant_rate double precision)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp
AS $$ SELECT * FROM indicator_immigration_decisions(from_day, to_day, as_of) $$;
COMMENT ON FUNCTION analytics.immigration_decisions(date, date, timestamptz) IS
    'Decisions of the immigration and naturalisation offices in the period per procedure (§ 25a, § 25b, § 104c, settlement permit, naturalisation, …), total row procedure = ''ALL'': decided, granted, refused, and the grant rate (granted of decided; NULL when a part is hidden). Suppressed as one table (lines: each column with its total, and granted + refused = decided in each row).';

-- The fixed indicator set --------------------------------------------------------------------------

CREATE VIEW analytics.indicators (indicator, title, definition, numerator, denominator, event_time, suppression,
                                  computed_by) AS
VALUES
    ('goals_agreed', 'Goals agreed',
     'Goals agreed with clients in the period, per Lebenslage, agency and Stadtbezirk.',
     'GoalAgreed events applied, dated in the period', '—',
     'the day the goal was agreed (occurred_at, Dortmund), at or before as_of',
     'hidden from 1 to small_cell_max(), or as the partner of a hidden cell of its column', 'goal_outcomes'),
    ('goal_achievement_rate', 'Goal achievement rate',
     'Of the goals that ended in the period, the share achieved.',
     'goals achieved in the period', 'goals achieved or abandoned in the period',
     'the day the goal ended, at or before as_of',
     'NULL when the achieved or abandoned count is hidden, or the denominator is at most small_cell_max()',
     'goal_outcomes'),
    ('days_to_achievement', 'Days from agreement to achievement',
     'Median days from GoalAgreed to GoalAchieved of the goals achieved in the period.',
     'days per achieved goal', '—', 'the day the goal was achieved, at or before as_of',
     'NULL over at most small_cell_max() goals', 'goal_outcomes'),
    ('goals_overdue', 'Goals overdue',
     'Goals agreed by as_of and not ended by then whose target date lies before as_of''s day.',
     'open goals past their target date', 'goals open at as_of',
     'state at as_of (agreed at or before, not ended by then)', 'hidden from 1 to small_cell_max(), or as the partner of a hidden cell of its column',
     'goal_outcomes'),
    ('goals_abandoned_by_reason', 'Goals abandoned, by reason',
     'Goals abandoned in the period per GoalAbandonReason.', 'GoalAbandoned events dated in the period', '—',
     'the day the goal was abandoned, at or before as_of', 'hidden from 1 to small_cell_max(), or as the partner of a hidden cell of its column',
     'goal_abandon_reasons'),
    ('successful_endings', 'Successful endings',
     'Cases closed in the period with the goals achieved or handed over into a Regelsystem.',
     'cases closed GOALS_ACHIEVED or HANDED_OVER_TO_REGELSYSTEM', 'cases closed in the period',
     'the day the case was closed, at or before as_of', 'hidden from 1 to small_cell_max(), or as the partner of a hidden cell of its column',
     'case_endings'),
    ('return_rate_6m', 'Returns within 6 months',
     'Of the successful endings in the period whose next 6 months have passed by as_of, the share whose client opened a new case within those 6 months.',
     'successful endings followed by a new case of the same client within 6 months',
     'successful endings in the period closed at least 6 months before as_of',
     'closing day in the period; the new case opened at or before as_of',
     'NULL when the returned or observable count is hidden, or the denominator is at most small_cell_max(); an erased client is never linked',
     'case_endings'),
    ('return_rate_12m', 'Returns within 12 months', 'As return_rate_6m, for 12 months.',
     'successful endings followed by a new case of the same client within 12 months',
     'successful endings in the period closed at least 12 months before as_of',
     'closing day in the period; the new case opened at or before as_of',
     'NULL when the returned or observable count is hidden, or the denominator is at most small_cell_max(); an erased client is never linked',
     'case_endings'),
    ('days_to_first_contact', 'Days from opening to first contact',
     'Median (and 90th percentile) days from CaseOpened to the first CaseManagerAssigned, for cases opened in the period that had one by as_of.',
     'days per contacted case', 'cases opened in the period with a first case manager by as_of',
     'the day the case was opened; the assignment at or before as_of', 'NULL over at most small_cell_max() cases',
     'first_contact'),
    ('immigration_decisions', 'Decisions of the immigration and naturalisation offices',
     'Applications decided in the period per procedure (§ 25a, § 25b, § 104c, settlement permits, naturalisations, …): granted and refused, and the grant rate.',
     'applications granted', 'applications decided in the period', 'the day of the decision, at or before as_of',
     'hidden from 1 to small_cell_max(), or as a partner cell (columns with their totals, granted + refused = decided); the rate NULL when a part is hidden', 'immigration_decisions');
COMMENT ON VIEW analytics.indicators IS
    'The steering indicator set: what each indicator means, its numerator and denominator, the event-time rule and the suppression that applies, and the function that computes it for a period (from_day, to_day, as_of).';
COMMENT ON COLUMN analytics.indicators.indicator IS 'The indicator''s stable id (as in kim report''s CSV and JSON)';
COMMENT ON COLUMN analytics.indicators.title IS 'Its name on the report';
COMMENT ON COLUMN analytics.indicators.definition IS 'What it measures';
COMMENT ON COLUMN analytics.indicators.numerator IS 'What is counted';
COMMENT ON COLUMN analytics.indicators.denominator IS 'What it is counted of (— for a plain count or a median)';
COMMENT ON COLUMN analytics.indicators.event_time IS 'Which event''s time puts it into the period';
COMMENT ON COLUMN analytics.indicators.suppression IS 'Which small-cell rule hides it';
COMMENT ON COLUMN analytics.indicators.computed_by IS 'The analytics function that computes it';
