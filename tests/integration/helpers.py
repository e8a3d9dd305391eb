"""Publishing, reading back and the oracle, shared by the integration tests."""

from __future__ import annotations

import subprocess
import sys
import time
from dataclasses import replace
from datetime import UTC, datetime

import asyncpg
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from cli.catchup import wait_caught_up
from cli.demo import publish
from infra import agencies
from infra.client_keys import keys_by_id
from infra.settings import load_settings
from projections.caseload.fold import CaseRow, fold
from projections.records import TopicPartition as TP
from schemas import Event
from schemas.sealing import ClientKey
from streams.kafka.topics import end_offsets
from tests.integration.conftest import REPO, Lane, Worker
from tests.integration.demo_events import DemoEvent, demo_events

UNTIL = datetime(2025, 6, 30, tzinfo=UTC)


def history(seed: int, cases: int) -> tuple[list[DemoEvent], list[DemoEvent]]:
    return demo_events(seed, cases, until=UNTIL)


async def publish_history(lane: Lane, openings: list[DemoEvent], closings: list[DemoEvent]) -> dict[TP, int]:
    settings = load_settings(lane.env())
    targets = await publish(settings, openings)
    for tp, end in (await publish(settings, closings)).items():
        targets[tp] = max(targets.get(tp, 0), end)
    return targets


def oracle(events: list[DemoEvent]) -> dict[str, CaseRow]:
    """The caseload as the pure fold computes it from what was published, in publish order."""
    decoded = [
        Event(e.draft.event_type, {"source_agency": e.agency, "occurred_at": e.draft.occurred_at}, e.draft.payload)
        for e in events
    ]
    return _comparable(fold({}, decoded).changed)


async def projected(lane: Lane) -> dict[str, CaseRow]:
    return _comparable({r["case_id"]: CaseRow(**dict(r)) for r in await lane.fetch("SELECT * FROM caseload_cases")})


def _comparable(rows: dict[str, CaseRow]) -> dict[str, CaseRow]:
    """Rows without the applied event ids and the client key: the publisher makes both, the oracle cannot know them."""
    return {key: row._replace(seen=[], client_key_id=None) for key, row in rows.items()}


async def caught_up(lane: Lane, worker: Worker, targets: dict[TP, int], timeout: float = 120.0) -> None:
    try:
        await wait_caught_up(lane.database_url, "caseload", targets, timeout, still_running=worker.alive)
    except (TimeoutError, RuntimeError) as why:
        raise AssertionError(f"{why}\n--- worker log ---\n{worker.log_text()[-4000:]}") from None


async def checkpoint_total(lane: Lane) -> int:
    rows = await lane.fetch("SELECT coalesce(sum(next_offset), 0)::bigint AS n FROM projection_checkpoints")
    return rows[0]["n"]


async def send_raw(lane: Lane, topic: str, key: bytes, value: bytes) -> tuple[int, int]:
    """Send bytes as they are, signed by the platform (so only decoding and the domain rules judge them)."""
    producer = AIOKafkaProducer(**lane.kafka.options(), enable_idempotence=True, acks="all")
    await producer.start()
    try:
        meta = await producer.send_and_wait(
            lane.topic(topic), value, key=key, headers=lane.platform_key.headers(key, value)
        )
        return meta.partition, meta.offset
    finally:
        await producer.stop()


async def read_all(lane: Lane, topic: str, timeout: float = 30.0) -> list:
    """Every record of a topic, from the beginning to its end offsets at call time."""
    ends = {TopicPartition(t, p): end for (t, p), end in (await end_offsets(lane.kafka, [lane.topic(topic)])).items()}
    consumer = AIOKafkaConsumer(**lane.kafka.options(), enable_auto_commit=False)
    await consumer.start()
    try:
        consumer.assign(list(ends))
        await consumer.seek_to_beginning(*ends)
        records, deadline = [], time.monotonic() + timeout
        while await _behind(consumer, ends) and time.monotonic() < deadline:
            for batch in (await consumer.getmany(timeout_ms=500)).values():
                records.extend(batch)
        return records
    finally:
        await consumer.stop()


async def _behind(consumer: AIOKafkaConsumer, ends: dict[TopicPartition, int]) -> bool:
    return any([await consumer.position(tp) < end for tp, end in ends.items()])


async def agency_headers(lane: Lane, agency: str) -> dict[str, str]:
    """Gateway request headers for ``agency``: its bearer token, registered in the lane's database on first use
    (the gateway publishes with the platform's Kafka login, so no Kafka principal is needed)."""
    token = f"kimgw_test-{agency.lower()}"
    conn = await asyncpg.connect(lane.database_url)
    try:
        if not await agencies.active(conn, agency):
            await agencies.register(conn, replace(agencies.AgencyCredentials.new(agency), token=token))
    finally:
        await conn.close()
    return {"Content-Type": "application/json", "Authorization": f"Bearer {token}"}


def run_kim(lane: Lane, *args: str, timeout: float = 120, **env: str) -> subprocess.CompletedProcess[str]:
    """`kim ARGS` as a user runs it, on the lane's services, with ``env`` added to the lane's environment."""
    return subprocess.run(
        [sys.executable, "-m", "cli.main", *args],
        env={**lane.env(), **env},
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


async def client_keys(lane: Lane) -> dict[str, ClientKey]:
    """Every client key of the lane's key table, unwrapped with the lane's key-encryption key, by key id."""
    conn = await asyncpg.connect(lane.database_url)
    try:
        ids = [r["key_id"] for r in await conn.fetch("SELECT key_id FROM client_keys")]
        return await keys_by_id(conn, lane.secrets, ids)
    finally:
        await conn.close()
