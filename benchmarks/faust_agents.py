"""Reference faust agents for the benchmark: ``python -m benchmarks.faust_agents noop|naive``.

- noop: decodes nothing, does nothing — faust's own per-event ceiling.
- naive: decodes each event and runs one asyncpg upsert per event — the baseline a sink must beat.

Reads BENCH_TOPIC, BENCH_EVENTS, BENCH_RESULT, BENCH_APP_ID, KIM_KAFKA_BOOTSTRAP and (naive)
KIM_DATABASE_URL from the environment; writes ``{"events": n, "seconds": s}`` to BENCH_RESULT
once it has seen BENCH_EVENTS events (timed from the first event to the last).
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import asyncpg
import faust

from schemas import Codec

NAIVE_SQL = {
    "CaseOpened": """
        INSERT INTO caseload_cases (case_id, agency, district, status, opened_at)
        VALUES ($1, $2, $3, 'open', $4) ON CONFLICT (case_id) DO NOTHING""",
    "CaseClosed": """
        UPDATE caseload_cases SET status = 'closed', closed_at = $2, closure_reason = $3
        WHERE case_id = $1 AND status = 'open'""",
}


def main(kind: str) -> None:
    env = os.environ
    expected = int(env["BENCH_EVENTS"])
    result = Path(env["BENCH_RESULT"])
    app = faust.App(
        env["BENCH_APP_ID"],
        broker=f"kafka://{env['KIM_KAFKA_BOOTSTRAP']}",
        key_serializer="raw",
        value_serializer="raw",
        web_enabled=False,
        topic_replication_factor=1,
        topic_disable_leader=True,
        consumer_auto_offset_reset="earliest",
    )
    topic = app.topic(env["BENCH_TOPIC"], key_type=bytes, value_type=bytes, internal=False)
    clock = {"first": 0.0, "seen": 0}
    codec = Codec()

    def count() -> None:
        if clock["seen"] == 0:
            clock["first"] = time.perf_counter()
        clock["seen"] += 1
        if clock["seen"] == expected:
            result.write_text(json.dumps({"events": expected, "seconds": time.perf_counter() - clock["first"]}))

    if kind == "noop":

        @app.agent(topic)
        async def noop(stream: faust.StreamT) -> None:
            async for _ in stream:
                count()

    else:

        @app.agent(topic)
        async def naive(stream: faust.StreamT) -> None:
            conn = await asyncpg.connect(env["KIM_DATABASE_URL"])
            async for value in stream:
                event = codec.decode(value)
                p = event.payload
                if event.event_type == "CaseOpened":
                    await conn.execute(
                        NAIVE_SQL["CaseOpened"], p["case_id"], event.source_agency, p["district"], event.occurred_at
                    )
                elif event.event_type == "CaseClosed":
                    await conn.execute(NAIVE_SQL["CaseClosed"], p["case_id"], event.occurred_at, p["reason"])
                count()

    worker = faust.Worker(app, loglevel="warn", quiet=True)
    worker.spinner = None
    worker.execute_from_commandline()


if __name__ == "__main__":
    main(sys.argv[1])
