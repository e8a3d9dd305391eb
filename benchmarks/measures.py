"""The measurements of one benchmark run. Each returns plain numbers; run.py prints and stores them."""

from __future__ import annotations

import asyncio
import heapq
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Sized
from pathlib import Path
from typing import Any, NamedTuple

import aiohttp
import asyncpg
from aiokafka import TopicPartition

from benchmarks.lanes import BenchLane
from benchmarks.stages import WRITE_EVERY_S
from benchmarks.usage import BackendSampler, FrozenHeap, Meter, database_name, peak_rss_mb, process_cpu_s
from infra.platform_identity import child_env
from infra.processes import free_port
from projections.registry import PROJECTIONS
from schemas import Codec
from schemas.topics import CASES
from streams.kafka.topics import end_offsets
from streams.runtime.bulk import catch_up
from streams.runtime.progress import Progress
from streams.sdk.keys import MemoryKeyStore
from streams.sdk.publisher import Publisher
from streams.usecases.publish_in_order import AgencyEvent, publish_in_order

REPO = Path(__file__).resolve().parent.parent


async def publish_all(
    lane: BenchLane, events: Iterable[AgencyEvent], chunk: int = 20_000, expected: int | None = None
) -> float:
    """Publish through the SDK as each event's agency, every case in order (``publish_in_order``); returns events/s.

    ``events`` may be a stream; ``expected`` is then its estimated length, for the progress line's ETA."""
    total = expected if expected is not None or not isinstance(events, Sized) else len(events)
    progress = Progress(total or 0, "publish")
    keys = MemoryKeyStore()  # sealing costs the same as with the key table, after the one-time key loads
    await publish_in_order(
        lane.kafka,
        events,
        lane.prefix,
        progress=progress,
        chunk=chunk,
        client_keys=keys,
        platform_key=lane.platform_key,
    )
    return progress.done / progress.elapsed


async def consume_all(
    lane: BenchLane, topics: tuple[str, ...], decode: Callable[[bytes], Any] | None
) -> tuple[int, float]:
    """aiokafka getmany over every partition of ``topics`` from the start to the end, ``decode`` on each record
    (None: nothing); (records, seconds)."""
    ends = {
        TopicPartition(t, p): e
        for (t, p), e in (await end_offsets(lane.kafka, [lane.topic(t) for t in topics])).items()
        if e > 0
    }
    consumer = lane.kafka.consumer(max_partition_fetch_bytes=4 * 1024 * 1024)
    await consumer.start()
    try:
        consumer.assign(list(ends))
        await consumer.seek_to_beginning(*ends)
        todo, seen = set(ends), 0
        started = time.perf_counter()
        while todo:
            for records in (await consumer.getmany(*todo, timeout_ms=1000, max_records=10_000)).values():
                if decode is not None:
                    for record in records:
                        decode(record.value)
                seen += len(records)
            for tp in list(todo):
                if await consumer.position(tp) >= ends[tp]:
                    todo.discard(tp)
        return seen, time.perf_counter() - started
    finally:
        await consumer.stop()


async def raw_ceiling(lane: BenchLane, topics: tuple[str, ...] = (CASES,)) -> float:
    """aiokafka getmany + decode and nothing else: the one-core ceiling of consume+decode (of these topics)."""
    records, seconds = await consume_all(lane, topics, Codec().decode)
    return records / seconds


async def bulk(lane: BenchLane, projection: str = "caseload", attempt: int = 0) -> tuple[float, dict[str, Any]]:
    """The bulk path of one projection into a fresh database; (records applied/s, usage)."""
    url = await lane.database(f"bulk_{projection}" + (f"_{attempt}" if attempt else ""))
    secret = lane.platform_secret
    with Meter(lane.settings, url) as meter:
        result = await catch_up(
            PROJECTIONS[projection], lane.kafka, url, platform_secret=secret, topic_prefix=lane.prefix
        )
    return result.rate, meter.usage(result.applied, result.rate)


def lane_env(lane: BenchLane, **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "KIM_KAFKA_BOOTSTRAP": lane.settings.kafka_bootstrap,
        "KIM_TOPIC_PREFIX": lane.prefix,
        **child_env(lane.kafka),
        **extra,
    }


