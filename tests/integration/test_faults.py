"""Infrastructure faults while events are published and projected, each checked against two accounts.

Every test publishes one generated history at about 1,000 events/s through an idempotent producer (acks=all) while
all four projection workers run, injects one fault a third of the way in, heals it, and then checks:

- the publisher's own account: every event the broker acknowledged is in the log exactly once where the broker
  said; a send that failed during the fault is sent again only if the log does not hold it (as `kim publish
  --resume` does), and then the log holds the whole history exactly once;
- the oracle (``tests/oracles``): every read model equals the independent fold of the history — nothing lost,
  nothing counted twice;
- the workers recovered by themselves (none was restarted) — and how many seconds after the fault healed the lag
  was 0 again (printed).

The faults: on a three-node cluster (replication factor 3, ``min.insync.replicas=2``) one node SIGKILLed and
restarted, and one SIGSTOPped past the broker session timeout and resumed; on a single node its restart; the
PostgreSQL server shut down fast while a batch transaction is open, and started again. A worker SIGKILLed
mid-batch is ``test_projections_oracle.py``'s.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field

import asyncpg
import pytest

from cli.catchup import wait_caught_up
from infra import kafka_broker, postgres_server
from projections.registry import PROJECTIONS
from schemas import Codec
from schemas.topics import EVENT_TOPICS
from streams.kafka.connection import KafkaConnection
from streams.kafka.topics import end_offsets
from tests.integration.cluster_platform import Platform, platform
from tests.integration.conftest import MEASURED, Lane
from tests.integration.helpers import read_all
from tests.oracles import compare
from tests.oracles.history import sized
from tests.oracles.publish import Encoded, encode

pytestmark = pytest.mark.integration

EVENTS = 12_000
RATE = 1_000  # events a second, the live load the platform is sized for
BROKER_SESSION_TIMEOUT = 9.0  # Kafka's broker.session.timeout.ms default: a node silent longer is fenced


@dataclass
class Account:
    """What the publisher itself knows: which events the broker acknowledged, where."""

    acked: dict[str, tuple[str, int, int]] = field(default_factory=dict)
    failed: list[str] = field(default_factory=list)

    async def reached(self, count: int, timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        while len(self.acked) < count:
            assert time.monotonic() < deadline, f"only {len(self.acked)} of {count} events acknowledged"
            await asyncio.sleep(0.05)


@dataclass(frozen=True)
class Fault:
    """One fault: ``inject`` it, hold it ``hold`` seconds, then ``heal`` it; both may block (run in a thread)."""

    name: str
    inject: Callable[[], object]
    heal: Callable[[], object]
    hold: float


async def run(lane: Lane, records: list[Encoded], fault: Fault, before: Callable[[], Awaitable[None]] | None = None):
    """Publish with the workers running; the fault strikes a third of the way in, is held, then healed."""
    workers = {name: lane.worker(name) for name in PROJECTIONS}
    account = Account()
    acks = asyncio.create_task(publish_paced(lane.kafka, records, account))
    await account.reached(len(records) // 3)
    if before is not None:
        await before()
    struck = time.monotonic()
    await asyncio.to_thread(fault.inject)
    await asyncio.sleep(fault.hold)
    await asyncio.to_thread(fault.heal)
    healed = time.monotonic()
    await acks
    if account.failed:  # as a publisher resumes: send again what the log does not hold, in order
        print(f"{len(account.failed)} sends failed during the fault, e.g. {account.failed[:2]}; resending")
        logged = set(await _logged(lane))
        rest = [r for r in records if str(r.event.envelope["event_id"]) not in logged]
        account.failed.clear()
        await publish_paced(lane.kafka, rest, account)
        assert not account.failed, f"{len(account.failed)} sends failed after the fault, e.g. {account.failed[:3]}"
    targets = await end_offsets(lane.kafka, [lane.topic(t) for t in EVENT_TOPICS])
    for name, worker in workers.items():
        topics = {lane.topic(t) for t in PROJECTIONS[name].source_topics}
        mine = {tp: end for tp, end in targets.items() if tp[0] in topics}
        try:
            await wait_caught_up(lane.database_url, name, mine, 300, still_running=worker.alive)
        except (TimeoutError, RuntimeError) as why:
            raise AssertionError(f"{why}\n--- {name} worker log ---\n{worker.log_text()[-4000:]}") from None
    lag_zero = time.monotonic() - healed
    measured = f"{fault.name}: held {healed - struck:.1f} s; every projection at lag 0 {lag_zero:.1f} s after it healed"
    print(measured)
    MEASURED.append(measured)
    if lag_zero > 60:  # slow recovery: show what the workers said
        for name, worker in workers.items():
            print(f"--- {name} worker log ---\n{worker.log_text()[-3000:]}")
    assert all(worker.alive() for worker in workers.values()), "a worker died instead of recovering"
    where = await _exactly_once_in_the_log(lane, account, records)
    await _equal_to_the_oracle(lane, _in_log_order(records, where))


async def publish_paced(kafka: KafkaConnection, records: list[Encoded], account: Account) -> None:
    """Send in order with one idempotent producer at about ``RATE`` a second, noting each acknowledgement as it
    comes (so the fault can wait for a third of them)."""
    from infra.platform_identity import platform_key

    producer = kafka.producer(linger_ms=5, request_timeout_ms=120_000)  # rides out a broker's restart
    await producer.start()
    sign = platform_key(kafka).headers
    started = time.monotonic()
    sends = []

    def noted(event_id: str) -> Callable[[asyncio.Future], None]:
        def done(future: asyncio.Future) -> None:
            if future.cancelled():
                account.failed.append(f"{event_id}: cancelled")
            elif future.exception() is not None:
                account.failed.append(f"{event_id}: {future.exception()}")
            else:
                meta = future.result()
                account.acked[event_id] = (meta.topic, meta.partition, meta.offset)

        return done

    try:
        for i, record in enumerate(records):
            if i % 100 == 0:
                await asyncio.sleep(max(0.0, started + i / RATE - time.monotonic()))
            out = record.outgoing
            future = await producer.send(out.topic, out.value, key=out.key, headers=sign(out.key, out.value))
            future.add_done_callback(noted(str(record.event.envelope["event_id"])))
            sends.append(future)
        await asyncio.gather(*sends, return_exceptions=True)
    finally:
        await producer.stop()


async def _logged(lane: Lane) -> list[str]:
    """The event ids in the lane's event topics, one per record."""
    codec = Codec()
    return [
        str(codec.decode(record.value).envelope["event_id"])
        for topic in EVENT_TOPICS
        for record in await read_all(lane, topic, timeout=120)
    ]


