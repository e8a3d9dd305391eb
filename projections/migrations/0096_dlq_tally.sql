-- The dead-letter count of `kim status`, kept here so that each call reads from Kafka only the letters
-- added since the last one instead of the whole DLQ topic (a one-shot command remembers nothing else).
-- Written only by streams/operations/dlq_tally_io.py, under a transaction-scoped advisory lock per DLQ topic, so
-- two `kim status` at once neither count a letter twice nor move a position back.
--
-- Per DLQ partition the tally covers the offsets [from_offset, next_offset): from_offset is the log start
-- offset when the counting began. When the log start has moved past it (retention deleted counted letters)
-- or the log ends before next_offset (the topic was recreated), the partition is counted again from its
-- current start, so the counts are always those of the letters still in the log.
CREATE TABLE dlq_tally (
    dlq_topic    text        NOT NULL,
    partition    integer     NOT NULL CHECK (partition >= 0),
    from_offset  bigint      NOT NULL CHECK (from_offset >= 0),
    next_offset  bigint      NOT NULL,
    updated_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (dlq_topic, partition),
    CHECK (next_offset >= from_offset)
);

-- Letters per projection (the header kim.projection; '' when a letter has none) in a partition's range.
CREATE TABLE dlq_tally_letters (
    dlq_topic    text        NOT NULL,
    partition    integer     NOT NULL,
    projection   text        NOT NULL,
    letters      bigint      NOT NULL CHECK (letters > 0),
    PRIMARY KEY (dlq_topic, partition, projection),
    FOREIGN KEY (dlq_topic, partition) REFERENCES dlq_tally (dlq_topic, partition) ON DELETE CASCADE
);

COMMENT ON TABLE dlq_tally IS
    'kim status: per DLQ partition, the offsets [from_offset, next_offset) its dead-letter count covers.';
COMMENT ON TABLE dlq_tally_letters IS
    'kim status: dead letters per DLQ partition and projection in the range dlq_tally records.';
