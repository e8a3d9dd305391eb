"""The three projections through the real broker and database equal the oracle on a 100k-event history.

One history of more than 100,000 events — a year of the simulator (``simulation/``) merged with
tests/oracles/history.py's generator, which adds a small share of contradicting events (unknown
cases and referrals, referrals without a covering consent, permits without a grant, …) — with
about 1% of its records published a second time and keys spread over all partitions. Each test publishes it
into its own lane and checks every table row, every analyst view and function at a fixed
``as_of``, and the dead letters, against tests/oracles/:

- live faust workers, each SIGKILLed while a batch transaction is open, then restarted;
- two workers per projection sharing the partitions: a second one joins mid-stream, the first
  one leaves (two rebalances);
- the bulk path (aiokafka batches).
"""

from __future__ import annotations

import asyncio
import heapq
import io
import time
from collections import defaultdict
from dataclasses import replace
from datetime import UTC, date, datetime

import asyncpg
import pytest

from cli.catchup import wait_caught_up
from projections.registry import PROJECTIONS
from schemas import Codec
from streams.runtime.bulk import catch_up
from streams.runtime.progress import Progress
from streams.sdk.draft import agencies
from tests.integration.conftest import Lane, Worker
from tests.integration.helpers import read_all
from tests.oracles import compare
from tests.oracles.history import sized
from tests.oracles.publish import Encoded, encode, publish, with_repeats
from tests.oracles.report import backlog_report, caseload_report, referrals_report

pytestmark = pytest.mark.integration

EVENTS = 100_000
AS_OF = datetime(2025, 10, 15, 12, 0, tzinfo=UTC)
WEEKS = 8
DAYS = (date(2025, 7, 1), date(2025, 9, 30))


class History:
    def __init__(self) -> None:
        started = time.monotonic()
        self.records: list[Encoded] = with_repeats(encode(_history()), share=0.01, seed=3)
        events = [r.event for r in self.records]
        self.expected = compare.oracle(events)
        self.views = compare.oracle_views(events, AS_OF, WEEKS, DAYS)
        self.rejected = {
            name: sorted({str(e.envelope["event_id"]) for e in rejected})
            for name, rejected in self.expected.rejected.items()
        }
        self.seconds = time.monotonic() - started
        repeats = len(self.records) - len({str(e.envelope["event_id"]) for e in events})
        print(
            f"history: {len(self.records)} records ({repeats} repeats), oracle in {self.seconds:.1f} s; rejections "
            + ", ".join(f"{k} {len(v)}" for k, v in self.rejected.items())
        )