async def _exactly_once_in_the_log(
    lane: Lane, account: Account, records: list[Encoded]
) -> dict[str, tuple[str, int, int]]:
    """Checks the log against the history and the account; returns where each event is."""
    codec = Codec()
    seen: Counter[str] = Counter()
    where: dict[str, tuple[str, int, int]] = {}
    for topic in EVENT_TOPICS:
        for record in await read_all(lane, topic, timeout=120):
            event_id = str(codec.decode(record.value).envelope["event_id"])
            seen[event_id] += 1
            where[event_id] = (record.topic, record.partition, record.offset)
    twice = [event_id for event_id, n in seen.items() if n > 1]
    assert not twice, f"{len(twice)} events are in the log more than once, e.g. {twice[:3]}"
    assert set(seen) == {str(r.event.envelope["event_id"]) for r in records}, "the log does not hold the history"
    unacked = set(seen) - set(account.acked)
    assert all(where[event_id] == at for event_id, at in account.acked.items()), (
        "an acknowledged event is in the log elsewhere than the broker said"
    )
    if unacked:  # written during the fault, its acknowledgement lost: the resend found it there and left it
        print(f"{len(unacked)} events reached the log without an acknowledgement")
    return where


def _in_log_order(records: list[Encoded], where: dict[str, tuple[str, int, int]]) -> list[Encoded]:
    """The history with each partition's events in the order the log holds them (a resent event may come after
    later ones of its partition): each partition keeps its slots in the history, filled in log order."""
    slots: dict[tuple[str, int], list[int]] = {}
    in_log: dict[tuple[str, int], list[tuple[int, Encoded]]] = {}
    for index, record in enumerate(records):
        topic, partition, offset = where[str(record.event.envelope["event_id"])]
        slots.setdefault((topic, partition), []).append(index)
        in_log.setdefault((topic, partition), []).append((offset, record))
    placed: dict[int, Encoded] = {}
    for tp, indices in slots.items():
        for index, (_, record) in zip(indices, sorted(in_log[tp], key=lambda pair: pair[0]), strict=True):
            placed[index] = record
    return [placed[index] for index in sorted(placed)]