class Run(NamedTuple):
    """A measured process: its rate, its CPU seconds over the measured span (all its threads), records in that span
    and its peak RSS."""

    rate: float
    cpu_s: float
    records: int
    peak_rss_mb: float = 0.0
    bulk_phase: tuple[int, float] | None = None  # a self catch-up's own (records, seconds), from the worker's log
    stages_cpu_s: dict[str, float] | None = None  # the record loop's stages over the span (benchmarks.stages)
    batches: dict[str, Any] | None = None  # the worker's batches (``worker_batches``), over its whole life
    postgres_cpu_s: float | None = None  # its database's backends over the span (live rows)

    @property
    def cpu_us_per_record(self) -> float:
        return 1e6 * self.cpu_s / self.records if self.records else 0.0


def faust_agent(lane: BenchLane, kind: str, events: int, database_url: str = "", timeout: float = 1800) -> Run:
    """Run a reference faust agent until it has seen every event; its events/s and CPU over the same span."""
    with tempfile.TemporaryDirectory() as tmp:
        result = Path(tmp) / "result.json"
        env = lane_env(
            lane,
            BENCH_DATADIR=str(Path(tmp) / "faust-data"),
            BENCH_TOPIC=lane.topic(CASES),
            BENCH_EVENTS=str(events),
            BENCH_RESULT=str(result),
            BENCH_APP_ID=f"{lane.prefix}{kind}",
            KIM_DATABASE_URL=database_url,
        )
        with open(Path(tmp) / "agent.log", "wb") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "benchmarks.faust_agents", kind],
                env=env,
                cwd=REPO,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        try:
            deadline = time.monotonic() + timeout
            while not result.exists():
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"faust {kind} agent failed:\n{(Path(tmp) / 'agent.log').read_text()[-2000:]}")
                time.sleep(0.1)
            measured = json.loads(result.read_text())
        finally:
            process.terminate()
            process.wait(30)
    return Run(measured["events"] / measured["seconds"], measured["cpu_s"], measured["events"])


async def _checkpoint_offsets(conn: asyncpg.Connection) -> dict[tuple[str, int], int]:
    rows = await conn.fetch("SELECT topic, partition, next_offset FROM projection_checkpoints")
    return {(r["topic"], r["partition"]): r["next_offset"] for r in rows}


def start_worker(
    lane: BenchLane,
    database_url: str,
    log: Path,
    projection: str = "caseload",
    catch_up_at: int = 0,
    metrics_port: int = 0,
    stages: Path | None = None,
) -> subprocess.Popen:
    """A worker process; ``catch_up_at``: its self catch-up threshold (0, the default here: the live path only);
    ``metrics_port``: where its metrics are served (0: none; the port is the projection's own, not a base);
    ``stages``: run it as ``benchmarks.accounted_worker``, its stages' CPU written to that file."""
    if metrics_port:
        metrics_port -= list(PROJECTIONS).index(projection)  # KIM_METRICS_PORT is caseload's; the others follow
    env = lane_env(
        lane,
        KIM_DATABASE_URL=database_url,
        PYTHONPATH=str(REPO),
        KIM_CATCH_UP_AT=str(catch_up_at),
        KIM_METRICS_PORT=str(metrics_port),
        **({"BENCH_STAGES": str(stages)} if stages else {}),
    )
    module = "benchmarks.accounted_worker" if stages else "cli.worker"
    with open(log, "wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", module, projection],
            cwd=log.parent,  # faust's data directory goes to the temporary directory, not the repo
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
        )


