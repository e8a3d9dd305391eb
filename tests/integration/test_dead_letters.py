"""Every kind of bad input, sent by a raw producer (no SDK) between good events, through the real broker.

Garbage bytes, truncated Avro, an unknown fingerprint, unknown event types, domain-rule violations and events
on the wrong topic (tests/unit/bad_records.py) are interleaved with a history of good events (and the
contradictions the folds reject, tests/oracles/). The three projections run as real workers, or through the
bulk path; then every bad record is in the DLQ — once per projection whose duty it is, with its original key,
bytes and headers — every good event reached the projections (tables equal the oracle), the folds' rejections
are there too and nothing else, the workers are alive and every partition is at lag 0.
"""

from __future__ import annotations

import asyncio
import io
import subprocess
import sys
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest
from aiokafka import AIOKafkaProducer

from cli.catchup import wait_caught_up
from projections import checkpoints
from projections.registry import PROJECTIONS
from schemas import Codec
from streams.kafka.topics import end_offsets
from streams.operations.redrive import redrive
from streams.runtime.bulk import catch_up
from streams.runtime.dlq import OMITTED_HEADER, PSEUDONYM_OMITTED, read_dead_letters, shows_a_pseudonym
from streams.runtime.progress import Progress
from tests.integration.conftest import REPO, Lane
from tests.integration.helpers import read_all
from tests.oracles import compare
from tests.oracles.history import sized
from tests.oracles.publish import encode
from tests.unit.bad_records import Bad, bad_records

pytestmark = pytest.mark.integration


def kim(lane: Lane, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cli.main", *args], env=lane.env(), cwd=REPO, capture_output=True, text=True, timeout=120
    )


@dataclass(frozen=True)
class Sent:
    bad: Bad
    partition: int
    offset: int


@dataclass
class Scenario:
    sent: list[Sent]
    expected: compare.Expected
    targets: dict[tuple[str, int], int]


async def publish_interleaved(lane: Lane) -> Scenario:
    """A history of good events with every bad kind spread through it, in order, by one raw producer."""
    codec = Codec()
    good = encode(sized(1500, seed=5), topic_prefix=lane.prefix, codec=codec)
    bad = bad_records(codec)
    step = len(good) // (len(bad) + 1)
    producer = AIOKafkaProducer(**lane.kafka.options(), enable_idempotence=True, acks="all", linger_ms=5)
    sign = lane.platform_key.headers  # signed by the platform: only decoding, topic and domain rules judge them
    await producer.start()
    try:
        futures, bad_futures = [], []
        for i, item in enumerate(good):
            if i % step == step // 2 and len(bad_futures) < len(bad):
                record = bad[len(bad_futures)]
                headers = sign(record.key, record.value)
                bad_futures.append(
                    await producer.send(
                        lane.topic(record.topic),
                        record.value,
                        key=record.key,
                        partition=record.partition,  # None: the producer's (murmur2) partitioner
                        headers=headers,
                    )
                )
            out = item.outgoing
            futures.append(await producer.send(out.topic, out.value, key=out.key, headers=sign(out.key, out.value)))
        assert len(bad_futures) == len(bad)
        targets: dict[tuple[str, int], int] = {}
        sent = []
        for record, future in zip(bad, bad_futures, strict=True):
            meta = await future
            sent.append(Sent(record, meta.partition, meta.offset))
        for future in [*futures, *bad_futures]:
            meta = await future
            targets[(meta.topic, meta.partition)] = max(targets.get((meta.topic, meta.partition), 0), meta.offset + 1)
    finally:
        await producer.stop()
    return Scenario(sent, compare.oracle([item.event for item in good]), targets)


