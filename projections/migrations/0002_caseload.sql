-- caseload: one row per case, written only by projections/caseload/fold.py.
CREATE TABLE caseload_cases (
    case_id        text        PRIMARY KEY,
    agency         text        NOT NULL,
    district       text        NOT NULL,
    status         text        NOT NULL CHECK (status IN ('open', 'closed')),
    opened_at      timestamptz NOT NULL,
    closed_at      timestamptz,
    closure_reason text
);
CREATE INDEX caseload_cases_open ON caseload_cases (agency, district) WHERE status = 'open';

-- Analyst views: open, opened and closed cases per agency and per Stadtbezirk.
CREATE VIEW caseload_by_agency AS
SELECT agency,
       count(*) FILTER (WHERE status = 'open')   AS open_cases,
       count(*)                                  AS opened,
       count(*) FILTER (WHERE status = 'closed') AS closed
FROM caseload_cases
GROUP BY agency;

CREATE VIEW caseload_by_district AS
SELECT district,
       count(*) FILTER (WHERE status = 'open')   AS open_cases,
       count(*)                                  AS opened,
       count(*) FILTER (WHERE status = 'closed') AS closed
FROM caseload_cases
GROUP BY district;
