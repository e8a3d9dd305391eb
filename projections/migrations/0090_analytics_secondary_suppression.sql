-- analytics: secondary suppression in SQL, so the schema is the one source of what an analyst sees.
-- 0060 hid every count from 1 to analytics.small_cell_max() (primary suppression) but left the partner
-- cells of a total (secondary suppression) to `kim query`, the API and the dashboard. Now every view and
-- function whose answer carries totals applies both, and those front doors only read the flags.
--
-- The rule (analytics.protect; the same algorithm as protect() in analytics/suppression.py, and a test
-- compares the two on random tables): a table is a list of cells and a list of LINES, groups of cells
-- that add up (a column with its 'ALL' total, a row of the referral matrix with its row total, the age
-- buckets with `pending`, ...). A count from 1 to the threshold is hidden (primary). Then, line by line
-- in order and repeated until nothing changes, a line holding exactly one hidden cell gets a second
-- one: its smallest shown cell, preferring a non-total, then a non-zero (a hidden 0 beside a hidden 2
-- would give both away), then the smaller count, then the earlier position in the line (secondary).
-- Rows are ordered by their key with 'ALL' last. The `<column>_suppressed` flag is true for both kinds.
-- Outlooks and rates that would give a hidden count back are NULL with it.
--
-- Also: analytics.backlog(…, only_procedure) — its 'ALL' row now totals the chosen procedure only, so
-- pending, the age buckets and the outlook of that row describe the same applications.
-- Signatures and columns are unchanged (CREATE OR REPLACE keeps the kim_analyst grants). The CTE that
-- calls protect is MATERIALIZED so it runs once per answer, not once per row it is joined to.

-- The engine ----------------------------------------------------------------------------------------

CREATE FUNCTION analytics.protect(n bigint[], is_total boolean[], line_no integer[], member integer[],
                                  threshold integer DEFAULT analytics.small_cell_max())
RETURNS smallint[]
LANGUAGE plpgsql STABLE PARALLEL SAFE
AS $$
DECLARE
    t constant integer := greatest(4, coalesce(threshold, 4));  -- never below docs/domain.md rule 5
    cells constant integer := coalesce(cardinality(n), 0);
    members constant integer := coalesce(cardinality(member), 0);
    state smallint[] := array_fill(0::smallint, ARRAY[cells]);
    changed boolean := true;
    i integer;
    j integer;
    k integer;
    hidden integer;
    best integer;
    best_total boolean;
    best_zero boolean;
    best_n bigint;
    v bigint;
BEGIN
    FOR c IN 1..cells LOOP
        IF n[c] IS NULL OR n[c] BETWEEN 1 AND t THEN
            state[c] := 1;  -- primary (NULL: already hidden, value unknown)
        END IF;
    END LOOP;
    WHILE changed LOOP
        changed := false;
        i := 1;
        WHILE i <= members LOOP  -- a line is a run of equal line_no
            j := i;
            hidden := 0;
            best := NULL;
            WHILE j <= members AND line_no[j] = line_no[i] LOOP
                k := member[j];
                IF state[k] > 0 THEN
                    hidden := hidden + 1;
                ELSE
                    v := coalesce(n[k], 0);
                    IF best IS NULL
                       OR (coalesce(is_total[k], false), v = 0, v) < (best_total, best_zero, best_n) THEN
                        best := k;
                        best_total := coalesce(is_total[k], false);
                        best_zero := v = 0;
                        best_n := v;
                    END IF;
                END IF;
                j := j + 1;
            END LOOP;
            IF hidden = 1 AND best IS NOT NULL THEN
                state[best] := 2;  -- secondary
                changed := true;
            END IF;
            i := j;
        END LOOP;
    END LOOP;
    RETURN state;
END
$$;
COMMENT ON FUNCTION analytics.protect(bigint[], boolean[], integer[], integer[], integer) IS
    'Small-cell suppression of one table: n are its counts (cell i = n[i]), is_total marks total cells, and each line (a group of cells that adds up) is a run of equal line_no over member (cell numbers, in line order). Returns per cell 0 (shown), 1 (primary: 1 to threshold) or 2 (secondary: hidden so that no line holds exactly one hidden cell). For analysts building their own tables with totals.';