async def _equal_to_the_oracle(lane: Lane, records: list[Encoded]) -> None:
    expected = compare.oracle([r.event for r in records])
    conn = await asyncpg.connect(lane.database_url)
    try:
        compare.assert_same(await compare.db_tables(conn), expected.tables)
    finally:
        await conn.close()


def _records(lane: Lane, seed: int) -> list[Encoded]:
    return encode(sized(EVENTS, seed=seed), topic_prefix=lane.prefix)


@pytest.fixture(scope="module")
def cluster() -> Iterator[Platform]:
    with platform(brokers=3) as running:
        yield running


@pytest.fixture
def cluster_lane(cluster: Platform) -> Iterator[Lane]:
    lane = cluster.lane()
    yield lane
    cluster.drop(lane)


def _busiest_node(cluster: Platform, lane: Lane) -> int:
    """The node leading most partitions of the lane's event topics (killing it moves the most leadership)."""
    from infra.processes import run_sync

    async def leaders() -> Counter[int]:
        admin = lane.kafka.admin()
        await admin.start()
        try:
            described = await admin.describe_topics([lane.topic(t) for t in EVENT_TOPICS])
        finally:
            await admin.close()
        return Counter(p["leader"] for t in described for p in t["partitions"])

    return run_sync(leaders()).most_common(1)[0][0]


def test_a_node_of_three_killed_mid_publish_and_restarted_loses_and_repeats_nothing(
    cluster: Platform, cluster_lane: Lane
) -> None:
    node = _busiest_node(cluster, cluster_lane)
    fault = Fault(
        f"node {node} of 3 SIGKILLed, restarted",
        inject=lambda: kafka_broker.stop_node(cluster.settings, node, kill=True),
        heal=lambda: kafka_broker.start_broker(cluster.settings, log=print),
        hold=5.0,
    )
    asyncio.run(run(cluster_lane, _records(cluster_lane, seed=31), fault))


def test_a_node_of_three_stopped_past_its_session_timeout_and_resumed_loses_and_repeats_nothing(
    cluster: Platform, cluster_lane: Lane
) -> None:
    node = _busiest_node(cluster, cluster_lane)
    pid = kafka_broker.node_pid(cluster.settings, node)
    assert pid is not None
    fault = Fault(
        f"node {node} of 3 SIGSTOPped past its session timeout, resumed",
        inject=lambda: os.kill(pid, signal.SIGSTOP),
        heal=lambda: os.kill(pid, signal.SIGCONT),
        hold=BROKER_SESSION_TIMEOUT + 6.0,
    )
    asyncio.run(run(cluster_lane, _records(cluster_lane, seed=37), fault))
    assert kafka_broker.node_pid(cluster.settings, node) == pid  # the same process, back in the cluster


def test_postgresql_shut_down_fast_mid_batch_and_restarted_loses_and_repeats_nothing(
    cluster: Platform, cluster_lane: Lane
) -> None:
    settings = cluster.settings

    async def in_a_batch() -> None:
        """Wait until some worker has a batch transaction open, so the shutdown rolls one back."""
        deadline = time.monotonic() + 60
        while True:
            rows = await cluster_lane.fetch(
                "SELECT count(*) AS n FROM pg_stat_activity WHERE datname = current_database()"
                " AND application_name LIKE 'kim-worker-%' AND xact_start IS NOT NULL"
                " AND state IN ('active', 'idle in transaction')"
            )
            if rows[0]["n"] > 0 or time.monotonic() > deadline:
                return
            await asyncio.sleep(0.005)

    fault = Fault(
        "PostgreSQL fast shutdown mid-batch, restarted",
        inject=lambda: postgres_server.stop_postgres(settings),
        heal=lambda: postgres_server.start_postgres(settings, log=print),
        hold=5.0,
    )
    asyncio.run(run(cluster_lane, _records(cluster_lane, seed=41), fault, before=in_a_batch))


def test_the_single_broker_restarted_mid_publish_loses_and_repeats_nothing(lane: Lane, base_settings) -> None:
    """On the session's own single broker (tests run one at a time, so nothing else is using it now)."""
    if not base_settings.local_kafka:
        pytest.fail("this test restarts the local broker; run it without KIM_KAFKA_BOOTSTRAP")
    fault = Fault(
        "the single broker restarted",
        inject=lambda: kafka_broker.stop_broker(base_settings),
        heal=lambda: kafka_broker.start_broker(base_settings, log=print),
        hold=3.0,
    )
    asyncio.run(run(lane, _records(lane, seed=43), fault))