async def live(
    lane: BenchLane, events: int, timeout: float = 1800, projection: str = "caseload", catch_up_at: int = 0
) -> Run:
    """The real faust worker from its first applied batch to lag 0: events/s, its CPU over that span, its peak RSS.
    With ``catch_up_at`` the worker turns to the bulk path by itself once it sees its lag (the self catch-up row)."""
    purpose = "live" if projection == "caseload" else f"live_{projection}"
    url = await lane.database(purpose + ("_catch_up" if catch_up_at else ""))
    metrics_port = free_port()
    backends = BackendSampler(lane.settings.database_url, database_name(url))
    backends.start()
    with tempfile.TemporaryDirectory() as tmp:
        launched = time.perf_counter()
        stages = Path(tmp) / "stages.json"
        worker = start_worker(lane, url, Path(tmp) / "worker.log", projection, catch_up_at, metrics_port, stages)
        conn = await asyncpg.connect(url)
        backends.ignored.add(conn.get_server_pid())
        try:
            first_time, first_done, first_cpu, deadline = 0.0, 0, 0.0, time.monotonic() + timeout
            first_stages: dict[str, float] = {}
            first_pg = 0.0
            while True:
                done = sum((await _checkpoint_offsets(conn)).values())
                if done and not first_time:
                    first_time, first_done, first_cpu = time.perf_counter(), done, process_cpu_s(worker.pid) or 0.0
                    first_stages, first_pg = _stages(stages), backends.spent()
                if done >= events:
                    break
                if worker.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"live worker failed:\n{(Path(tmp) / 'worker.log').read_text()[-2000:]}")
                await asyncio.sleep(0.02)
            cpu_s = (process_cpu_s(worker.pid) or 0.0) - first_cpu
            postgres_cpu_s = backends.spent() - first_pg  # both as of the sampler's poll before them
            if done > first_done:  # timed from the first applied batch: start-up is not throughput
                rate = (done - first_done) / (time.perf_counter() - first_time)
            else:  # everything came in one batch (tiny runs): time from process start, start-up included
                rate = done / (time.perf_counter() - launched)
            await asyncio.sleep(2 * WRITE_EVERY_S)  # the worker's last stage figures are written
            log = await _worker_log(Path(tmp) / "worker.log", catch_up_at > 0)
            spent = {stage: cpu - first_stages.get(stage, 0.0) for stage, cpu in _stages(stages).items()}
            batches = await worker_batches(metrics_port)
            return Run(
                rate, cpu_s, done - first_done, peak_rss_mb(worker.pid), bulk_phase(log), spent, batches, postgres_cpu_s
            )
        finally:
            backends.stop()
            await conn.close()
            worker.terminate()
            worker.wait(30)


async def latency(lane: BenchLane, events: list[AgencyEvent], rate: int, seconds: float) -> dict[str, Any]:
    """Publish at a steady rate beside a live worker; time from publish to visible in PostgreSQL."""
    url = await lane.database("latency")
    warm_up, events = events[0], events[1 : 1 + int(rate * seconds)]
    clock = _Visibility()
    metrics_port = free_port()
    with tempfile.TemporaryDirectory() as tmp:
        worker = start_worker(lane, url, Path(tmp) / "worker.log", metrics_port=metrics_port)
        conn = await asyncpg.connect(url)
        publishers: dict[str, Publisher] = {}
        keys = MemoryKeyStore()
        try:
            for agency in {e.agency for e in [warm_up, *events]}:
                publishers[agency] = Publisher(
                    lane.kafka,
                    agency,
                    signing_key=lane.platform_key,
                    topic_prefix=lane.prefix,
                    linger_ms=0,
                    client_keys=keys,
                )
                await publishers[agency].__aenter__()
            # The worker joins its group first: start-up is not latency.
            await _send(publishers[warm_up.agency], warm_up, clock)
            while not clock.all_visible(await _checkpoint_offsets(conn)):
                if worker.poll() is not None:
                    raise RuntimeError(f"latency worker failed:\n{(Path(tmp) / 'worker.log').read_text()[-2000:]}")
                await asyncio.sleep(0.05)
            clock = _Visibility()
            with FrozenHeap() as own_gc:
                poller = asyncio.create_task(_watch(conn, clock))
                started = time.perf_counter()
                pending = []
                for i, event in enumerate(events):
                    if (delay := started + i / rate - time.perf_counter()) > 0:
                        await asyncio.sleep(delay)
                    pending.append(asyncio.create_task(_send(publishers[event.agency], event, clock)))
                await asyncio.gather(*pending)
                deadline = time.monotonic() + 120
                while clock.pending() and time.monotonic() < deadline:
                    await asyncio.sleep(0.05)
                poller.cancel()
            rss = peak_rss_mb(worker.pid)
            batches = await worker_batches(metrics_port)
        finally:
            for publisher in publishers.values():
                await publisher.__aexit__(None, None, None)
            await conn.close()
            worker.terminate()
            worker.wait(30)
    latencies, acks = sorted(clock.latencies), sorted(clock.acks)
    return {
        "events": len(events),
        "visible": len(latencies),
        "rate": rate,
        "p50_ms": _pct(latencies, 0.50),
        "p95_ms": _pct(latencies, 0.95),
        "p99_ms": _pct(latencies, 0.99),
        "max_ms": 1000 * latencies[-1] if latencies else float("nan"),
        # where it goes: the publisher's wait for the broker's acknowledgement (acks=all), then the worker
        "acknowledged_p50_ms": _pct(acks, 0.50),
        "acknowledged_p99_ms": _pct(acks, 0.99),
        "worker": batches,
        "worker_peak_rss_mb": rss,
        "benchmark_gc": own_gc.summary(),  # the measuring process's own collections during the row
    }


