"""The SDK through the real broker: the blocking SyncPublisher, and the async one from a dict."""

from __future__ import annotations

import asyncio
import threading

import pytest

from infra.client_keys import ClientKeyStore
from schemas import Codec
from schemas.signing import SigningKey
from streams.sdk import DeliveryError, EventDraft, InvalidBatch, Publisher, SyncPublisher
from streams.sdk.keys import MemoryKeyStore
from tests.integration.conftest import Lane
from tests.integration.helpers import read_all

pytestmark = pytest.mark.integration


def opened(case_id: str) -> EventDraft:
    return EventDraft.from_dict(
        {
            "event_type": "CaseOpened",
            "occurred_at": "2025-03-01T10:00:00Z",
            "payload": {
                "case_id": case_id,
                "client_ref": f"P-{case_id}",
                "district": "EVING",
                "access_route": "SELF",
                "target_group": "NEWCOMER",
                "rechtskreise": ["SGB_II"],
            },
        }
    )


def closed(case_id: str) -> EventDraft:
    return EventDraft.from_dict(
        {
            "event_type": "CaseClosed",
            "occurred_at": "2025-03-02T09:00:00+01:00",
            "payload": {"case_id": case_id, "reason": "NO_CONTACT"},
        }
    )


def test_sync_publisher_publishes_from_plain_code_and_from_several_threads(lane: Lane) -> None:
    keys = ClientKeyStore(lane.database_url, lane.secrets)  # started on first use, in the SyncPublisher's own loop
    with SyncPublisher(
        lane.kafka, "MIGRATIONSBERATUNG_MBE", signing_key=lane.platform_key, topic_prefix=lane.prefix, client_keys=keys
    ) as mbe:
        first = mbe.publish(opened("DO-S-1"))
        batch = mbe.publish_many([opened("DO-S-2"), closed("DO-S-2")])
        threaded: list = []
        workers = [
            threading.Thread(target=lambda n=n: threaded.append(mbe.publish(opened(f"DO-T-{n}")))) for n in range(4)
        ]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        with pytest.raises(InvalidBatch) as raised:
            mbe.publish_many([opened("DO-S-3"), EventDraft("CaseClosed", {"case_id": "DO-S-3", "reason": "BORED"})])
        assert list(raised.value.items) == [1]

    assert first.topic == lane.topic("kim.cases")
    assert batch[1].offset == batch[0].offset + 1 and batch[0].partition == batch[1].partition
    published = {(p.partition, p.offset): p.event_id for p in [first, *batch, *threaded]}
    records = asyncio.run(read_all(lane, "kim.cases"))
    assert len(records) == 7  # nothing of the invalid batch
    codec = Codec()
    for record in records:
        event = codec.decode(record.value)
        assert event.event_id == published[(record.partition, record.offset)]
        assert event.source_agency == "MIGRATIONSBERATUNG_MBE"


def test_sync_publisher_against_no_broker_fails_at_start_without_a_hanging_thread() -> None:
    before = threading.active_count()
    with (
        pytest.raises(Exception, match="Unable to bootstrap"),
        SyncPublisher("127.0.0.1:9", "JOBCENTER", signing_key=SigningKey.new("JOBCENTER")),
    ):
        pass
    assert threading.active_count() == before


def test_async_publisher_reports_an_unacknowledged_send(lane: Lane) -> None:
    async def scenario() -> None:
        async with Publisher(
            lane.kafka,
            "JOBCENTER",
            signing_key=lane.platform_key,
            topic_prefix="absent.",
            request_timeout_ms=1500,
            client_keys=MemoryKeyStore(),
        ) as jc:
            with pytest.raises(DeliveryError) as raised:
                await jc.publish_many([opened("DO-A-1"), opened("DO-A-2")])
        assert raised.value.results == [None, None]
        assert (
            raised.value.reasons[0] == "topic absent.kim.cases does not exist on the broker (kim up creates the topics)"
        )

    asyncio.run(scenario())
