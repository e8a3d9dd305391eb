-- The caseload per case manager without a figure tied to a case manager: per agency, how many case managers
-- carry 1-10, 11-20, 21-30, 31-40 and more than 40 open cases. It answers "is the caseload per case manager
-- reasonable" whether or not per-case-manager figures are allowed (0100), and is suppressed like every other
-- answer of the schema: small cells, and secondary suppression over its lines (each column with its 'ALL'
-- total; in each row the five bands add up to case_managers). One rule more: an agency with 1 to
-- small_cell_max() case managers shows none of its bands, not even a 0 — zeros beside one hidden band would tell
-- which band each of its few case managers is in. Its bands enter analytics.protect as already hidden (NULL), so
-- their partners are hidden as for any hidden cell. Pseudonyms do not leave the view.

CREATE VIEW analytics.case_manager_load AS
WITH m AS (  -- one row per case manager with open cases; only its agency and its count are used
    SELECT agency, open_cases FROM caseload_open_by_manager
), g AS (
    SELECT CASE WHEN grouping(agency) = 1 THEN 'ALL' ELSE agency END AS agency, grouping(agency) = 1 AS total,
           count(*) AS managers,
           count(*) FILTER (WHERE open_cases <= 10) AS b1,
           count(*) FILTER (WHERE open_cases BETWEEN 11 AND 20) AS b2,
           count(*) FILTER (WHERE open_cases BETWEEN 21 AND 30) AS b3,
           count(*) FILTER (WHERE open_cases BETWEEN 31 AND 40) AS b4,
           count(*) FILTER (WHERE open_cases > 40) AS b5
    FROM m
    GROUP BY GROUPING SETS ((agency), ())
), r AS (
    SELECT g.*, row_number() OVER (ORDER BY g.total, g.agency) AS i FROM g
), s AS MATERIALIZED (  -- lines: each column with its ALL total; in each row the bands add up to case_managers
    SELECT analytics.protect_rows(
        (SELECT array_agg(CASE WHEN x.c > 1 AND analytics.is_small(r.managers) THEN NULL ELSE x.v END
                          ORDER BY r.i, x.c)
         FROM r, LATERAL (VALUES (1, r.managers), (2, r.b1), (3, r.b2), (4, r.b3), (5, r.b4), (6, r.b5)) x(c, v)),
        6, (SELECT array_agg(r.total ORDER BY r.i) FROM r), ARRAY[2, 3, 4, 5, 6, 1]) AS st
)
SELECT r.agency,
       CASE WHEN st[6 * i - 5] > 0 THEN NULL ELSE r.managers END AS case_managers,
       st[6 * i - 5] > 0 AS case_managers_suppressed,
       CASE WHEN st[6 * i - 4] > 0 THEN NULL ELSE r.b1 END AS load_1_10,
       st[6 * i - 4] > 0 AS load_1_10_suppressed,
       CASE WHEN st[6 * i - 3] > 0 THEN NULL ELSE r.b2 END AS load_11_20,
       st[6 * i - 3] > 0 AS load_11_20_suppressed,
       CASE WHEN st[6 * i - 2] > 0 THEN NULL ELSE r.b3 END AS load_21_30,
       st[6 * i - 2] > 0 AS load_21_30_suppressed,
       CASE WHEN st[6 * i - 1] > 0 THEN NULL ELSE r.b4 END AS load_31_40,
       st[6 * i - 1] > 0 AS load_31_40_suppressed,
       CASE WHEN st[6 * i] > 0 THEN NULL ELSE r.b5 END AS load_over_40,
       st[6 * i] > 0 AS load_over_40_suppressed
FROM r, s;
COMMENT ON VIEW analytics.case_manager_load IS
    'The caseload per case manager without naming one, as far as the log has been read (over caseload_open_by_manager): per agency of the case managers, how many have open cases and how many of them carry 1-10, 11-20, 21-30, 31-40 and more than 40; total row agency = ''ALL''. A case manager without open cases is not counted. Always available, whatever case_manager_figures() says. Suppressed as one table (lines: each column with its total; in each row the five bands add up to case_managers); an agency with 1 to small_cell_max() case managers shows none of its bands, not even a 0.';
COMMENT ON COLUMN analytics.case_manager_load.agency IS 'The case managers'' agency (e.g. KIM_CASE_MANAGEMENT); ''ALL'' for the total row';
COMMENT ON COLUMN analytics.case_manager_load.case_managers IS 'Case managers with at least one open case; NULL when suppressed';
COMMENT ON COLUMN analytics.case_manager_load.case_managers_suppressed IS 'True when case_managers is hidden (small, or secondary)';
COMMENT ON COLUMN analytics.case_manager_load.load_1_10 IS 'Of them, those with 1 to 10 open cases; NULL when suppressed';
COMMENT ON COLUMN analytics.case_manager_load.load_1_10_suppressed IS 'True when load_1_10 is hidden (small, or secondary)';
COMMENT ON COLUMN analytics.case_manager_load.load_11_20 IS 'Of them, those with 11 to 20 open cases; NULL when suppressed';
COMMENT ON COLUMN analytics.case_manager_load.load_11_20_suppressed IS 'True when load_11_20 is hidden (small, or secondary)';
COMMENT ON COLUMN analytics.case_manager_load.load_21_30 IS 'Of them, those with 21 to 30 open cases; NULL when suppressed';
COMMENT ON COLUMN analytics.case_manager_load.load_21_30_suppressed IS 'True when load_21_30 is hidden (small, or secondary)';
COMMENT ON COLUMN analytics.case_manager_load.load_31_40 IS 'Of them, those with 31 to 40 open cases; NULL when suppressed';
COMMENT ON COLUMN analytics.case_manager_load.load_31_40_suppressed IS 'True when load_31_40 is hidden (small, or secondary)';
COMMENT ON COLUMN analytics.case_manager_load.load_over_40 IS 'Of them, those with more than 40 open cases; NULL when suppressed';
COMMENT ON COLUMN analytics.case_manager_load.load_over_40_suppressed IS 'True when load_over_40 is hidden (small, or secondary)';

GRANT SELECT ON analytics.case_manager_load TO kim_analyst;
