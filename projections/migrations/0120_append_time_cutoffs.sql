-- A retired signing key verifies only records appended before its retirement (`kim agency remove` sets
-- signing_keys.retired_at), judged by the broker's append time: the event topics are
-- message.timestamp.type=LogAppendTime. Records written before a topic was switched carry the producer's time
-- (CreateTime), which cannot be trusted; they were all written before the switch, whose end offsets `kim up`
-- records here once per topic. Below them a record counts as appended before every retirement.
CREATE TABLE append_time_cutoffs (
    topic       text NOT NULL,
    partition   integer NOT NULL,
    from_offset bigint NOT NULL,                 -- the first offset stamped with the broker's append time
    recorded_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (topic, partition)
);

COMMENT ON COLUMN signing_keys.retired_at IS
    'Set by `kim agency remove`: the key verifies only records the broker appended before this instant';
