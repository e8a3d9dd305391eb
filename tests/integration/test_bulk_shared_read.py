"""One read for all projections (``catch_up_many``, what a rebuild of all of them uses): each projection ends where
its own catch-up would, a bad record is dead-lettered once, and a cut-off run resumes from each one's checkpoints."""

from __future__ import annotations

import asyncio
import contextlib
import io

import pytest

from projections.registry import PROJECTIONS
from streams.runtime.bulk import catch_up_many
from streams.runtime.progress import Progress
from tests.integration.conftest import Lane
from tests.integration.helpers import history, oracle, projected, publish_history, read_all, send_raw

pytestmark = pytest.mark.integration


def test_one_read_feeds_every_projection_exactly_once_and_resumes(lane: Lane) -> None:
    openings, closings = history(seed=43, cases=6_000)
    cases = len(openings) + len(closings)

    async def scenario() -> None:
        await publish_history(lane, openings, closings)
        await send_raw(lane, "kim.cases", b"garbage", b"not an event")
        projections = list(PROJECTIONS.values())
        run = catch_up_many(
            projections,
            lane.kafka,
            lane.database_url,
            platform_secret=lane.platform_secret,
            topic_prefix=lane.prefix,
            max_records=300,
            progress=Progress(cases + 1, "test", out=io.StringIO()),
        )
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(run, timeout=0.8)  # cut off part-way, like Ctrl-C

        result = await catch_up_many(
            projections,
            lane.kafka,
            lane.database_url,
            platform_secret=lane.platform_secret,
            topic_prefix=lane.prefix,
            progress=Progress(1, "test", out=io.StringIO()),
        )
        done = {
            r["projection"]: r["n"]
            for r in await lane.fetch(
                "SELECT projection, sum(next_offset)::bigint AS n FROM projection_checkpoints GROUP BY projection"
            )
        }
        assert done == dict.fromkeys(("caseload", "referrals", "outcomes"), cases + 1), done  # no kim.immigration here
        assert result.read <= cases + 1
        assert await projected(lane) == oracle(openings + closings)
        referral_cases = await lane.fetch("SELECT count(*) AS n FROM referral_cases")
        assert referral_cases[0]["n"] == len(openings)
        letters = await read_all(lane, "kim.dlq")
        assert len(letters) == 1 and letters[0].value == b"not an event"  # by caseload, the warden, once

    asyncio.run(scenario())
