-- Client keys only wrapped, found only by a keyed hash. Step 2 of 2. `kim up` ran its part in this migration's
-- transaction just before (infra/key_custody.py): the pepper is in the secrets directory (taken over from
-- client_erasure_pepper, so earlier erasures are still found), every key is wrapped under the key-encryption
-- key and found by HMAC-SHA256(pepper, pseudonym), and every idempotency hash is keyed. The clear columns go.
-- (Run without `kim up`'s part, on a database that holds keys or erasures, this refuses instead of losing them.)
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM client_keys WHERE wrapped IS NULL OR client_digest IS NULL OR kek_id IS NULL) THEN
        RAISE EXCEPTION 'client_keys holds keys that are not wrapped yet: run `kim up`, which wraps them first';
    END IF;
    IF EXISTS (SELECT 1 FROM erased_clients)
       AND NOT EXISTS (SELECT 1 FROM secret_fingerprints WHERE name = 'pepper') THEN
        RAISE EXCEPTION 'the erasure pepper is not in the secrets directory yet: run `kim up`, which moves it first';
    END IF;
END $$;

ALTER TABLE client_keys
    DROP COLUMN client_ref,
    DROP COLUMN key,
    ALTER COLUMN client_digest SET NOT NULL,
    ALTER COLUMN wrapped SET NOT NULL,
    ALTER COLUMN kek_id SET NOT NULL,
    ADD PRIMARY KEY (client_digest);

-- The pepper lives in the secrets directory now (file `pepper`), no longer in the database.
DROP TABLE client_erasure_pepper;

COMMENT ON TABLE client_keys IS
    'Per-client AEAD keys that seal client_ref in events, each wrapped (AES-256-GCM) under the key-encryption key '
    'kek_id and found by client_digest = HMAC-SHA256(pepper, pseudonym); no pseudonym, no clear key. Deleting a '
    'row erases the client (crypto-shredding); `kim keys rotate` makes deleted rows'' copies unopenable.';
COMMENT ON COLUMN client_keys.client_digest IS 'HMAC-SHA256 of the pseudonym under the pepper (secrets directory).';
COMMENT ON COLUMN client_keys.wrapped IS 'nonce || AES-256-GCM(key) || tag under the KEK kek_id, bound to key_id.';
COMMENT ON COLUMN erased_clients.digest IS 'HMAC-SHA256 of the erased pseudonym under the pepper (secrets directory).';
COMMENT ON COLUMN gateway_idempotency.request_hash IS
    'HMAC-SHA256 under the pepper (secrets directory) of SHA-256(endpoint, canonical JSON body); never a plain hash.';
