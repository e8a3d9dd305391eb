"""A batch whose dead letters meet a stopped broker waits for the broker and then commits, once.

Seen in CI: the single broker restarted while the outcomes worker had a batch with a rejection in hand; sending
its dead letter failed ("Unable to bootstrap"), the live loop did not retry that, and every later batch failed
behind it until the worker was stopped — 300 s later it still had 9,652 records to go. Here the record loop of
the live worker (its retry policy, its producer and pool) gets a batch with a bad record while its own broker is
stopped; the broker comes back after a few seconds.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import asyncpg
import pytest

from infra import kafka_broker
from infra.platform_identity import kafka_connection
from infra.processes import run_sync
from infra.settings import Settings
from projections import checkpoints
from projections.registry import PROJECTIONS
from schemas import Codec
from streams.kafka.topics import provision
from streams.runtime.dlq import read_dead_letters, send_once
from streams.runtime.live import _Resources
from streams.runtime.loop import LIVE, RecordLoop, Retry
from streams.runtime.outage_log import KAFKA
from tests.integration.conftest import Lane
from tests.unit.bad_records import bad_records

pytestmark = pytest.mark.integration

DOWN_SECONDS = 6.0


class Heard:
    """The loop's reachability reports, in order."""

    def __init__(self) -> None:
        self.said: list[tuple[str, str]] = []

    def failed(self, service: str, reason: str) -> None:
        self.said.append((service, "failed"))

    def succeeded(self, service: str) -> None:
        self.said.append((service, "answered"))


def test_a_batch_whose_dead_letters_meet_a_stopped_broker_commits_once_it_is_back(
    lane: Lane, own_broker: Settings
) -> None:
    kafka = kafka_connection(own_broker)
    run_sync(provision(kafka, lane.prefix))
    own = Lane(kafka, lane.database_url, lane.prefix, lane.home, role_urls=lane.role_urls)
    projection = PROJECTIONS["caseload"]
    bad = next(b for b in bad_records(Codec()) if "caseload" in b.letters_from and b.topic == "kim.cases")
    record = bad.record(own.prefix, offset=0)
    resources = _Resources(kafka, own.database_url, "test-dead-letters-outage")
    heard = Heard()

    def dead_letters(p, conn: asyncpg.Connection) -> Callable:
        async def send(rejections: list) -> None:
            await send_once(conn, await resources.producer(), own.topic("kim.dlq"), p.name, rejections)

        return send

    loop = RecordLoop(
        [projection],
        resources.pool,
        Codec(),
        dead_letters=dead_letters,
        platform_secret=own.platform_secret,
        retry=Retry(LIVE.errors, pause=0.5),  # the live worker's policy, retried more often
        outages=heard,
    )

    async def scenario() -> None:
        try:
            kafka_broker.stop_broker(own_broker)
            loop.submit([record])
            await asyncio.sleep(DOWN_SECONDS)
            loop.raise_failures()  # nothing failed for good (it raised "Unable to bootstrap" here)
            assert not loop.idle(), "the batch committed while the broker was down"
            await asyncio.to_thread(kafka_broker.start_broker, own_broker, log=print)
            await asyncio.wait_for(loop.drain(), timeout=120)
        finally:
            await resources.close()

    async def afterwards() -> tuple[dict, list]:
        conn = await asyncpg.connect(own.database_url)
        try:
            saved = await checkpoints.load(conn, projection.name)
        finally:
            await conn.close()
        letters = [x for x in await read_dead_letters(kafka, own.topic("kim.dlq")) if x.value == bad.value]
        return saved, letters

    run_sync(scenario())
    saved, letters = run_sync(afterwards())
    assert [(x.projection, x.offset) for x in letters] == [("caseload", 0)]  # dead-lettered once
    assert saved[(record.topic, record.partition)] == 1  # and the batch committed behind it
    assert heard.said.index((KAFKA, "failed")) < heard.said.index((KAFKA, "answered"))
