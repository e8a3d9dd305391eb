"""`kim status` keeps its dead-letter count in the database (tables dlq_tally, dlq_tally_letters) and reads
from Kafka only the letters added since the last call: through the real broker and database."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import asyncpg
import pytest
from aiokafka import AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, RecordsToDelete

from projections.registry import PROJECTIONS
from streams.kafka.topics import end_offsets
from streams.operations import dlq_tally_io
from streams.operations.dlq_tally import totals
from streams.operations.health_io import LogReader, letter_projection
from tests.integration.conftest import Lane
from tests.integration.helpers import read_all, run_kim

pytestmark = pytest.mark.integration

DLQ = "kim.dlq"


async def _letters(lane: Lane, *projections: str) -> None:
    """Dead letters as the workers write them (header kim.projection), spread over the DLQ's 3 partitions."""
    producer = AIOKafkaProducer(**lane.kafka.options(), acks="all")
    await producer.start()
    try:
        for i, name in enumerate(projections):
            headers = [("kim.reason", b"test"), ("kim.projection", name.encode())] if name else []
            await producer.send_and_wait(lane.topic(DLQ), b"bad", key=b"k%d" % i, partition=i % 3, headers=headers)
    finally:
        await producer.stop()


def _full_read(lane: Lane) -> Counter[str]:
    return Counter(letter_projection(r.headers) for r in asyncio.run(read_all(lane, DLQ, timeout=60)))


def _status(lane: Lane, **env: str) -> dict:
    result = run_kim(lane, "status", "--json", **env)
    assert result.returncode == 0, result.stdout + result.stderr
    return json.loads(result.stdout)


def _printed(doc: dict) -> dict[str, int | None]:
    return {p["name"]: p["dead_letters"] for p in doc["projections"]}


def _expected(full: Counter[str]) -> dict[str, int]:
    return {name: full.get(name, 0) for name in PROJECTIONS}


def _stored_positions(lane: Lane) -> dict[int, tuple[int, int]]:
    rows = asyncio.run(
        lane.fetch("SELECT partition, from_offset, next_offset FROM dlq_tally WHERE dlq_topic = $1", lane.topic(DLQ))
    )
    return {r["partition"]: (r["from_offset"], r["next_offset"]) for r in rows}


def _ends(lane: Lane) -> dict[int, int]:
    return {p: e for (_, p), e in asyncio.run(end_offsets(lane.kafka, [lane.topic(DLQ)])).items()}


def test_letters_added_between_two_calls_are_counted_once_and_only_the_new_ones_are_read(lane: Lane) -> None:
    asyncio.run(_letters(lane, "caseload", "caseload", "referrals", "caseload", "", "backlog"))
    first = _status(lane)
    assert (
        _printed(first) == {"caseload": 3, "referrals": 1, "backlog": 1, "outcomes": 0} == _expected(_full_read(lane))
    )
    assert (
        _stored_positions(lane) == {p: (0, end) for p, end in _ends(lane).items()} == {0: (0, 2), 1: (0, 2), 2: (0, 2)}
    )

    # A marker only a continued count keeps: a read from offset 0 would print the true count instead.
    asyncio.run(
        lane.fetch(
            "UPDATE dlq_tally_letters SET letters = letters + 100 WHERE dlq_topic = $1 AND projection = 'caseload'"
            " AND partition = 0",
            lane.topic(DLQ),
        )
    )
    asyncio.run(_letters(lane, "referrals", "caseload", "referrals", "referrals"))
    second = _status(lane)
    assert _printed(second) == {"caseload": 104, "referrals": 4, "backlog": 1, "outcomes": 0}
    assert _stored_positions(lane) == {0: (0, 4), 1: (0, 3), 2: (0, 3)}

    # In-process, the number of records read from Kafka: only the new letters.
    async def update() -> tuple[int, Counter[str]]:
        conn = await asyncpg.connect(lane.role_urls.get("operations", lane.database_url))
        try:
            run = await dlq_tally_io.update(conn, lane.kafka, lane.topic(DLQ), range(3), 60.0)
            assert run.complete and not run.restarted
            return run.read, totals(run.tally)
        finally:
            await conn.close()

    assert asyncio.run(update())[0] == 0
    asyncio.run(_letters(lane, "backlog", "backlog"))
    read, counted = asyncio.run(update())
    assert read == 2 and counted["backlog"] == 3 and counted["caseload"] == 104


