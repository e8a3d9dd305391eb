"""A removed agency's signing key through the real broker and database: it stops counting for what is appended after.

`kim agency remove` retires the agency's keys. A record signed with a retired key counts only if the broker appended
it before the retirement — by the broker's time (the event topics are LogAppendTime), never the producer's: the
platform's raw producer (the only login still allowed to write) cannot add records in the removed agency's name,
not even backdated ones. What the agency wrote before stays applied, live, after a re-drive and after `kim replay`.
Records written before the topics stamped append times (an upgraded home) count if they lie below the offsets
`kim up` records at the switch.

Agency names: WOHNUNGSAMT (a Kafka login of its own) and SOZIALAMT (database only); the broker's logins are shared
with tests running at the same time, which use other agencies.
"""

from __future__ import annotations

import asyncio
import subprocess
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from infra import agencies, bringup
from infra.settings import load_settings
from schemas.sealing import KeyRing, new_key
from schemas.signing import SigningKey
from schemas.topics import KEEP_FOREVER
from streams.kafka.connection import KafkaConnection
from streams.runtime import authenticity_io
from streams.sdk.prepare import Outgoing, Preparer
from streams.sdk.publisher import EventDraft
from tests.integration.conftest import Lane
from tests.integration.helpers import caught_up, read_all, run_kim
from tests.integration.test_agency_auth import credentials, opened

pytestmark = pytest.mark.integration

LOG_APPEND_TIME = 1
HOUR_MS = 3_600_000


def kim(lane: Lane, *args: str) -> subprocess.CompletedProcess[str]:
    return run_kim(lane, *args, timeout=300)


def preparer(lane: Lane, agency: str) -> Preparer:
    ring = KeyRing()  # sealing keys in memory: what is tested here is the signature
    ring.add("P-7f3a9c", *new_key())
    return Preparer(agency, topic_prefix=lane.prefix, keys=ring)


def closed(case_id: str) -> EventDraft:
    return EventDraft("CaseClosed", {"case_id": case_id, "reason": "MOVED_AWAY"})


async def send(
    login: KafkaConnection, item: Outgoing, key: SigningKey, timestamp_ms: int | None = None
) -> tuple[str, int, int]:
    """One record signed with ``key``, sent with ``login`` (a producer that may set its own CreateTime)."""
    producer = AIOKafkaProducer(**login.options(), enable_idempotence=True, acks="all")
    await producer.start()
    try:
        meta = await producer.send_and_wait(
            item.topic, item.value, key=item.key, headers=key.headers(item.key, item.value), timestamp_ms=timestamp_ms
        )
        return meta.topic, meta.partition, meta.offset
    finally:
        await producer.stop()


def reached(targets: dict[tuple[str, int], int], position: tuple[str, int, int]) -> None:
    topic, partition, offset = position
    targets[(topic, partition)] = max(targets.get((topic, partition), 0), offset + 1)


async def case_ids(lane: Lane) -> dict[str, Any]:
    return {r["case_id"]: r for r in await lane.fetch("SELECT case_id, opened_by, status FROM caseload_cases")}


async def letters(lane: Lane) -> list[dict[str, str]]:
    return [
        {"key": (r.key or b"").decode(), **{k: v.decode() for k, v in r.headers}}
        for r in await read_all(lane, "kim.dlq")
    ]


async def set_timestamp_type(lane: Lane, kind: str) -> None:
    """What an older kim's topic had (CreateTime), or what `kim up` sets (LogAppendTime)."""
    admin = lane.kafka.admin()
    await admin.start()
    try:
        config = {**KEEP_FOREVER, "message.timestamp.type": kind}
        await admin.alter_configs([ConfigResource(ConfigResourceType.TOPIC, lane.topic("kim.cases"), configs=config)])
        for _ in range(100):  # the broker applies a topic's new config a moment after the controller took it
            described = await admin.describe_configs(
                [ConfigResource(ConfigResourceType.TOPIC, lane.topic("kim.cases"))]
            )
            entries = {e[0]: e[1] for _, _, _, _, es in described[0].resources for e in es}
            if entries.get("message.timestamp.type") == kind:
                break
            await asyncio.sleep(0.1)
        await asyncio.sleep(1.0)  # and the partition leader too
    finally:
        await admin.close()


