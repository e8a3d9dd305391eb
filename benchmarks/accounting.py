"""Where a rebuild's CPU goes, stage by stage: ``python -m benchmarks.accounting [--events N] [--out FILE]``.

On one lane (a simulated history of ``N`` case events and the kim.immigration events of the same months, published
by the SDK), in one run and on the same records:

- **the yardstick**: Quix Streams + fastavro decode, its process's CPU per record;
- **the plain rebuild** of every projection in one process (``benchmarks.replay``): its Python CPU per record, the
  PostgreSQL backends' and the broker's;
- **the accounted rebuild**: the same rebuild into another empty database, in a fresh process whose pure stages are
  timed where they run (``time.process_time`` around each call; they are synchronous, so nothing else runs inside
  them): decode + judge (``batch.prepare_many``), the signature screen (``authenticity.screened``), each projection's
  fold, and the clocked garbage collections. What is left of the process's CPU is the edges: the fetch (aiokafka's
  parsing, the ``LogRecord`` per record) and the database (asyncpg's encoding, COPY, loads, checkpoints, the event
  loop);
- **in memory**, in this process on the same records: getmany alone (fetch + ``LogRecord``) and ``Codec.decode``
  alone, which split the edges into fetch and database, and decode + judge into decode and judge.

Timing a stage costs two clock reads per batch, so the accounted rebuild's total is within noise of the plain one
(both are printed). Prints a table in µs per log record; writes JSON (default ``results/accounting-<time>.json``).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import multiprocessing
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiokafka import TopicPartition

from analytics.table import table as text_table
from benchmarks import measures, replay, yardsticks
from benchmarks.histories import IMMIGRATION_SHARE, streamed_history
from benchmarks.lanes import BenchLane, new_lane
from benchmarks.results import run_and_report
from benchmarks.stages import DECODE_JUDGE, StageClock
from infra import bringup
from infra.settings import load_settings
from projections.records import LogRecord
from schemas import Codec
from streams.kafka.connection import KafkaConnection
from streams.kafka.topics import end_offsets

EVENTS = 300_000
FETCH_BATCH = 20_000  # the rebuild's batch (streams.runtime.bulk.BATCH_RECORDS)


def _accounted(kafka: KafkaConnection, database_url: str, prefix: str) -> dict[str, Any]:
    """In a fresh process: the one-process rebuild with its pure stages timed."""
    clock = StageClock().install()
    share = asyncio.run(replay._replay(kafka, database_url, prefix, None, 1))
    return {"read": share.read, "cpu_s": share.cpu_s, "stages_cpu_s": dict(clock.cpu_s), "calls": dict(clock.calls)}


async def _fetched(lane: BenchLane) -> tuple[list[LogRecord], float]:
    """Every record of the lane's topics with getmany, as the rebuild builds them; (records, CPU seconds)."""
    ends = {
        TopicPartition(*tp): end
        for tp, end in (await end_offsets(lane.kafka, [lane.topic(t) for t in yardsticks.TOPICS])).items()
        if end
    }
    consumer = lane.kafka.consumer(max_partition_fetch_bytes=4 * 1024 * 1024)
    await consumer.start()
    out: list[LogRecord] = []
    try:
        consumer.assign(list(ends))
        await consumer.seek_to_beginning(*ends)
        left = sum(ends.values())
        gc.disable()  # as in the rebuild, whose clocked collections are a stage of their own
        started = time.process_time()
        while left > 0:
            batch = await consumer.getmany(timeout_ms=1000, max_records=FETCH_BATCH)
            for rs in batch.values():
                out.extend(
                    LogRecord(
                        r.topic,
                        r.partition,
                        r.offset,
                        r.key,
                        r.value,
                        tuple(r.headers or ()),
                        r.timestamp,
                        r.timestamp_type,
                    )
                    for r in rs
                )
                left -= len(rs)
        return out, time.process_time() - started
    finally:
        gc.enable()
        await consumer.stop()


def _decode_cpu_s(records: list[LogRecord]) -> float:
    decode = Codec().decode
    gc.disable()
    try:
        started = time.process_time()
        for record in records:
            decode(record.value)
        return time.process_time() - started
    finally:
        gc.enable()


