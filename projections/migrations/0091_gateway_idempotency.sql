-- Gateway idempotency keys (issue 8, hostile input): a partner that sends `Idempotency-Key: K` with a publish
-- request and sends it again (a retry after a timeout, a replayed request) gets the first answer back and
-- nothing is published twice. Written only by web/gateway/idempotency.py. One row per (agency, key): keys are
-- scoped per agency, so two agencies may use the same key. Rows are kept 24 h after `created_at`; the gateway
-- deletes older ones (and treats an expired key as new).
--
-- A row is in one of three states:
--   in flight   answer IS NULL AND lease_until >  now()   another request with the key gets 409
--   unfinished  answer IS NULL AND lease_until <= now()   the next request with the key takes it over and,
--                                                         when `records` is set, sends exactly those records
--                                                         again (the same event ids: projections drop repeats)
--   done        answer IS NOT NULL                        a replay gets `status` and `answer` back
CREATE TABLE gateway_idempotency (
    agency        text        NOT NULL,
    key           text        NOT NULL CHECK (length(key) BETWEEN 1 AND 255),
    request_hash  bytea       NOT NULL,                -- SHA-256 of the endpoint and the canonical JSON body
    created_at    timestamptz NOT NULL DEFAULT now(),
    lease_until   timestamptz NOT NULL,                -- an in-flight request owns the key until then
    attempts      integer     NOT NULL DEFAULT 1,
    records       jsonb,                               -- the encoded records while unfinished; NULL once done
    status        integer,                             -- the HTTP status of the answer
    answer        jsonb,                               -- the answer's JSON body (event ids, topics, offsets)
    completed_at  timestamptz,
    PRIMARY KEY (agency, key),
    CHECK ((answer IS NULL) = (status IS NULL))
);

CREATE INDEX gateway_idempotency_by_age ON gateway_idempotency (created_at);

COMMENT ON TABLE gateway_idempotency IS
    'Gateway Idempotency-Key per agency: request hash, lease, the records while unfinished, the answer; kept 24 h.';
