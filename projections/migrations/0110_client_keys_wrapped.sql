-- Client keys only wrapped, found only by a keyed hash (findings of the data-protection officer: a deleted key
-- stayed readable in table files and WAL; the key table held the pseudonym in clear). Step 1 of 2: new columns
-- and tables. Then `kim up` (infra/key_custody.py, in the transaction of 0111 and before it) writes the secrets
-- directory — pepper and key-encryption key, files outside the database — wraps every key under the KEK and
-- puts each pseudonym's keyed hash in its place; 0111 drops the clear columns.

-- Which key-encryption key wraps the client keys: one row, the current KEK's id (the key itself is a file in
-- the secrets directory, never in the database). `kim keys rotate` replaces the row in the transaction that
-- re-wraps every key; the foreign key below keeps a key from being stored under a KEK that is being retired.
CREATE TABLE key_encryption_keys (
    kek_id     text        PRIMARY KEY CHECK (kek_id ~ '^kek-[0-9a-f]{16}$'),
    created_at timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE key_encryption_keys IS
    'The id of the key-encryption key the client keys are wrapped with (the key is a file outside the database).';

-- A fingerprint of each secret kept outside the database (HMAC of a fixed text under it, not the secret), so a
-- component handed another installation's secrets directory is refused rather than making new client keys.
CREATE TABLE secret_fingerprints (
    name        text  PRIMARY KEY,
    fingerprint bytea NOT NULL
);
COMMENT ON TABLE secret_fingerprints IS
    'Fingerprints of the secrets kept outside the database (secrets directory), to refuse a wrong directory.';

ALTER TABLE client_keys DROP CONSTRAINT client_keys_pkey;
ALTER TABLE client_keys
    ADD COLUMN client_digest bytea CHECK (length(client_digest) = 32),
    ADD COLUMN wrapped bytea CHECK (length(wrapped) = 60),
    ADD COLUMN kek_id text REFERENCES key_encryption_keys (kek_id),
    ALTER COLUMN client_ref DROP NOT NULL,
    ALTER COLUMN key DROP NOT NULL;
