"""Reference faust agents for the benchmark: ``python -m benchmarks.faust_agents noop|naive``.

- noop: decodes nothing, does nothing — faust's own per-event ceiling.
- naive: decodes each event and runs one asyncpg statement per event the caseload applies — the baseline a
  sink must beat.

Reads BENCH_TOPIC, BENCH_EVENTS, BENCH_RESULT, BENCH_APP_ID, KIM_KAFKA_BOOTSTRAP and (naive)
KIM_DATABASE_URL from the environment; writes ``{"events": n, "seconds": s, "cpu_s": c}`` to BENCH_RESULT
once it has seen BENCH_EVENTS events (timed, and its CPU counted, from the first event to the last).
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import asyncpg
import faust

from infra.platform_identity import kafka_connection
from infra.settings import load_settings
from schemas import Codec

NAIVE_SQL = {  # one statement per event the caseload projection applies (no checks, no dedupe)
    "CaseOpened": """
        INSERT INTO caseload_cases (case_id, agency, district, status, opened_at, opened_by)
        VALUES ($1, $2, $3, 'open', $4, $2) ON CONFLICT (case_id) DO NOTHING""",
    "CaseClosed": """
        UPDATE caseload_cases SET status = 'closed', closed_at = $2, closure_reason = $3
        WHERE case_id = $1 AND status = 'open'""",
    "CaseManagerAssigned": """
        UPDATE caseload_cases SET case_manager_ref = $2, manager_agency = $3, assigned_at = $4,
            first_assigned_at = coalesce(first_assigned_at, $4) WHERE case_id = $1""",
    "NeedsAssessed": "UPDATE caseload_cases SET lebenslagen = $2, priorities = $3 WHERE case_id = $1",
    "CaseHandedOver": """
        UPDATE caseload_cases SET agency = $2, handovers = handovers + 1, handed_over_at = $3 WHERE case_id = $1""",
    "CasePaused": "UPDATE caseload_cases SET paused_since = $2, pauses = pauses + 1 WHERE case_id = $1",
    "CaseResumed": "UPDATE caseload_cases SET paused_since = NULL WHERE case_id = $1",
    "ConsentGranted": """
        UPDATE caseload_cases SET consents = (consents::jsonb || jsonb_build_object($2::text, $3::text))::json
        WHERE case_id = $1""",
    "ConsentWithdrawn": """
        UPDATE caseload_cases SET consents = (consents::jsonb - $2::text)::json WHERE case_id = $1""",
}


def _naive_args(event_type: str, p: dict, agency: str, at: object) -> tuple:
    if event_type == "CaseOpened":
        return (p["case_id"], agency, p["district"], at)
    if event_type == "CaseClosed":
        return (p["case_id"], at, p["reason"])
    if event_type == "CaseManagerAssigned":
        return (p["case_id"], p["case_manager_ref"], p["agency"], at)
    if event_type == "NeedsAssessed":
        return (p["case_id"], [n["lebenslage"] for n in p["needs"]], [n["priority"] for n in p["needs"]])
    if event_type == "CaseHandedOver":
        return (p["case_id"], p["to_agency"], at)
    if event_type == "CasePaused":
        return (p["case_id"], at)
    if event_type == "CaseResumed":
        return (p["case_id"],)
    if event_type == "ConsentGranted":
        return (p["case_id"], p["consent_id"], ",".join(p["recipients"]))
    return (p["case_id"], p["consent_id"])  # ConsentWithdrawn


def main(kind: str) -> None:
    env = os.environ
    expected = int(env["BENCH_EVENTS"])
    result = Path(env["BENCH_RESULT"])
    app = faust.App(
        env["BENCH_APP_ID"],
        **kafka_connection(load_settings()).faust_options(),
        key_serializer="raw",
        value_serializer="raw",
        web_enabled=False,
        topic_replication_factor=1,
        topic_disable_leader=True,
        consumer_auto_offset_reset="earliest",
        datadir=env.get("BENCH_DATADIR", f"{env['BENCH_APP_ID']}-data"),  # a temporary directory, not the repo
    )
    topic = app.topic(env["BENCH_TOPIC"], key_type=bytes, value_type=bytes, internal=False)
    clock = {"first": 0.0, "cpu": 0.0, "seen": 0}
    codec = Codec()

    def count() -> None:
        if clock["seen"] == 0:
            clock["first"], clock["cpu"] = time.perf_counter(), time.process_time()
        clock["seen"] += 1
        if clock["seen"] == expected:
            seconds, cpu_s = time.perf_counter() - clock["first"], time.process_time() - clock["cpu"]
            result.write_text(json.dumps({"events": expected, "seconds": seconds, "cpu_s": cpu_s}))

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
                sql = NAIVE_SQL.get(event.event_type)
                if sql is not None:
                    args = _naive_args(event.event_type, event.payload, event.source_agency, event.occurred_at)
                    await conn.execute(sql, *args)
                count()

    worker = faust.Worker(app, loglevel="warn", quiet=True)
    worker.spinner = None
    worker.execute_from_commandline()


if __name__ == "__main__":
    main(sys.argv[1])
