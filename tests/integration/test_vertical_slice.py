"""One partner event all the way: SDK -> real Kafka -> faust worker -> PostgreSQL, exactly once."""

from __future__ import annotations

import asyncio

import pytest

from tests.integration.conftest import Lane
from tests.integration.helpers import (
    caught_up,
    checkpoint_total,
    history,
    oracle,
    projected,
    publish_history,
    read_all,
    send_raw,
)

pytestmark = pytest.mark.integration


def test_published_events_reach_the_caseload_and_bad_ones_the_dlq(lane: Lane) -> None:
    openings, closings = history(seed=11, cases=400)
    worker = lane.worker()

    async def scenario() -> None:
        targets = await publish_history(lane, openings, closings)
        garbage_partition, garbage_offset = await send_raw(lane, "kim.cases", b"DO-x", b"not avro at all")
        unknown_close = await send_raw(lane, "kim.cases", b"DO-G9", _close_of_unknown_case())
        for partition, offset in ((garbage_partition, garbage_offset), unknown_close):
            tp = (lane.topic("kim.cases"), partition)
            targets[tp] = max(targets.get(tp, 0), offset + 1)
        await caught_up(lane, worker, targets)

        assert await projected(lane) == oracle(openings + closings)
        by_agency = {r["agency"]: r for r in await lane.fetch("SELECT * FROM caseload_by_agency")}
        assert sum(r["opened"] for r in by_agency.values()) == len(openings)
        assert sum(r["closed"] for r in by_agency.values()) == len(closings)

        dead = await read_all(lane, "kim.dlq")
        reasons = sorted(dict(r.headers)["kim.reason"].decode() for r in dead)
        assert len(dead) == 2, reasons
        assert reasons[0] == "case DO-G9 was never opened"
        assert reasons[1].startswith("undecodable: not Avro single-object encoding")
        garbage = next(r for r in dead if r.value == b"not avro at all")
        headers = {k: v.decode() for k, v in garbage.headers}
        assert headers["kim.source.topic"] == lane.topic("kim.cases")
        assert headers["kim.source.offset"] == str(garbage_offset)
        assert headers["kim.projection"] == "caseload"

    asyncio.run(scenario())


def test_a_worker_killed_mid_stream_resumes_without_loss_or_double_count(lane: Lane) -> None:
    openings, closings = history(seed=23, cases=20_000)
    total = len(openings) + len(closings)

    async def scenario() -> None:
        targets = await publish_history(lane, openings, closings)
        first = lane.worker()
        for _ in range(1200):
            if await checkpoint_total(lane) >= 2000:
                break
            assert first.alive(), first.log_text()[-3000:]
            await asyncio.sleep(0.05)
        first.kill()
        applied_before_crash = await checkpoint_total(lane)
        assert 0 < applied_before_crash < total, "the crash must come in the middle of the stream"

        second = lane.worker()
        await caught_up(lane, second, targets, timeout=300)
        assert await projected(lane) == oracle(openings + closings)
        # A record applied twice would contradict ("already opened/closed") and be dead-lettered.
        assert await read_all(lane, "kim.dlq") == []

    asyncio.run(scenario())


def _close_of_unknown_case() -> bytes:
    from schemas import Codec
    from tests.unit.events import closed

    event = closed("DO-G9")
    return Codec().encode(event.event_type, event.envelope, event.payload)