-- A table of rows x ncols counts (row-major). With a total row, each column (all rows, in order) is a
-- line; row_line lists the columns of a row that add up (the total column last), as a line for every
-- row, or only for the rows where line_rows is true.
CREATE FUNCTION analytics.protect_rows(n bigint[], ncols integer, total_row boolean[],
                                       row_line integer[] DEFAULT NULL, line_rows boolean[] DEFAULT NULL,
                                       threshold integer DEFAULT analytics.small_cell_max())
RETURNS smallint[]
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
    WITH d AS (
        SELECT coalesce(cardinality(n), 0) / ncols AS nrows
    ), lines AS (
        SELECT c AS line, r AS pos, (r - 1) * ncols + c AS id
        FROM d, generate_series(1, ncols) c, generate_series(1, d.nrows) r
        WHERE true = ANY (total_row)
        UNION ALL
        SELECT ncols + r, p, (r - 1) * ncols + row_line[p]
        FROM d, generate_series(1, d.nrows) r, generate_series(1, coalesce(cardinality(row_line), 0)) p
        WHERE line_rows IS NULL OR line_rows[r]
    )
    SELECT analytics.protect(
        n,
        (SELECT array_agg(total_row[(i - 1) / ncols + 1] ORDER BY i) FROM generate_series(1, cardinality(n)) i),
        (SELECT array_agg(line ORDER BY line, pos) FROM lines),
        (SELECT array_agg(id ORDER BY line, pos) FROM lines),
        threshold)
$$;
COMMENT ON FUNCTION analytics.protect_rows(bigint[], integer, boolean[], integer[], boolean[], integer) IS
    'analytics.protect for a table of rows x ncols counts (row-major): each column is a line when some row is a total row (total_row); row_line lists the columns of a row that add up, a line for every row (or those where line_rows is true).';

-- Caseloads ---------------------------------------------------------------------------------------

CREATE OR REPLACE VIEW analytics.caseload_by_district AS
WITH g AS (
    SELECT CASE WHEN grouping(district) = 1 THEN 'ALL' ELSE district END AS district,
           grouping(district) = 1 AS total,
           count(*) FILTER (WHERE status = 'open') AS open_cases, count(*) AS opened,
           count(*) FILTER (WHERE status = 'closed') AS closed
    FROM caseload_cases
    GROUP BY GROUPING SETS ((district), ())
), r AS (
    SELECT g.*, row_number() OVER (ORDER BY g.total, g.district) AS i FROM g
), s AS MATERIALIZED (  -- columns with the ALL row; in each row opened = open_cases + closed
    SELECT analytics.protect_rows(
        (SELECT array_agg(v ORDER BY r.i, c) FROM r, LATERAL (VALUES (1, open_cases), (2, opened), (3, closed)) x(c, v)),
        3, (SELECT array_agg(total ORDER BY i) FROM r), ARRAY[1, 3, 2]) AS st
)
SELECT r.district,
       CASE WHEN st[3 * i - 2] > 0 THEN NULL ELSE r.open_cases END AS open_cases,
       st[3 * i - 2] > 0 AS open_cases_suppressed,
       CASE WHEN st[3 * i - 1] > 0 THEN NULL ELSE r.opened END AS opened,
       st[3 * i - 1] > 0 AS opened_suppressed,
       CASE WHEN st[3 * i] > 0 THEN NULL ELSE r.closed END AS closed,
       st[3 * i] > 0 AS closed_suppressed
FROM r, s;
COMMENT ON VIEW analytics.caseload_by_district IS
    'Cases per Stadtbezirk as far as the log has been read (over caseload_cases), with a total row district = ''ALL''; suppressed as one table (lines: each column with its total, opened = open_cases + closed in each row).';
COMMENT ON COLUMN analytics.caseload_by_district.open_cases IS 'Cases open now; NULL when suppressed';
COMMENT ON COLUMN analytics.caseload_by_district.open_cases_suppressed IS
    'True when open_cases is hidden: a small cell (1 to small_cell_max()) or hidden with one (secondary)';
COMMENT ON COLUMN analytics.caseload_by_district.opened_suppressed IS 'True when opened is hidden (small, or secondary)';
COMMENT ON COLUMN analytics.caseload_by_district.closed_suppressed IS 'True when closed is hidden (small, or secondary)';

