-- A client erased and then seen again (an agency opens a new case for the same pseudonym: the gateway seals it
-- with a new key, never the destroyed one) can be erased again: `erased_clients` keeps one row per erased key,
-- not one per pseudonym. `kim erase` of a pseudonym without a key answers with the latest erasure.
ALTER TABLE erased_clients DROP CONSTRAINT erased_clients_pkey;
ALTER TABLE erased_clients ADD PRIMARY KEY (digest, key_id);
