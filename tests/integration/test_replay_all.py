"""`kim replay all` through the real broker and database: every projection is rebuilt from ONE read of the log
(each record fetched once, though three projections read ``kim.cases``), swapped in equal to the live tables and
the oracle, with no dead letter multiplied; an interrupted run resumes every copy from its own checkpoints; a
refusal stops one projection, not the others.
"""

from __future__ import annotations

import asyncio
import io
import re
import signal
import subprocess
import time
from collections import Counter

import asyncpg
import pytest

from cli.catchup import wait_caught_up
from projections.registry import PROJECTIONS
from streams.kafka.topics import end_offsets
from streams.runtime.bulk import catch_up_many
from streams.runtime.progress import Progress
from tests.integration.conftest import Lane
from tests.integration.helpers import read_all
from tests.integration.test_replay import (
    _audited,
    _expected,
    _ok,
    _publish,
    _row,
    _schema_exists,
    _tables,
    kim,
    start_kim,
)
from tests.oracles import compare
from tests.oracles.history import sized
from tests.oracles.publish import Encoded, encode, with_repeats

pytestmark = pytest.mark.integration

EVENTS = 6_000
NAMES = sorted(PROJECTIONS)


@pytest.fixture(scope="module")
def records() -> list[Encoded]:
    return with_repeats(encode(sized(EVENTS, seed=23)), share=0.01, seed=5)


async def _log_records(lane: Lane) -> int:
    """Records in the source topics of all projections, each topic counted once."""
    topics = sorted({lane.topic(t) for p in PROJECTIONS.values() for t in p.source_topics})
    return sum((await end_offsets(lane.kafka, topics)).values())


async def _live_by_bulk(lane: Lane) -> None:
    """The live projections, built by the bulk path (the same sinks as the workers) in one read."""
    await catch_up_many(
        list(PROJECTIONS.values()),
        lane.kafka,
        lane.database_url,
        platform_secret=lane.platform_secret,
        topic_prefix=lane.prefix,
        progress=Progress(1, "live", out=io.StringIO()),
    )


def _read(out: str) -> int:
    found = re.search(r"replay all: ([\d,]+) records read", out)
    assert found, out
    return int(found.group(1).replace(",", ""))


async def _letters(lane: Lane) -> list[dict]:
    return [dict(r.headers) for r in await read_all(lane, "kim.dlq", timeout=60)]


def test_replay_all_rebuilds_every_projection_from_one_read_equal_to_live_and_the_oracle(
    lane: Lane, records: list
) -> None:
    async def scenario() -> None:
        ends = await _publish(lane, records)
        workers = {name: lane.worker(name) for name in NAMES}
        for name, worker in workers.items():
            mine = {lane.topic(t) for t in PROJECTIONS[name].source_topics}
            targets = {tp: end for tp, end in ends.items() if tp[0] in mine}
            await wait_caught_up(lane.database_url, name, targets, 300, worker.alive)
        before = {name: await _tables(lane, name) for name in NAMES}
        letters = await _letters(lane)
        assert letters, "the history holds records the projections reject"

        result = await asyncio.to_thread(kim, lane, "replay", "all")
        out = _ok(result)
        print(out, result.stderr[-2000:])
        assert "Traceback" not in result.stderr, result.stderr
        for name in NAMES:
            assert f"rebuilt {name} and swapped it in" in out, out
        assert "differing" not in out and "swapped 4 of 4" in out, out
        # each record of the log was fetched once for all four copies, not once per projection reading it
        assert _read(out) == await _log_records(lane)
        assert f"{_read(out):,} events in" in result.stderr  # the shared read's progress line, with its total

        for name in NAMES:
            after = await _tables(lane, name)
            compare.assert_same(after, before[name])
            compare.assert_same(after, _expected(records, name).tables)
            row = await _row(lane, f"rebuild_{name}")
            assert row["state"] == "swapped" and row["applied"] == row["total"], dict(row)
            assert not await _schema_exists(lane, f"rebuild_{name}")
        assert await _audited(lane, "replay.swap") == [(n, "ok") for n in NAMES]
        # the live workers dead-lettered the bad records; the rebuild sent no second letter for any of them
        again = await _letters(lane)
        assert len(again) == len(letters) and not any("kim.rebuild" in h for h in again)
        positions = Counter(
            (h["kim.projection"], h["kim.source.topic"], h["kim.source.partition"], h["kim.source.offset"])
            for h in again
        )
        assert set(positions.values()) == {1}
        assert all(w.alive() for w in workers.values())

    asyncio.run(scenario())


