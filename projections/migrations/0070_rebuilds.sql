-- Every rebuild (`kim replay PROJECTION`) and as-of copy (`kim replay PROJECTION --until T`) the
-- platform has started, one row per copy. The copy itself is a schema of its own (`copy_schema`)
-- holding the projection's tables and its own checkpoints; `kim status` and the workers' metrics
-- read progress from here. A row whose state is 'running' but whose `updated_at` stopped moving
-- belongs to an interrupted replay: running the same command again resumes it.
CREATE TABLE projection_rebuilds (
    copy_schema  text        PRIMARY KEY,
    projection   text        NOT NULL,
    kind         text        NOT NULL CHECK (kind IN ('rebuild', 'as_of')),
    from_at      timestamptz,
    until_at     timestamptz,
    state        text        NOT NULL CHECK (state IN ('running', 'verifying', 'swapped', 'ready', 'failed', 'dropped')),
    total        bigint,
    applied      bigint      NOT NULL DEFAULT 0,
    started_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    finished_at  timestamptz,
    detail       text
);

CREATE INDEX projection_rebuilds_by_projection ON projection_rebuilds (projection, state);
