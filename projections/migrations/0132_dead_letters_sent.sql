-- Which records each projection has dead-lettered (streams/runtime/dlq.py send_once), written in the same
-- transaction as the checkpoint that moves past them: a rebuild does not send a second letter for a record
-- the live projection (or an earlier rebuild) already dead-lettered, so no copy of a bad record multiplies in
-- kim.dlq. Positions only — no bytes, no reasons (those are in the letter).
CREATE TABLE dead_letters_sent (
    projection text    NOT NULL,
    topic      text    NOT NULL,
    partition  integer NOT NULL,
    "offset"   bigint  NOT NULL,
    sent_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (projection, topic, partition, "offset")
);
COMMENT ON TABLE dead_letters_sent IS 'Positions of the records each projection has sent a dead letter for (once each).';