CREATE OR REPLACE VIEW analytics.caseload_by_agency AS
WITH g AS (
    SELECT agency, false AS total, open_cases, opened, closed FROM caseload_by_agency
    UNION ALL
    SELECT 'ALL', true, coalesce(sum(open_cases), 0)::bigint, coalesce(sum(opened), 0)::bigint,
           coalesce(sum(closed), 0)::bigint
    FROM caseload_by_agency
), r AS (
    SELECT g.*, row_number() OVER (ORDER BY g.total, g.agency) AS i FROM g
), s AS MATERIALIZED (  -- columns with the ALL row; opened = open_cases + closed holds in the ALL row only
    SELECT analytics.protect_rows(
        (SELECT array_agg(v ORDER BY r.i, c) FROM r, LATERAL (VALUES (1, open_cases), (2, opened), (3, closed)) x(c, v)),
        3, (SELECT array_agg(total ORDER BY i) FROM r), ARRAY[1, 3, 2], (SELECT array_agg(total ORDER BY i) FROM r)
    ) AS st
)
SELECT r.agency,
       CASE WHEN st[3 * i - 2] > 0 THEN NULL ELSE r.open_cases END AS open_cases,
       st[3 * i - 2] > 0 AS open_cases_suppressed,
       CASE WHEN st[3 * i - 1] > 0 THEN NULL ELSE r.opened END AS opened,
       st[3 * i - 1] > 0 AS opened_suppressed,
       CASE WHEN st[3 * i] > 0 THEN NULL ELSE r.closed END AS closed,
       st[3 * i] > 0 AS closed_suppressed
FROM r, s;
COMMENT ON VIEW analytics.caseload_by_agency IS
    'Cases per agency as far as the log has been read (over caseload_by_agency): open and closed by the responsible agency, opened by the opening agency; total row agency = ''ALL''; suppressed as one table (lines: each column with its total, and opened = open_cases + closed in the total row).';
COMMENT ON COLUMN analytics.caseload_by_agency.open_cases_suppressed IS 'True when open_cases is hidden (small, or secondary)';
COMMENT ON COLUMN analytics.caseload_by_agency.opened_suppressed IS 'True when opened is hidden (small, or secondary)';
COMMENT ON COLUMN analytics.caseload_by_agency.closed_suppressed IS 'True when closed is hidden (small, or secondary)';

CREATE OR REPLACE FUNCTION analytics.caseloads(as_of timestamptz, group_by text DEFAULT 'district',
                                               only_district text DEFAULT NULL, only_agency text DEFAULT NULL)
RETURNS TABLE (group_key text, open_cases bigint, open_cases_suppressed boolean, waiting bigint,
               waiting_suppressed boolean, median_wait_days double precision, max_wait_days double precision)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp
AS $$
    WITH c AS (
        SELECT CASE group_by WHEN 'agency' THEN c.agency ELSE c.district END AS k,
               (c.first_assigned_at IS NULL OR c.first_assigned_at > as_of) AS waits,
               kim_days(c.opened_at, as_of) AS days
        FROM caseload_cases c
        WHERE c.opened_at <= as_of AND (c.closed_at IS NULL OR c.closed_at > as_of)
          AND (only_district IS NULL OR c.district = only_district)
          AND (only_agency IS NULL OR c.agency = only_agency)
    ), g AS (
        SELECT CASE WHEN grouping(k) = 1 THEN 'ALL' ELSE k END AS k, grouping(k) = 1 AS total, count(*) AS n,
               count(*) FILTER (WHERE waits) AS w,
               percentile_cont(0.5) WITHIN GROUP (ORDER BY days) FILTER (WHERE waits) AS med,
               max(days) FILTER (WHERE waits) AS mx
        FROM c
        GROUP BY GROUPING SETS ((k), ())
    ), r AS (
        SELECT g.*, row_number() OVER (ORDER BY g.total, g.k) AS i FROM g
    ), s AS MATERIALIZED (  -- lines: open_cases and waiting, each with its ALL total
        SELECT analytics.protect_rows(
            (SELECT array_agg(v ORDER BY r.i, x.c) FROM r, LATERAL (VALUES (1, r.n), (2, r.w)) x(c, v)),
            2, (SELECT array_agg(r.total ORDER BY r.i) FROM r)) AS st
    )
    SELECT r.k, CASE WHEN st[2 * i - 1] > 0 THEN NULL ELSE r.n END, st[2 * i - 1] > 0,
           CASE WHEN st[2 * i] > 0 THEN NULL ELSE r.w END, st[2 * i] > 0,
           analytics.over(r.med, r.w), analytics.over(r.mx, r.w)
    FROM r, s
    ORDER BY r.i
