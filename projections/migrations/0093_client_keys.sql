-- Erasure by crypto-shredding (docs/data-protection.md section 6).
-- One AES-256-GCM key per client pseudonym. CaseOpened and ApplicationFiled (v2) carry the pseudonym only
-- sealed under this key; `kim erase` deletes the row, and every sealed copy in the log becomes unreadable.
-- Only the platform reads this table (gateway, kim publish, kim erase, the simulation); no projection does.
CREATE TABLE client_keys (
    client_ref text        PRIMARY KEY,
    key_id     text        NOT NULL UNIQUE,
    key        bytea       NOT NULL CHECK (length(key) = 32),
    created_at timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE client_keys IS 'Per-client AEAD keys that seal client_ref in events; deleting a row erases the client (crypto-shredding).';

-- "Was this pseudonym erased already?" without keeping the pseudonym: an HMAC-SHA256 of it under a
-- random pepper of this installation (one row, made here), with the erasure's time and receipt id.
CREATE TABLE client_erasure_pepper (
    only_row boolean PRIMARY KEY DEFAULT true CHECK (only_row),
    pepper   bytea   NOT NULL
);
INSERT INTO client_erasure_pepper (pepper)
VALUES (decode(replace(gen_random_uuid()::text || gen_random_uuid()::text, '-', ''), 'hex'));

CREATE TABLE erased_clients (
    digest     bytea       PRIMARY KEY,
    key_id     text        NOT NULL,
    erasure_id text        NOT NULL,
    erased_at  timestamptz NOT NULL DEFAULT now()
);

-- The key id (random, not personal data) of the client of each case and application, written by the
-- folds from the sealed field, so that `kim erase` finds a client's cases and applications.
ALTER TABLE caseload_cases ADD COLUMN client_key_id text;
ALTER TABLE backlog_applications ADD COLUMN client_key_id text;
CREATE INDEX caseload_cases_client_key ON caseload_cases (client_key_id) WHERE client_key_id IS NOT NULL;
CREATE INDEX backlog_applications_client_key ON backlog_applications (client_key_id) WHERE client_key_id IS NOT NULL;