def test_an_interrupted_replay_all_resumes_every_copy_from_its_own_checkpoints(lane: Lane, records: list) -> None:
    async def scenario() -> None:
        await _publish(lane, records)
        await _live_by_bulk(lane)
        total = await _log_records(lane)

        async def midway(process: subprocess.Popen[str]) -> None:
            deadline = time.monotonic() + 120
            while True:
                rows = [await _row(lane, f"rebuild_{n}") for n in NAMES]
                if all(r is not None and r["total"] for r in rows) and any(0 < r["applied"] < r["total"] for r in rows):
                    return
                assert process.poll() is None, process.communicate()
                assert time.monotonic() < deadline, "the replay never got part-way"
                await asyncio.sleep(0.05)

        first = start_kim(lane, "replay", "all", "--batch", "20")
        await midway(first)
        first.send_signal(signal.SIGINT)  # Ctrl-C: a clean stop that says how to resume
        _, err = await asyncio.to_thread(first.communicate, timeout=60)
        assert first.returncode == 130 and "run the same command again to resume" in err, err
        assert "Traceback" not in err

        second = start_kim(lane, "replay", "all", "--batch", "20")
        await midway(second)
        second.kill()  # SIGKILL: nothing to clean up
        second.wait(30)
        for name in NAMES:
            row = await _row(lane, f"rebuild_{name}")
            assert row["state"] == "running" and await _schema_exists(lane, f"rebuild_{name}")
        kept = {n: (await _row(lane, f"rebuild_{n}"))["applied"] for n in NAMES}
        assert sum(kept.values()) > 0

        out = _ok(await asyncio.to_thread(kim, lane, "replay", "all"))
        for name in NAMES:
            assert f"rebuilt {name} (resumed) and swapped it in" in out, out
            compare.assert_same(await _tables(lane, name), _expected(records, name).tables)
            assert (await _row(lane, f"rebuild_{name}"))["state"] == "swapped"
        assert _read(out) < total  # resumed where the copies stood, not from the start

    asyncio.run(scenario())


def test_a_refusal_stops_that_projection_only_and_the_exit_code_says_so(lane: Lane, records: list) -> None:
    async def scenario() -> None:
        await _publish(lane, records[:3000])
        await _live_by_bulk(lane)
        conn = await asyncpg.connect(lane.database_url)
        try:
            # a "bug" in the live backlog (the copy differs), and a rebuild of caseload already running
            some = "SELECT application_id FROM backlog_applications ORDER BY application_id LIMIT 5"
            await conn.execute(
                f"UPDATE backlog_applications SET documents_requested = 99 WHERE application_id IN ({some})"
            )
            await conn.execute("SELECT pg_advisory_lock(hashtextextended('kim-rebuild|caseload', 0))")
            result = await asyncio.to_thread(kim, lane, "replay", "all")
        finally:
            await conn.close()
        assert result.returncode == 1, result
        errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
        assert len(errors) == 2, result.stderr
        assert "the rebuilt backlog differs from the live one" in errors[0], errors  # in the projections' order
        assert "caseload not rebuilt: another `kim replay` is running" in errors[1], errors
        assert "Traceback" not in result.stderr
        assert "swapped 2 of 4 (outcomes, referrals)" in result.stdout, result.stdout
        assert await _audited(lane, "replay.swap") == [("backlog", "refused"), ("outcomes", "ok"), ("referrals", "ok")]
        assert await _audited(lane, "replay") == [("rebuild_caseload", "refused")]
        assert (await _row(lane, "rebuild_backlog"))["state"] == "failed"
        assert await _row(lane, "rebuild_caseload") is None

    asyncio.run(scenario())