$$;
COMMENT ON FUNCTION analytics.caseloads(timestamptz, text, text, text) IS
    'Cases open at as_of and those still waiting for a first case manager (count, median and longest wait in days), per Stadtbezirk (group_by => ''district'') or responsible agency (''agency''); total row group_key = ''ALL''. Filters: only_district, only_agency (NULL: all). Suppressed as one table (lines: open_cases and waiting, each with its total); median and longest wait are NULL over 1 to small_cell_max() waiting cases.';

-- Referrals ---------------------------------------------------------------------------------------

CREATE OR REPLACE FUNCTION analytics.referral_flow(from_day date DEFAULT NULL, to_day date DEFAULT NULL,
                                                   only_from text DEFAULT NULL, only_to text DEFAULT NULL)
RETURNS TABLE (from_agency text, to_agency text, issued bigint, issued_suppressed boolean, accepted bigint,
               accepted_suppressed boolean, declined bigint, declined_suppressed boolean, completed bigint,
               completed_suppressed boolean, open bigint, open_suppressed boolean,
               acceptance_rate double precision, median_days_to_accept double precision,
               p90_days_to_accept double precision, median_days_to_complete double precision)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp
AS $$
    WITH g AS (
        SELECT CASE WHEN grouping(r.from_agency) = 1 THEN 'ALL' ELSE r.from_agency END AS f,
               CASE WHEN grouping(r.to_agency) = 1 THEN 'ALL' ELSE r.to_agency END AS t,
               grouping(r.from_agency) = 1 AS f_total, grouping(r.to_agency) = 1 AS t_total,
               count(*) AS issued, count(r.accepted_at) AS accepted, count(r.declined_at) AS declined,
               count(r.completed_at) AS completed,
               count(*) FILTER (WHERE r.status IN ('issued', 'accepted')) AS open,
               percentile_cont(0.5) WITHIN GROUP (ORDER BY kim_days(r.issued_at, r.accepted_at)) AS med_acc,
               percentile_cont(0.9) WITHIN GROUP (ORDER BY kim_days(r.issued_at, r.accepted_at)) AS p90_acc,
               percentile_cont(0.5) WITHIN GROUP (ORDER BY kim_days(r.issued_at, r.completed_at)) AS med_done
        FROM referrals r
        WHERE (from_day IS NULL OR (r.issued_at AT TIME ZONE 'Europe/Berlin')::date >= from_day)
          AND (to_day IS NULL OR (r.issued_at AT TIME ZONE 'Europe/Berlin')::date <= to_day)
          AND (only_from IS NULL OR r.from_agency = only_from)
          AND (only_to IS NULL OR r.to_agency = only_to)
        GROUP BY GROUPING SETS ((r.from_agency, r.to_agency), (r.from_agency), (r.to_agency), ())
    ), r AS (
        SELECT g.*, row_number() OVER (ORDER BY g.f_total, g.f, g.t_total, g.t) AS i,
               dense_rank() OVER (ORDER BY g.f_total, g.f) AS fi, dense_rank() OVER (ORDER BY g.t_total, g.t) AS ti
        FROM g
    ), cells AS (  -- cell 5 * (i - 1) + c for count c: 1 issued, 2 accepted, 3 declined, 4 completed, 5 open
        SELECT r.i, r.fi, r.ti, x.c, x.v, 5 * (r.i - 1) + x.c AS id, r.f_total OR r.t_total AS total
        FROM r, LATERAL (VALUES (1, r.issued), (2, r.accepted), (3, r.declined), (4, r.completed), (5, r.open)) x(c, v)
    ), lines AS (  -- per count: each row of the matrix (with its row total), each column (with its total);
                   -- per route: issued = open + declined + completed. Routes without referrals are absent (0).
        SELECT c, 0 AS kind, fi AS line, ti AS pos, id FROM cells
        UNION ALL
        SELECT c, 1, ti, fi, id FROM cells
        UNION ALL
        SELECT 6, 2, i, array_position(ARRAY[5, 3, 4, 1], c), id FROM cells WHERE c <> 2
    ), numbered AS (
        SELECT dense_rank() OVER (ORDER BY c, kind, line) AS line_no, pos, id FROM lines
    ), s AS MATERIALIZED (
        SELECT analytics.protect(
            (SELECT array_agg(v ORDER BY id) FROM cells), (SELECT array_agg(total ORDER BY id) FROM cells),
            (SELECT array_agg(line_no::integer ORDER BY line_no, pos) FROM numbered),
            (SELECT array_agg(id::integer ORDER BY line_no, pos) FROM numbered)) AS st
    ), h AS (
        SELECT r.*, st[5 * i - 4] > 0 AS h_issued, st[5 * i - 3] > 0 AS h_accepted, st[5 * i - 2] > 0 AS h_declined,
               st[5 * i - 1] > 0 AS h_completed, st[5 * i] > 0 AS h_open
        FROM r, s
    )
    SELECT f, t, CASE WHEN h_issued THEN NULL ELSE issued END, h_issued,
           CASE WHEN h_accepted THEN NULL ELSE accepted END, h_accepted,
           CASE WHEN h_declined THEN NULL ELSE declined END, h_declined,
           CASE WHEN h_completed THEN NULL ELSE completed END, h_completed,
           CASE WHEN h_open THEN NULL ELSE open END, h_open,
           CASE WHEN h_accepted OR h_declined THEN NULL
                ELSE analytics.over(accepted::double precision / nullif(accepted + declined, 0), accepted + declined) END,
           analytics.over(med_acc, accepted), analytics.over(p90_acc, accepted), analytics.over(med_done, completed)
    FROM h
    ORDER BY i