async def check(lane: Lane, scenario: Scenario, started: datetime) -> None:
    conn = await asyncpg.connect(lane.database_url)
    try:
        compare.assert_same(await compare.db_tables(conn), scenario.expected.tables)
        ends = await end_offsets(lane.kafka, [lane.topic(t) for t in ("kim.cases", "kim.immigration")])
        for name, projection in PROJECTIONS.items():
            mine = {tp: end for tp, end in ends.items() if tp[0] in {lane.topic(t) for t in projection.source_topics}}
            assert await checkpoints.load(conn, name) == {tp: e for tp, e in mine.items() if e}, f"{name}: lag not 0"
    finally:
        await conn.close()

    letters = await read_all(lane, "kim.dlq", timeout=60)
    codec = Codec()
    by_position = defaultdict(list)
    for letter in letters:
        h = {k: v.decode() for k, v in letter.headers}
        by_position[(h["kim.source.topic"], int(h["kim.source.partition"]), int(h["kim.source.offset"]))].append(letter)
    for sent in scenario.sent:
        bad = sent.bad
        mine = by_position.pop((lane.topic(bad.topic), sent.partition, sent.offset), [])
        for letter in mine:  # a record that shows a client's pseudonym in clear is never copied into a letter
            if shows_a_pseudonym(bad.value):
                assert letter.value == b"" and dict(letter.headers)[OMITTED_HEADER].decode() == PSEUDONYM_OMITTED
            else:
                assert letter.value == bad.value, bad.kind
        assert {dict(r.headers)["kim.projection"].decode() for r in mine} == bad.letters_from, (bad.kind, mine)
        assert len(mine) == len(bad.letters_from), f"{bad.kind}: dead-lettered more than once per projection"
        for letter in mine:
            headers = {k: v.decode() for k, v in letter.headers}
            assert letter.key == bad.key
            assert headers["kim.source.topic"] == lane.topic(bad.topic)
            assert (headers["kim.source.partition"], headers["kim.source.offset"]) == (
                str(sent.partition),
                str(sent.offset),
            )
            assert bad.reason in headers["kim.reason"], (bad.kind, headers["kim.reason"])
            failed_at = datetime.fromisoformat(headers["kim.failed_at"])
            assert started - timedelta(minutes=1) <= failed_at <= datetime.now(UTC)
            assert headers["kim.attempt"] == "1"
    # What is left are the folds' rejections (history contradictions), exactly as the oracle has them.
    folds: dict[str, set[str]] = defaultdict(set)
    for rest in by_position.values():
        for letter in rest:
            headers = {k: v.decode() for k, v in letter.headers}
            folds[headers["kim.projection"]].add(str(codec.decode(letter.value).envelope["event_id"]))
    expected = {
        name: {str(e.envelope["event_id"]) for e in events} for name, events in scenario.expected.rejected.items()
    }
    assert {n: ids for n, ids in folds.items() if ids} == {n: ids for n, ids in expected.items() if ids}


def test_live_workers_dead_letter_every_bad_kind_and_apply_every_good_event(lane: Lane) -> None:
    async def run() -> None:
        started = datetime.now(UTC)
        workers = {name: lane.worker(name) for name in PROJECTIONS}
        scenario = await publish_interleaved(lane)
        for name, worker in workers.items():
            topics = {lane.topic(t) for t in PROJECTIONS[name].source_topics}
            targets = {tp: end for tp, end in scenario.targets.items() if tp[0] in topics}
            try:
                await wait_caught_up(lane.database_url, name, targets, 180, still_running=worker.alive)
            except (TimeoutError, RuntimeError) as why:
                raise AssertionError(f"{why}\n--- {name} worker log ---\n{worker.log_text()[-4000:]}") from None
        await check(lane, scenario, started)
        for name, worker in workers.items():
            assert worker.alive(), f"{name} worker died:\n{worker.log_text()[-3000:]}"

        # What an operator sees: `kim dlq list` filters by reason, `kim dlq show` a letter without a body.
        listed = kim(lane, "dlq", "list", "--reason", "WRONG TOPIC")
        assert listed.returncode == 0 and "2 of " in listed.stdout, listed.stdout + listed.stderr
        tombstone = next(x for x in await read_dead_letters(lane.kafka, lane.topic("kim.dlq")) if x.value is None)
        shown = kim(lane, "dlq", "show", tombstone.position)
        assert shown.returncode == 0 and "body: 0 bytes, not decodable" in shown.stdout, shown.stdout + shown.stderr

    asyncio.run(run())


def test_the_bulk_path_dead_letters_the_same_records_and_a_redrive_applies_none_of_them(lane: Lane) -> None:
    async def run() -> None:
        started = datetime.now(UTC)
        scenario = await publish_interleaved(lane)
        for name, projection in PROJECTIONS.items():
            await catch_up(
                projection,
                lane.kafka,
                lane.database_url,
                platform_secret=lane.platform_secret,
                topic_prefix=lane.prefix,
                max_records=500,  # several batches, so bad records fall into different ones
                progress=Progress(1, name, out=io.StringIO()),
            )
        await check(lane, scenario, started)

        # Re-driving the letters of the bad records re-judges them: none is applied, each goes back once.
        bad_values = {sent.bad.value for sent in scenario.sent}
        letters = [x for x in await read_dead_letters(lane.kafka, lane.topic("kim.dlq")) if x.value in bad_values]
        for name, projection in PROJECTIONS.items():
            mine = [x for x in letters if x.projection == name]
            result = await redrive(
                lane.kafka,
                lane.database_url,
                projection,
                mine,
                lane.topic("kim.dlq"),
                platform_secret=lane.platform_secret,
            )
            assert (result.applied, result.failed_again) == (0, len(mine)), name
        reason = {sent.bad.value: sent.bad.reason for sent in scenario.sent}
        again = [x for x in await read_dead_letters(lane.kafka, lane.topic("kim.dlq")) if x.attempt == 2]
        assert len(again) == len(letters)
        assert all(reason[x.value] in x.reason and x.history for x in again), [x.reason for x in again]
        conn = await asyncpg.connect(lane.database_url)
        try:
            compare.assert_same(await compare.db_tables(conn), scenario.expected.tables)
        finally:
            await conn.close()

    asyncio.run(run())
