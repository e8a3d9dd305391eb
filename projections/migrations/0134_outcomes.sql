-- outcomes: written only by projections/outcomes/fold.py.
-- One row per case: how it began and ended, its parties (judged as caseload judges them) and the client's key
-- id, which links a later case of the same client (a return) and is nulled by an erasure.
CREATE TABLE outcomes_cases (
    case_id          text        PRIMARY KEY,
    district         text        NOT NULL,
    target_group     text        NOT NULL,
    opened_at        timestamptz NOT NULL,
    opened_by        text        NOT NULL,
    status           text        NOT NULL CHECK (status IN ('open', 'closed')),
    holder           text        NOT NULL,
    manager_agency   text,
    first_contact_at timestamptz,
    closed_at        timestamptz,
    closure_reason   text,
    handovers        integer     NOT NULL DEFAULT 0,
    client_key_id    text,
    consents         json        NOT NULL DEFAULT '{}',
    seen             bigint[]    NOT NULL DEFAULT '{}'
);
CREATE INDEX outcomes_cases_client ON outcomes_cases (client_key_id, opened_at) WHERE client_key_id IS NOT NULL;

-- One row per goal agreed with a client, and how it ended.
CREATE TABLE outcomes_goals (
    case_id        text        NOT NULL,
    goal_id        text        NOT NULL,
    lebenslage     text        NOT NULL,
    agency         text        NOT NULL,
    district       text        NOT NULL,
    agreed_at      timestamptz NOT NULL,
    target_date    date        NOT NULL,
    status         text        NOT NULL CHECK (status IN ('agreed', 'achieved', 'abandoned')),
    resolved_at    timestamptz,
    abandon_reason text,
    PRIMARY KEY (case_id, goal_id)
);