$$;
COMMENT ON FUNCTION analytics.referral_flow(date, date, text, text) IS
    'The from -> to agency matrix of referrals issued from from_day to to_day (Dortmund days, NULL: unbounded): issued, accepted, declined, completed, still open; acceptance rate (accepted of answered; NULL when a part is hidden) and days from issue to acceptance (median, p90) and to completion (median). Row and column totals have from_agency or to_agency = ''ALL''. Suppressed as one table (lines, per count: each row and each column of the matrix with its total; per route: issued = open + declined + completed).';

CREATE OR REPLACE FUNCTION analytics.referrals_open(as_of timestamptz, only_to text DEFAULT NULL)
RETURNS TABLE (to_agency text, open bigint, open_suppressed boolean, awaiting_answer bigint,
               awaiting_answer_suppressed boolean, overdue bigint, overdue_suppressed boolean)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp
AS $$
    WITH g AS (
        SELECT CASE WHEN grouping(o.to_agency) = 1 THEN 'ALL' ELSE o.to_agency END AS t,
               grouping(o.to_agency) = 1 AS total,
               coalesce(sum(o.open), 0)::bigint AS open, coalesce(sum(o.awaiting_answer), 0)::bigint AS awaiting,
               coalesce(sum(o.overdue), 0)::bigint AS overdue
        FROM referrals_open(as_of) o
        WHERE only_to IS NULL OR o.to_agency = only_to
        GROUP BY GROUPING SETS ((o.to_agency), ())
    ), r AS (
        SELECT g.*, row_number() OVER (ORDER BY g.total, g.t) AS i FROM g
    ), s AS MATERIALIZED (  -- lines: each column with its ALL total
        SELECT analytics.protect_rows(
            (SELECT array_agg(v ORDER BY r.i, x.c) FROM r,
                    LATERAL (VALUES (1, r.open), (2, r.awaiting), (3, r.overdue)) x(c, v)),
            3, (SELECT array_agg(r.total ORDER BY r.i) FROM r)) AS st
    )
    SELECT r.t, CASE WHEN st[3 * i - 2] > 0 THEN NULL ELSE r.open END, st[3 * i - 2] > 0,
           CASE WHEN st[3 * i - 1] > 0 THEN NULL ELSE r.awaiting END, st[3 * i - 1] > 0,
           CASE WHEN st[3 * i] > 0 THEN NULL ELSE r.overdue END, st[3 * i] > 0
    FROM r, s
    ORDER BY r.i
$$;
COMMENT ON FUNCTION analytics.referrals_open(timestamptz, text) IS
    'Referrals open at as_of per receiving agency (over referrals_open): open, still awaiting an answer, overdue (awaiting and past due_by); total row to_agency = ''ALL''. Suppressed as one table (lines: each column with its total).';

-- Backlog -----------------------------------------------------------------------------------------

CREATE OR REPLACE FUNCTION analytics.backlog(as_of timestamptz, weeks integer DEFAULT 8,
                                             only_procedure text DEFAULT NULL)