def _history() -> list:
    """The simulator's year (if it is there) merged with the generator's, which adds contradictions."""
    try:
        from simulation import SimulationConfig, simulate_list
    except ImportError:
        return sized(EVENTS, seed=11)
    simulated = simulate_list(SimulationConfig(years=1.0, seed=7, scale=0.6, start=date(2025, 1, 1)))
    publishable = set(agencies())  # the simulator lets agency OTHER answer a few referrals; the SDK refuses it
    simulated = [e for e in simulated if e.agency in publishable]
    generated = sized(max(EVENTS - len(simulated), EVENTS // 3), seed=11)
    return list(heapq.merge(simulated, generated, key=lambda e: e.draft.occurred_at))


@pytest.fixture(scope="module")
def history() -> History:
    return History()


async def _publish(lane: Lane, history: History, records: list[Encoded] | None = None) -> dict[tuple[str, int], int]:
    started = time.monotonic()
    records = history.records if records is None else records
    prefixed = [Encoded(replace(r.outgoing, topic=lane.prefix + r.outgoing.topic), r.event) for r in records]
    targets = await publish(lane.kafka, prefixed)
    print(f"published {len(prefixed)} records in {time.monotonic() - started:.1f} s")
    return targets


def _targets_for(name: str, lane: Lane, targets: dict[tuple[str, int], int]) -> dict[tuple[str, int], int]:
    topics = {lane.topic(t) for t in PROJECTIONS[name].source_topics}
    return {tp: end for tp, end in targets.items() if tp[0] in topics}


async def _applied(lane: Lane, name: str) -> int:
    rows = await lane.fetch(
        "SELECT coalesce(sum(next_offset), 0)::bigint AS n FROM projection_checkpoints WHERE projection = $1", name
    )
    return rows[0]["n"]


async def _in_transaction(lane: Lane, name: str) -> bool:
    rows = await lane.fetch(
        "SELECT count(*) AS n FROM pg_stat_activity WHERE datname = current_database() AND application_name = $1"
        " AND xact_start IS NOT NULL AND state IN ('active', 'idle in transaction')",
        f"kim-worker-{name}",
    )
    return rows[0]["n"] > 0


async def _caught_up(lane: Lane, name: str, targets: dict, workers: list[Worker], timeout: float = 600) -> None:
    try:
        await wait_caught_up(
            lane.database_url,
            name,
            _targets_for(name, lane, targets),
            timeout,
            still_running=lambda: any(w.alive() for w in workers),
        )
    except (TimeoutError, RuntimeError) as why:
        logs = "\n".join(w.log_text()[-3000:] for w in workers)
        raise AssertionError(f"{why}\n--- worker logs ---\n{logs}") from None


async def _check(lane: Lane, history: History) -> None:
    conn = await asyncpg.connect(lane.database_url)
    try:
        compare.assert_same(await compare.db_tables(conn), history.expected.tables)
        compare.assert_same(await compare.db_views(conn, AS_OF, WEEKS, DAYS), history.views)
    finally:
        await conn.close()
    codec = Codec()
    dead: dict[str, set[str]] = defaultdict(set)
    for record in await read_all(lane, "kim.dlq", timeout=60):
        headers = {k: v.decode() for k, v in record.headers}
        dead[headers["kim.projection"]].add(str(codec.decode(record.value).envelope["event_id"]))
    # Dead letters are at least once: a crash after sending them and before the commit repeats them.
    assert {name: sorted(ids) for name, ids in dead.items() if ids} == {
        name: ids for name, ids in history.rejected.items() if ids
    }


def test_live_workers_killed_mid_batch_and_restarted_match_the_oracle(lane: Lane, history: History) -> None:
    async def scenario() -> None:
        targets = await _publish(lane, history)
        started = time.monotonic()
        first = {name: lane.worker(name) for name in PROJECTIONS}
        killed_at = {}
        for name, worker in first.items():
            total = sum(_targets_for(name, lane, targets).values())
            deadline = time.monotonic() + 300
            while not (await _applied(lane, name) >= total // 5 and await _in_transaction(lane, name)):
                assert worker.alive(), worker.log_text()[-3000:]
                assert time.monotonic() < deadline, f"{name} never got a fifth of the way"
                await asyncio.sleep(0.005)
            worker.kill()
            killed_at[name] = await _applied(lane, name)
            assert 0 < killed_at[name] < total, f"{name}: the crash must come in the middle of the stream"
        second = {name: lane.worker(name) for name in PROJECTIONS}
        for name, worker in second.items():
            await _caught_up(lane, name, targets, [worker])
        print(f"live with SIGKILL: caught up in {time.monotonic() - started:.1f} s; killed at {killed_at}")
        await _check(lane, history)

    asyncio.run(scenario())


def test_two_workers_sharing_partitions_through_rebalances_match_the_oracle(lane: Lane, history: History) -> None:
    """Published in three parts: the second worker joins before part 2, the first leaves before part 3."""

    async def scenario() -> None:
        n = len(history.records)
        parts = [history.records[: n * 2 // 5], history.records[n * 2 // 5 : n * 4 // 5], history.records[n * 4 // 5 :]]
        targets = await _publish(lane, history, parts[0])
        started = time.monotonic()
        first = {name: lane.worker(name) for name in PROJECTIONS}
        await _wait_for(lane, first, {name: sum(_targets_for(name, lane, targets).values()) // 2 for name in first})
        second = {name: lane.worker(name) for name in PROJECTIONS}  # joins: the partitions are shared
        targets = _merge(targets, await _publish(lane, history, parts[1]))
        await _wait_for(lane, first, {name: sum(_targets_for(name, lane, targets).values()) * 3 // 4 for name in first})
        for worker in first.values():  # leaves: the second takes over all partitions
            worker.process.terminate()
        for worker in first.values():
            await asyncio.to_thread(worker.process.wait, 60)
        targets = _merge(targets, await _publish(lane, history, parts[2]))
        for name in PROJECTIONS:
            await _caught_up(lane, name, targets, [second[name]])
        print(f"two workers with rebalances: caught up in {time.monotonic() - started:.1f} s")
        await _check(lane, history)

    asyncio.run(scenario())


def _merge(a: dict[tuple[str, int], int], b: dict[tuple[str, int], int]) -> dict[tuple[str, int], int]:
    return {tp: max(a.get(tp, 0), b.get(tp, 0)) for tp in a.keys() | b.keys()}


async def _wait_for(lane: Lane, workers: dict[str, Worker], wanted: dict[str, int]) -> None:
    deadline = time.monotonic() + 300
    while True:
        done = {name: await _applied(lane, name) for name in wanted}
        if all(done[name] >= wanted[name] for name in wanted):
            return
        for worker in workers.values():
            assert worker.alive(), worker.log_text()[-3000:]
        assert time.monotonic() < deadline, f"no progress: {done}, wanted {wanted}"
        await asyncio.sleep(0.05)


def test_bulk_path_matches_the_oracle(lane: Lane, history: History) -> None:
    async def scenario() -> None:
        await _publish(lane, history)
        for name, projection in PROJECTIONS.items():
            result = await catch_up(
                projection,
                lane.kafka,
                lane.database_url,
                platform_secret=lane.platform_secret,
                topic_prefix=lane.prefix,
                progress=Progress(1, name, out=io.StringIO()),
            )
            print(f"bulk {name}: {result.applied} records in {result.seconds:.1f} s ({result.rate:,.0f}/s)")
        await _check(lane, history)
        conn = await asyncpg.connect(lane.database_url)
        try:
            texts = [await report(conn, AS_OF) for report in (caseload_report, referrals_report, backlog_report)]
        finally:
            await conn.close()
        assert "Open cases at 2025-10-15" in texts[0] and "KIM-Case-Management" in texts[0]
        assert "overdue" in texts[1] and "Jobcenter" in texts[1]
        assert "Pending applications at 2025-10-15" in texts[2] and "Einbürgerung" in texts[2]
        for text in texts:  # small cells are never shown: a count of 1 to 4 in a cell of its own
            assert not any(cell in {"1", "2", "3", "4"} for line in text.splitlines() for cell in line.split())

    asyncio.run(scenario())
