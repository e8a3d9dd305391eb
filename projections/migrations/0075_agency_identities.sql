-- Agency identities (issue 8): who may publish, the keys records are signed with, the gateway's tokens.
-- Kafka holds each agency's login (SCRAM user agency-<name>) and ACLs; these tables hold the rest.
-- No analyst role is granted anything here (0060 grants only the analytics schema).

CREATE TABLE agencies (
    agency      text PRIMARY KEY,              -- the Agency enum's symbol, e.g. JOBCENTER
    kafka_user  text NOT NULL,                 -- its Kafka principal, User:<kafka_user>
    token_hash  bytea UNIQUE,                  -- SHA-256 of its gateway bearer token; NULL once removed
    added_at    timestamptz NOT NULL DEFAULT now(),
    removed_at  timestamptz
);

-- Signing keys are never deleted: the log keeps records signed with them, and every rebuild verifies
-- those records again. A removed agency's keys are retired (no new token, no Kafka login) but kept.
CREATE TABLE signing_keys (
    key_id      text PRIMARY KEY,              -- AGENCY.xxxxxxxx, sent in each record's kim.signer header
    agency      text NOT NULL,
    secret      bytea NOT NULL,                -- HMAC-SHA256 key; the agency holds the same
    created_at  timestamptz NOT NULL DEFAULT now(),
    retired_at  timestamptz
);

-- Records below these offsets were written before records were signed; they are accepted unsigned.
-- `kim up` records the end offsets once per topic when it first runs with signing.
CREATE TABLE signing_cutoffs (
    topic       text NOT NULL,
    partition   integer NOT NULL,
    from_offset bigint NOT NULL,
    PRIMARY KEY (topic, partition)
);