def test_a_removed_agencys_key_counts_only_for_what_the_broker_appended_before_the_removal(lane: Lane) -> None:
    added = kim(lane, "agency", "add", "WOHNUNGSAMT")
    assert added.returncode == 0, added.stderr
    creds = credentials(added.stdout)
    login = lane.kafka.login_as(creds["Kafka username"], creds["Kafka password"])
    key = SigningKey.parse(creds["signing key"])
    wohnungsamt = preparer(lane, "WOHNUNGSAMT")
    worker = lane.worker("caseload")
    targets: dict[tuple[str, int], int] = {}

    async def before_removal() -> None:
        # The agency with its own login: a case it opens, and a closing that comes before its opening.
        reached(targets, await send(login, wohnungsamt.prepare(opened("DO-W-E9")), key))
        reached(targets, await send(login, wohnungsamt.prepare(closed("DO-W-L9")), key))
        await caught_up(lane, worker, targets)
        cases = await case_ids(lane)
        assert set(cases) == {"DO-W-E9"} and cases["DO-W-E9"]["opened_by"] == "WOHNUNGSAMT"

    asyncio.run(before_removal())

    removed = kim(lane, "agency", "remove", "WOHNUNGSAMT")
    assert removed.returncode == 0, removed.stderr
    [row] = asyncio.run(lane.fetch("SELECT retired_at FROM signing_keys WHERE key_id = $1", key.key_id))
    retired_at: datetime = row["retired_at"]
    retired = retired_at.astimezone(UTC).isoformat(timespec="milliseconds")
    assert f"signing keys retired at {retired}: records the broker appends from then on no longer count" in (
        removed.stdout
    )
    retired_ms = (retired_at - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(milliseconds=1)
    assert retired_at.microsecond % 1000 == 0  # a whole millisecond, as the broker's append times are

    async def after_removal() -> None:
        # Only the platform's login may still write: a record signed with the retired key, one backdated to an hour
        # before the retirement, and the opening of DO-W-L9 in the platform's own name (the fix for its letter).
        reached(targets, await send(lane.kafka, wohnungsamt.prepare(opened("DO-W-A9")), key))
        backdated = wohnungsamt.prepare(opened("DO-W-B9"))
        reached(targets, await send(lane.kafka, backdated, key, timestamp_ms=retired_ms - HOUR_MS))
        reached(targets, await send(lane.kafka, wohnungsamt.prepare(opened("DO-W-L9")), lane.platform_key))
        await caught_up(lane, worker, targets)
        cases = await case_ids(lane)
        assert set(cases) == {"DO-W-E9", "DO-W-L9"}, cases

        # The broker's time wins over the producer's: the consumer sees when the record was appended.
        [seen] = [r for r in await read_all(lane, "kim.cases") if r.key == b"DO-W-B9"]
        assert seen.timestamp_type == LOG_APPEND_TIME and seen.timestamp >= retired_ms

        by_case = {letter["key"]: letter for letter in await letters(lane)}
        assert set(by_case) == {"DO-W-L9", "DO-W-A9", "DO-W-B9"}
        for case_id in ("DO-W-A9", "DO-W-B9"):
            letter = by_case[case_id]
            assert letter["kim.reason"].startswith(
                f"retired key: signed with {key.key_id}, retired at {retired}; the record was appended after (at "
            ), letter["kim.reason"]
            assert letter["kim.source.timestamp_type"] == "1" and int(letter["kim.source.timestamp"]) >= retired_ms
        late = by_case["DO-W-L9"]  # refused for its order, appended while the key was active
        assert not late["kim.reason"].startswith("retired key") and int(late["kim.source.timestamp"]) < retired_ms

    asyncio.run(after_removal())

    # A rebuild judges every record again with the same rule and key table: the same rows, so the copy equals the
    # live tables and is swapped in; it rejects the same records and sends no second letter for them.
    replay_started = datetime.now(UTC)
    time.sleep(0.01)
    replayed = kim(lane, "replay", "caseload")
    assert replayed.returncode == 0, replayed.stdout + replayed.stderr
    assert "and swapped it in" in replayed.stdout, replayed.stdout
    cases = asyncio.run(case_ids(lane))
    assert set(cases) == {"DO-W-E9", "DO-W-L9"} and cases["DO-W-E9"]["opened_by"] == "WOHNUNGSAMT"
    every = asyncio.run(letters(lane))
    live = sorted((x["key"], x["kim.reason"]) for x in every if "kim.rebuild" not in x)
    rebuilt = sorted((x["key"], x["kim.reason"]) for x in every if "kim.rebuild" in x)
    assert rebuilt == [] and len(live) == 3

    # A re-drive judges each letter by the append time it carries: DO-W-L9's closing, written while the key was
    # active, now counts; the two written after the removal fail again for the same reason.
    redriven = kim(lane, "dlq", "redrive", "--until", replay_started.isoformat())
    assert redriven.returncode == 0, redriven.stderr
    assert "1 applied, 2 failed again, 0 already re-driven (of 3 chosen)" in redriven.stdout, redriven.stdout
    cases = asyncio.run(case_ids(lane))
    assert cases["DO-W-L9"]["status"] == "closed" and set(cases) == {"DO-W-E9", "DO-W-L9"}
    again = [x for x in asyncio.run(letters(lane)) if x.get("kim.attempt") == "2"]
    assert sorted(x["key"] for x in again) == ["DO-W-A9", "DO-W-B9"]
    assert all(
        x["kim.reason"].startswith(f"retired key: signed with {key.key_id}, retired at {retired}") for x in again
    )


def test_the_broker_stamps_its_own_time_over_a_producers_backdated_one(lane: Lane) -> None:
    async def scenario() -> None:
        item = preparer(lane, "SOZIALAMT").prepare(opened("DO-S-S9"))
        old = int(datetime(2020, 1, 1, tzinfo=UTC).timestamp() * 1000)
        before = int(time.time() * 1000)
        await send(lane.kafka, item, lane.platform_key, timestamp_ms=old)
        after = int(time.time() * 1000)
        [seen] = [r for r in await read_all(lane, "kim.cases") if r.key == b"DO-S-S9"]
        assert seen.timestamp_type == LOG_APPEND_TIME
        assert before <= seen.timestamp <= after, (before, seen.timestamp, after)

    asyncio.run(scenario())


def test_an_upgraded_topic_switches_to_append_time_and_older_records_count_below_the_switch(lane: Lane) -> None:
    """A topic of an older kim (CreateTime) with records signed by a key retired before the upgrade: `kim up`
    switches it to LogAppendTime and records where the switch fell; the older records still count, later ones
    signed with the retired key do not — whatever time their producer claims."""
    settings = load_settings(lane.env())
    sozialamt = preparer(lane, "SOZIALAMT")
    credentials = agencies.AgencyCredentials.new("SOZIALAMT")
    key = credentials.signing_key
    targets: dict[tuple[str, int], int] = {}

    async def register(retire: bool) -> None:
        conn = await asyncpg.connect(lane.database_url)
        try:
            if retire:
                await agencies.unregister(conn, "SOZIALAMT")
            else:
                await agencies.register(conn, replace(credentials, token="kimgw_test-retired-sozialamt"))
        finally:
            await conn.close()

    async def older_kim() -> int:
        await set_timestamp_type(lane, "CreateTime")
        await register(retire=False)
        reached(targets, await send(lane.kafka, sozialamt.prepare(opened("DO-S-1")), key))
        await register(retire=True)
        # Written after the retirement, with a time its producer chose: an older kim could not tell, and neither
        # can anyone now; it lies below the switch, so it counts (what remains of the old log).
        position = await send(lane.kafka, sozialamt.prepare(opened("DO-S-2")), key, timestamp_ms=1_000_000)
        reached(targets, position)
        return position[1]

    partition = asyncio.run(older_kim())
    logged: list[str] = []
    bringup.prepare(settings, log=logged.append)  # what `kim up` does before it starts the workers
    assert f"set message.timestamp.type=LogAppendTime on {lane.topic('kim.cases')}" in logged, logged
    assert any("append_time_cutoffs" in line for line in logged), logged
    rows = asyncio.run(lane.fetch("SELECT topic, partition, from_offset FROM append_time_cutoffs"))
    cutoffs = {(r["topic"], r["partition"]): r["from_offset"] for r in rows}
    assert cutoffs[(lane.topic("kim.cases"), partition)] == targets[(lane.topic("kim.cases"), partition)]
    assert len(cutoffs) == 12  # every partition of both event topics, once
    bringup.prepare(settings, log=logged.append)  # again: nothing changes
    assert len(asyncio.run(lane.fetch("SELECT 1 FROM append_time_cutoffs"))) == 12

    async def after_upgrade() -> None:
        old = 1_000_000  # 1970: backdated far before the retirement
        reached(targets, await send(lane.kafka, sozialamt.prepare(opened("DO-S-3")), key, timestamp_ms=old))
        await set_timestamp_type(lane, "CreateTime")  # an operator turns the switch back: CreateTime past it
        reached(targets, await send(lane.kafka, sozialamt.prepare(opened("DO-S-4")), key, timestamp_ms=old))
        await set_timestamp_type(lane, "LogAppendTime")

    asyncio.run(after_upgrade())
    worker = lane.worker("caseload")
    asyncio.run(caught_up(lane, worker, targets))
    assert set(asyncio.run(case_ids(lane))) == {"DO-S-1", "DO-S-2"}
    reasons = {x["key"]: x["kim.reason"] for x in asyncio.run(letters(lane))}
    assert set(reasons) == {"DO-S-3", "DO-S-4"}
    assert reasons["DO-S-3"].startswith(f"retired key: signed with {key.key_id}, retired at ")
    assert "the record was appended after" in reasons["DO-S-3"]
    assert "no append time of the broker (timestamp type CreateTime)" in reasons["DO-S-4"], reasons["DO-S-4"]


def test_a_retirement_waits_for_readers_of_the_key_table_and_is_dated_after_them(lane: Lane) -> None:
    """Why the live worker and a rebuild agree on records appended around a retirement: `kim agency remove` takes
    the key table from every reader while it dates the retirement, so a worker batch that read the keys before
    judged only records appended before that date, and one that reads them after sees the retirement."""

    async def scenario() -> None:
        owner = await asyncpg.connect(lane.database_url)
        worker = await asyncpg.connect(lane.role_urls.get("worker", lane.database_url))
        later = await asyncpg.connect(lane.role_urls.get("worker", lane.database_url))
        operations = await asyncpg.connect(lane.role_urls.get("operations", lane.database_url))
        try:
            credentials = agencies.AgencyCredentials.new("SOZIALAMT")
            await agencies.register(owner, replace(credentials, token="kimgw_test-dated-sozialamt"))
            batch = worker.transaction()
            await batch.start()
            table = await authenticity_io.load(worker, None)  # a worker's batch holds the key table until it commits
            assert table.keys[credentials.signing_key.key_id].retired_at is None
            retiring = asyncio.ensure_future(agencies.unregister(operations, "SOZIALAMT"))
            await asyncio.sleep(0.5)
            reading = asyncio.ensure_future(authenticity_io.load(later, None))  # the next batch, while it waits
            await asyncio.sleep(0.5)
            assert not retiring.done() and not reading.done()
            released = datetime.now(UTC)
            await batch.commit()
            retired_at = await asyncio.wait_for(retiring, 30)
            assert retired_at is not None and retired_at > released
            seen = (await asyncio.wait_for(reading, 30)).keys[credentials.signing_key.key_id]
            assert seen.retired_at == retired_at  # it waited for the retirement and judges with it in view
        finally:
            for conn in (owner, worker, later, operations):
                await conn.close()

    asyncio.run(scenario())
