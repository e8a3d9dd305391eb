-- Which dead letters were re-driven into which projection, written in the same transaction as
-- the rows they changed: a letter is applied at most once, however often `kim dlq redrive` runs.
CREATE TABLE dlq_redriven (
    projection   text        NOT NULL,
    dlq_topic    text        NOT NULL,
    partition    integer     NOT NULL,
    "offset"     bigint      NOT NULL,
    outcome      text        NOT NULL CHECK (outcome IN ('applied', 'failed_again')),
    reason       text,
    redriven_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (projection, dlq_topic, partition, "offset")
);