RETURNS TABLE (procedure text, pending bigint, pending_suppressed boolean, age_0_30 bigint,
               age_0_30_suppressed boolean, age_31_90 bigint, age_31_90_suppressed boolean, age_91_180 bigint,
               age_91_180_suppressed boolean, age_over_180 bigint, age_over_180_suppressed boolean,
               outflow_per_week double precision, weeks_to_clear double precision, cleared_by date,
               over_180_cleared_by date)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp
AS $$
    WITH ages AS (
        SELECT b.procedure,
               coalesce(sum(b.pending) FILTER (WHERE b.bucket = '0-30'), 0)::bigint AS a0,
               coalesce(sum(b.pending) FILTER (WHERE b.bucket = '31-90'), 0)::bigint AS a1,
               coalesce(sum(b.pending) FILTER (WHERE b.bucket = '91-180'), 0)::bigint AS a2,
               coalesce(sum(b.pending) FILTER (WHERE b.bucket = '>180'), 0)::bigint AS a3
        FROM backlog_age_buckets(as_of) b
        WHERE only_procedure IS NULL OR b.procedure = only_procedure
        GROUP BY b.procedure
    ), flow AS (
        SELECT w.procedure, w.outflow
        FROM backlog_weeks_to_clear(as_of, weeks) w
        WHERE w.procedure <> 'ALL' AND (only_procedure IS NULL OR w.procedure = only_procedure)
    ), per AS (
        SELECT procedure, false AS total, coalesce(a.a0, 0) AS a0, coalesce(a.a1, 0) AS a1,
               coalesce(a.a2, 0) AS a2, coalesce(a.a3, 0) AS a3, coalesce(f.outflow, 0) AS outflow
        FROM flow f FULL JOIN ages a USING (procedure)
    ), t AS (  -- the total row sums the rows shown: with only_procedure, that procedure alone
        SELECT * FROM per
        UNION ALL
        SELECT 'ALL', true, coalesce(sum(a0), 0)::bigint, coalesce(sum(a1), 0)::bigint, coalesce(sum(a2), 0)::bigint,
               coalesce(sum(a3), 0)::bigint, coalesce(sum(outflow), 0)::bigint
        FROM per
    ), r AS (
        SELECT t.*, t.a0 + t.a1 + t.a2 + t.a3 AS pending, t.outflow::double precision / weeks AS per_week,
               row_number() OVER (ORDER BY t.total, t.procedure) AS i
        FROM t
    ), s AS MATERIALIZED (  -- lines: each column with its ALL total; in each row the age buckets add up to pending
        SELECT analytics.protect_rows(
            (SELECT array_agg(v ORDER BY r.i, x.c) FROM r,
                    LATERAL (VALUES (1, r.pending), (2, r.a0), (3, r.a1), (4, r.a2), (5, r.a3)) x(c, v)),
            5, (SELECT array_agg(r.total ORDER BY r.i) FROM r), ARRAY[2, 3, 4, 5, 1]) AS st
    ), h AS (
        SELECT r.*, st[5 * i - 4] > 0 AS h_pending, st[5 * i - 3] > 0 AS h0, st[5 * i - 2] > 0 AS h1,
               st[5 * i - 1] > 0 AS h2, st[5 * i] > 0 AS h3,
               -- an outlook gives its count back (count = weeks x outflow per week): hidden with it
               (st[5 * i - 4] > 0 OR analytics.is_small(r.outflow) OR r.outflow = 0) AS hide
        FROM r, s
    )
    SELECT h.procedure, CASE WHEN h_pending THEN NULL ELSE pending END, h_pending,
           CASE WHEN h0 THEN NULL ELSE a0 END, h0, CASE WHEN h1 THEN NULL ELSE a1 END, h1,
           CASE WHEN h2 THEN NULL ELSE a2 END, h2, CASE WHEN h3 THEN NULL ELSE a3 END, h3,
           CASE WHEN analytics.is_small(outflow) THEN NULL ELSE per_week END,
           CASE WHEN hide THEN NULL ELSE pending / per_week END,
           CASE WHEN hide THEN NULL
                ELSE ((as_of + make_interval(secs => pending / per_week * 7 * 86400)) AT TIME ZONE 'Europe/Berlin')::date
           END,
           CASE WHEN hide OR h3 THEN NULL
                ELSE ((as_of + make_interval(secs => a3 / per_week * 7 * 86400)) AT TIME ZONE 'Europe/Berlin')::date
           END
    FROM h
    ORDER BY i