async def run(count: int, seed: int) -> dict[str, Any]:
    settings = load_settings()
    bringup.start_services(settings, log=lambda line: print(line, file=sys.stderr))
    step = lambda name: print(f"accounting: {name} …", file=sys.stderr)  # noqa: E731
    lane = await new_lane(settings)
    try:
        step(f"publishing {count:,} case events and their kim.immigration events")
        expected = int(count * (1 + IMMIGRATION_SHARE))
        await measures.publish_all(lane, streamed_history(count, seed), expected=expected)
        step("in memory: getmany and Codec.decode on every record")
        records, fetch_cpu = await _fetched(lane)
        decode_cpu = _decode_cpu_s(records)
        read = len(records)
        del records
        step("yardstick: Quix Streams + fastavro decode")
        quix_rate, quix = await asyncio.to_thread(yardsticks.quix, lane, "decode", read)
        step("the plain rebuild, one process")
        plain, plain_usage = await replay.metered(lane, 1, "plain")
        step("the accounted rebuild, one process")
        url = await lane.database("accounted")
        with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
            accounted = await asyncio.wrap_future(pool.submit(_accounted, lane.kafka, url, lane.prefix))
    finally:
        await lane.drop()
    return {
        "case_events": count,
        "seed": seed,
        "started": datetime.now(UTC).isoformat(),
        "records": read,
        "fetch_cpu_s": fetch_cpu,
        "decode_cpu_s": decode_cpu,
        "quix_decode": {"rate_per_s": quix_rate, "cpu_s": quix["python_cpu_s"][0]},
        "plain_rebuild": {"rate_per_s": plain.rate, **plain_usage},
        "accounted_rebuild": accounted,
    }


def stages(results: dict[str, Any]) -> list[tuple[str, float]]:
    """The accounted rebuild's CPU split into stages, µs per log record; the last one is the remainder."""
    accounted = results["accounted_rebuild"]
    per = 1e6 / accounted["read"]
    timed = dict(accounted["stages_cpu_s"])
    decode = results["decode_cpu_s"]
    fetch = results["fetch_cpu_s"]
    out = [("fetch: getmany + LogRecord (in memory)", fetch * per), ("decode: Codec.decode (in memory)", decode * per)]
    out.append(("judge: prepare_many less decode", (timed.pop(DECODE_JUDGE, 0.0) - decode) * per))
    out.extend((stage, cpu * per) for stage, cpu in sorted(timed.items()))
    out.append(("database edge and event loop: the rest", accounted["cpu_s"] * per - sum(us for _, us in out)))
    return out


def summary(results: dict[str, Any]) -> str:
    read = results["records"]
    total = 1e6 * results["accounted_rebuild"]["cpu_s"] / results["accounted_rebuild"]["read"]
    rows = [[stage, f"{us:.1f}", f"{us / total:.0%}"] for stage, us in stages(results)]
    plain = results["plain_rebuild"]
    quix = results["quix_decode"]
    rows.append(["= the accounted rebuild's python process", f"{total:.1f}", "100%"])
    rows.append(["the plain rebuild's python process", f"{1e6 * plain['python_cpu_s'][0] / read:.1f}", ""])
    rows.append(["  its PostgreSQL backends", f"{1e6 * plain['postgres_cpu_s'] / read:.1f}", ""])
    broker = plain["kafka_broker_cpu_s"]
    rows.append(["  the broker", "n/a" if broker is None else f"{1e6 * broker / read:.1f}", ""])
    rows.append(["yardstick: Quix Streams + fastavro, its process", f"{1e6 * quix['cpu_s'] / read:.1f}", ""])
    title = (
        f"{results['case_events']:,} case events, {read:,} log records; plain rebuild {plain['rate_per_s']:,.0f}/s, "
        f"Quix + fastavro {quix['rate_per_s']:,.0f}/s ({plain['rate_per_s'] / quix['rate_per_s']:.2f}x)"
    )
    return title + "\n" + text_table(["CPU per log record", "µs", "share"], rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.accounting", description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=EVENTS, help="case events in the history")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--out", type=Path, default=None, help="results JSON (default results/accounting-<time>.json)")
    args = parser.parse_args(argv)
    if args.events < 10:
        print("error: --events must be at least 10", file=sys.stderr)
        return 1
    return run_and_report(lambda: asyncio.run(run(args.events, args.seed)), summary, "accounting", args.out)


if __name__ == "__main__":
    sys.exit(main())
