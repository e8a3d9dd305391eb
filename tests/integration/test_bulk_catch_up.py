"""The bulk path (aiokafka batches) gives the same caseload as the oracle, resumes, and coexists with a worker."""

from __future__ import annotations

import asyncio
import contextlib
import io

import pytest

from projections.caseload import CaseloadProjection
from streams.runtime.bulk import catch_up
from streams.runtime.progress import Progress
from tests.integration.conftest import Lane
from tests.integration.helpers import caught_up, checkpoint_total, history, oracle, projected, publish_history, read_all

pytestmark = pytest.mark.integration


def test_bulk_catch_up_equals_the_oracle_and_resumes_after_being_cut_off(lane: Lane) -> None:
    openings, closings = history(seed=31, cases=15_000)
    total = len(openings) + len(closings)

    async def scenario() -> None:
        await publish_history(lane, openings, closings)
        run = catch_up(
            CaseloadProjection(),
            lane.kafka,
            lane.database_url,
            platform_secret=lane.platform_secret,
            topic_prefix=lane.prefix,
            max_records=500,
            progress=Progress(total, "test", out=io.StringIO()),
        )
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(run, timeout=0.6)  # cut off part-way, like Ctrl-C
        first = await checkpoint_total(lane)
        assert first < total, "the first run should have been cut off before the end"

        out = io.StringIO()
        result = await catch_up(
            CaseloadProjection(),
            lane.kafka,
            lane.database_url,
            platform_secret=lane.platform_secret,
            topic_prefix=lane.prefix,
            progress=Progress(total - first, "caseload", out=out),
        )
        assert result.applied == total - first
        assert await checkpoint_total(lane) == total
        assert await projected(lane) == oracle(openings + closings)
        assert await read_all(lane, "kim.dlq") == []
        assert "caseload: " in out.getvalue() and "/s" in out.getvalue()

    asyncio.run(scenario())


def test_bulk_catch_up_beside_a_live_worker_applies_each_event_once(lane: Lane) -> None:
    openings, closings = history(seed=37, cases=8_000)

    async def scenario() -> None:
        targets = await publish_history(lane, openings, closings)
        worker = lane.worker()
        await catch_up(
            CaseloadProjection(),
            lane.kafka,
            lane.database_url,
            platform_secret=lane.platform_secret,
            topic_prefix=lane.prefix,
            progress=Progress(1, "test", out=io.StringIO()),
        )
        await caught_up(lane, worker, targets)
        assert await projected(lane) == oracle(openings + closings)
        assert await read_all(lane, "kim.dlq") == []

    asyncio.run(scenario())