$$;
COMMENT ON FUNCTION analytics.backlog(timestamptz, integer, text) IS
    'Applications pending at as_of per procedure (total row ''ALL'': the procedures shown, so with only_procedure that one alone), by age in days since filing (0-30, 31-90, 91-180, over 180), and the outlook at the throughput of the `weeks` weeks before as_of (over backlog_age_buckets and backlog_weeks_to_clear): outflow per week, weeks to clear, the day the backlog is cleared, and the day the applications older than 180 days are cleared when the oldest go first. Suppressed as one table (lines: each count column with its total; the age buckets with pending in each row). Outlook columns are NULL when their count is hidden, the outflow is small, or nothing left the backlog.';

CREATE OR REPLACE FUNCTION analytics.backlog_flow_weekly(from_day date DEFAULT NULL, to_day date DEFAULT NULL,
                                                         only_procedure text DEFAULT NULL)
RETURNS TABLE (week date, inflow bigint, inflow_suppressed boolean, outflow bigint, outflow_suppressed boolean,
               granted bigint, granted_suppressed boolean, refused bigint, refused_suppressed boolean,
               withdrawn bigint, withdrawn_suppressed boolean)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp
AS $$
    WITH g AS (
        SELECT f.week, sum(f.inflow)::bigint AS inflow, sum(f.outflow)::bigint AS outflow,
               sum(f.granted)::bigint AS granted, sum(f.refused)::bigint AS refused,
               sum(f.withdrawn)::bigint AS withdrawn
        FROM backlog_flow_weekly f
        WHERE (from_day IS NULL OR f.week >= date_trunc('week', from_day)::date)
          AND (to_day IS NULL OR f.week <= to_day)
          AND (only_procedure IS NULL OR f.procedure = only_procedure)
        GROUP BY f.week
    ), r AS (
        SELECT g.*, row_number() OVER (ORDER BY g.week) AS i FROM g
    ), s AS MATERIALIZED (  -- no total row; in each week outflow = granted + refused + withdrawn
        SELECT analytics.protect_rows(
            (SELECT array_agg(v ORDER BY r.i, x.c) FROM r,
                    LATERAL (VALUES (1, r.inflow), (2, r.outflow), (3, r.granted), (4, r.refused), (5, r.withdrawn))
                    x(c, v)),
            5, (SELECT array_agg(false ORDER BY r.i) FROM r), ARRAY[3, 4, 5, 2]) AS st
    )
    SELECT r.week, CASE WHEN st[5 * i - 4] > 0 THEN NULL ELSE r.inflow END, st[5 * i - 4] > 0,
           CASE WHEN st[5 * i - 3] > 0 THEN NULL ELSE r.outflow END, st[5 * i - 3] > 0,
           CASE WHEN st[5 * i - 2] > 0 THEN NULL ELSE r.granted END, st[5 * i - 2] > 0,
           CASE WHEN st[5 * i - 1] > 0 THEN NULL ELSE r.refused END, st[5 * i - 1] > 0,
           CASE WHEN st[5 * i] > 0 THEN NULL ELSE r.withdrawn END, st[5 * i] > 0
    FROM r, s
    ORDER BY r.i
$$;
COMMENT ON FUNCTION analytics.backlog_flow_weekly(date, date, text) IS
    'Per calendar week (its Monday): applications filed (inflow) and no longer pending (outflow: granted, refused or withdrawn), over backlog_flow_weekly; filter only_procedure. Suppressed per week as one line: outflow = granted + refused + withdrawn.';

-- Grants --------------------------------------------------------------------------------------------
-- The replaced objects keep theirs; the new functions are called by the views as the reader.

REVOKE EXECUTE ON FUNCTION analytics.protect(bigint[], boolean[], integer[], integer[], integer) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION analytics.protect_rows(bigint[], integer, boolean[], integer[], boolean[], integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION analytics.protect(bigint[], boolean[], integer[], integer[], integer) TO kim_analyst;
GRANT EXECUTE ON FUNCTION analytics.protect_rows(bigint[], integer, boolean[], integer[], boolean[], integer) TO kim_analyst;
GRANT SELECT ON ALL TABLES IN SCHEMA analytics TO kim_analyst;