def _pct(ordered: list[float], p: float) -> float:
    """The ``p`` quantile of sorted seconds, in milliseconds."""
    return 1000 * ordered[min(len(ordered) - 1, int(p * len(ordered)))] if ordered else float("nan")


async def worker_batches(port: int) -> dict[str, Any]:
    """From a worker's metrics: its batches, events per batch and how long their transactions took (mean, and the
    share within each bucket of ``kim_batch_seconds``); empty if it serves none."""
    try:
        async with aiohttp.ClientSession() as session, session.get(f"http://127.0.0.1:{port}/metrics") as response:
            return batch_figures(await response.text())
    except (aiohttp.ClientError, TimeoutError):
        return {}


def batch_figures(text: str) -> dict[str, Any]:
    """``worker_batches`` from the text of a worker's metrics (Prometheus exposition)."""
    values: dict[str, float] = {}
    within: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith("#") or " " not in line:
            continue
        name, value = line.rsplit(" ", 1)
        if name.startswith("kim_batch_seconds_bucket"):
            within[name.split('le="', 1)[1].split('"', 1)[0]] = float(value)
        elif name.startswith("kim_events_applied_total"):
            values["applied"] = values.get("applied", 0.0) + float(value)
        else:
            values[name.split("{", 1)[0]] = float(value)
    batches = values.get("kim_batch_seconds_count", 0.0)
    if not batches:
        return {}
    return {
        "batches": int(batches),
        "events_per_batch": values.get("applied", 0.0) / batches,
        "transaction_mean_ms": 1000 * values["kim_batch_seconds_sum"] / batches,
        "transactions_within_s": {le: n / batches for le, n in within.items() if le != "+Inf"},
    }


async def _worker_log(path: Path, caught_up: bool, seconds: float = 10.0) -> str:
    """The worker's log; with ``caught_up``, once it has the line a self catch-up writes when it ends (the
    checkpoints reach the log end before the worker is back on the live path and says so), or after ``seconds``."""
    deadline = time.monotonic() + seconds
    while True:
        log = path.read_text(errors="replace")
        if not caught_up or CAUGHT_UP.search(log) or time.monotonic() > deadline:
            return log
        await asyncio.sleep(0.1)


def _stages(path: Path) -> dict[str, float]:
    """The stage figures an accounted worker last wrote (none yet: empty)."""
    try:
        return json.loads(path.read_text())
    except (FileNotFoundError, ValueError):
        return {}


CAUGHT_UP = re.compile(r"caught up ([\d,]+) records in ([\d.]+) s")


def bulk_phase(log: str) -> tuple[int, float] | None:
    """Records and seconds of the worker's self catch-ups (the line each one logs when it ends), or None."""
    found = [(int(n.replace(",", "")), float(s)) for n, s in CAUGHT_UP.findall(log)]
    return (sum(n for n, _ in found), sum(s for _, s in found)) if found else None


class _Visibility:
    """Publish times per partition in a heap; a checkpoint past an offset makes it visible."""

    def __init__(self) -> None:
        self.waiting: dict[tuple[str, int], list[tuple[int, float]]] = defaultdict(list)
        self.latencies: list[float] = []
        self.acks: list[float] = []  # from publishing to the broker's acknowledgement

    def sent(self, topic: str, partition: int, offset: int, at: float) -> None:
        heapq.heappush(self.waiting[(topic, partition)], (offset, at))

    def seen(self, offsets: dict[tuple[str, int], int], now: float) -> None:
        for tp, heap in self.waiting.items():
            while heap and heap[0][0] < offsets.get(tp, 0):
                self.latencies.append(now - heapq.heappop(heap)[1])

    def all_visible(self, offsets: dict[tuple[str, int], int]) -> bool:
        self.seen(offsets, time.perf_counter())
        return not self.pending()

    def pending(self) -> int:
        return sum(len(h) for h in self.waiting.values())


async def _send(publisher: Publisher, event: AgencyEvent, clock: _Visibility) -> None:
    started = time.perf_counter()
    result = await publisher.publish(event.draft)
    clock.acks.append(time.perf_counter() - started)
    clock.sent(result.topic, result.partition, result.offset, started)


async def _watch(conn: asyncpg.Connection, clock: _Visibility) -> None:
    while True:
        offsets = await _checkpoint_offsets(conn)
        clock.seen(offsets, time.perf_counter())
        await asyncio.sleep(0.005)