def test_two_updates_at_once_do_not_count_a_letter_twice(lane: Lane) -> None:
    asyncio.run(_letters(lane, *(["caseload", "referrals", "backlog"] * 20)))
    full = _full_read(lane)

    async def one() -> int:
        conn = await asyncpg.connect(lane.role_urls.get("operations", lane.database_url))
        try:
            run = await dlq_tally_io.update(conn, lane.kafka, lane.topic(DLQ), range(3), 60.0)
            assert run.complete and totals(run.tally) == full
            return run.read
        finally:
            await conn.close()

    async def both() -> list[int]:
        return list(await asyncio.gather(one(), one(), one()))

    reads = asyncio.run(both())
    assert sum(reads) == 60 and sorted(reads) == [0, 0, 60], reads  # they took turns: one read it all

    # Two `kim status` processes at once, with new letters: each prints the full count, stored once.
    asyncio.run(_letters(lane, "caseload", "caseload", "referrals"))
    with ThreadPoolExecutor(2) as pool:
        docs = list(pool.map(lambda _: _status(lane), range(2)))
    expected = _expected(_full_read(lane))
    assert expected == {"caseload": 22, "referrals": 21, "backlog": 20, "outcomes": 0}
    assert [_printed(doc) for doc in docs] == [expected, expected]
    stored = asyncio.run(
        lane.fetch(
            "SELECT projection, sum(letters)::int AS n FROM dlq_tally_letters WHERE dlq_topic = $1 GROUP BY 1",
            lane.topic(DLQ),
        )
    )
    assert {r["projection"]: r["n"] for r in stored} == {name: n for name, n in expected.items() if n}


async def _delete_before(lane: Lane, partition: int, offset: int) -> None:
    """What retention does: the log start of the partition moves to ``offset``."""
    admin = AIOKafkaAdminClient(**lane.kafka.options())
    await admin.start()
    try:
        await admin.delete_records({TopicPartition(lane.topic(DLQ), partition): RecordsToDelete(offset)})
    finally:
        await admin.close()


async def _todays_count(lane: Lane) -> Counter[str]:
    reader = LogReader(lane.kafka)
    await reader.start()
    try:
        return Counter(await reader.count_dead_letters(lane.topic(DLQ), 3, timeout=60))
    finally:
        await reader.stop()


def test_the_printed_counts_equal_a_full_read_also_after_retention_deleted_letters(lane: Lane) -> None:
    asyncio.run(_letters(lane, *(["caseload", "referrals", "caseload"] * 4)))  # 4 letters per partition
    assert (
        _printed(_status(lane))
        == _expected(_full_read(lane))
        == {"caseload": 8, "referrals": 4, "backlog": 0, "outcomes": 0}
    )

    asyncio.run(_delete_before(lane, 0, 3))  # partition 0 held caseload x4; 3 of them are gone
    asyncio.run(_letters(lane, "backlog"))  # partition 0 again
    full = _full_read(lane)
    assert full == {"caseload": 5, "referrals": 4, "backlog": 1} == asyncio.run(_todays_count(lane))
    assert _printed(_status(lane)) == _expected(full)
    assert _stored_positions(lane) == {0: (3, 5), 1: (0, 4), 2: (0, 4)}

    text = run_kim(lane, "status")
    assert text.returncode == 0, text.stderr
    rows = {line.split()[0]: line.split()[-1] for line in text.stdout.splitlines() if line.split()[:1] == ["backlog"]}
    assert rows == {"backlog": "1"}, text.stdout


def test_without_the_tally_table_or_its_grants_status_counts_by_a_full_read_with_a_note(lane: Lane) -> None:
    asyncio.run(_letters(lane, "caseload", "referrals", "caseload"))
    expected = {"caseload": 2, "referrals": 1, "backlog": 0, "outcomes": 0}

    asyncio.run(lane.fetch("REVOKE ALL ON dlq_tally, dlq_tally_letters FROM kim_operations"))
    doc = _status(lane)
    assert _printed(doc) == expected
    (note,) = [n for n in doc["notes"] if "dead letters" in n]
    assert note.startswith("dead letters counted by a full read: the database refused: permission denied"), note

    asyncio.run(lane.fetch("DROP TABLE dlq_tally_letters, dlq_tally"))
    text = run_kim(lane, "status")
    assert text.returncode == 0 and "Traceback" not in text.stdout + text.stderr, text.stderr
    notes = [line for line in text.stdout.splitlines() if "dlq_tally" in line]
    assert notes == [
        f"note: the database has no dlq_tally table (migration 0096), so the dead letters were counted by a full"
        f" read of {lane.topic(DLQ)}; `kim up` applies the migrations"
    ], text.stdout
    assert _printed(_status(lane)) == expected
