"""Yardsticks the platform does not control, measured on the lane's own topics (kim.cases + kim.immigration).

- getmany alone: aiokafka fetches every record and decodes nothing — the client's floor.
- getmany + fastavro: ``schemaless_reader`` with the writer schema the record's fingerprint names — the
  reference decode ceiling of any Python reader of these bytes.
- getmany + ``Codec.decode``: the platform's codec on the same fetch, next to the reference.
- Quix Streams doing nothing, and Quix Streams + the same fastavro decode: another stream processor's
  floor on the same records (librdkafka underneath), each in its own process so its CPU is its own.

Each row reports its wall rate and what it cost (``benchmarks.usage``); the platform's rows are
compared with these, not only with its own reference lines.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fastavro import schemaless_reader

from benchmarks.lanes import BenchLane
from benchmarks.measures import REPO, consume_all, lane_env
from benchmarks.usage import Meter
from schemas import Codec
from schemas.codec import HEADER_SIZE, MAGIC
from schemas.topics import CASES, IMMIGRATION

TOPICS = (CASES, IMMIGRATION)
Decode = Callable[[bytes], Any]


def fastavro_decoder(codec: Codec | None = None) -> Decode:
    """Decode a single-object message with fastavro alone: the writer schema by fingerprint, no resolution."""
    codec = codec or Codec()
    writers = {fp: codec.writer_schema(fp).parsed for fp in codec.writer_types()}

    def decode(message: bytes) -> Any:
        if message[:2] != MAGIC:
            raise ValueError("not an Avro single-object message")
        return schemaless_reader(io.BytesIO(message[HEADER_SIZE:]), writers[message[2:HEADER_SIZE]], None)

    return decode


async def fetch_row(lane: BenchLane, decode: Decode | None) -> tuple[float, dict[str, Any]]:
    """getmany over both topics with ``decode`` per record (None: nothing at all); (records/s, usage)."""
    with Meter(lane.settings) as meter:
        records, seconds = await consume_all(lane, TOPICS, decode)
    rate = records / seconds
    return rate, meter.usage(records, rate)


async def fetch_rows(lane: BenchLane) -> dict[str, tuple[float, dict[str, Any]]]:
    """The three getmany rows, one after the other on the same records."""
    codec = Codec()
    return {
        "getmany_only": await fetch_row(lane, None),
        "fastavro_ceiling": await fetch_row(lane, fastavro_decoder(codec)),
        "codec_ceiling": await fetch_row(lane, codec.decode),
    }


def quix(lane: BenchLane, kind: str, records: int, timeout: float = 600) -> tuple[float, dict[str, Any]]:
    """A Quix Streams app (``benchmarks.quix_app``) in its own process until it has seen ``records``.

    The rate and the Python CPU are the child's own from its first record to its last; its whole life
    (imports, group join, shutdown) is in ``python_cpu_total_s`` from the child's rusage, its peak memory in
    ``peak_rss_mb``.
    """
    with tempfile.TemporaryDirectory() as tmp, Meter(lane.settings) as meter:
        result, log = Path(tmp) / "result.json", Path(tmp) / "quix.log"
        env = lane_env(
            lane,
            BENCH_TOPICS=",".join(lane.topic(t) for t in TOPICS),
            BENCH_EVENTS=str(records),
            BENCH_RESULT=str(result),
            BENCH_GROUP=f"{lane.prefix}quix-{kind}-{uuid.uuid4().hex[:8]}",
            BENCH_STATE_DIR=str(Path(tmp) / "state"),
            PYTHONPATH=str(REPO),
        )
        with open(log, "wb") as out:
            process = subprocess.Popen(
                [sys.executable, "-m", "benchmarks.quix_app", kind], env=env, cwd=tmp, stdout=out, stderr=out
            )
        status, rusage = _wait(process, timeout)
        if status != 0 or not result.exists():
            raise RuntimeError(f"quix {kind} app failed (status {status}):\n{log.read_text()[-2000:]}")
        measured = json.loads(result.read_text())
    rate = measured["events"] / measured["seconds"]
    usage = meter.usage(measured["events"], rate, [measured["cpu_s"]], measured["gc_collections"])
    whole_life = {"python_cpu_total_s": rusage.ru_utime + rusage.ru_stime, "peak_rss_mb": measured["peak_rss_mb"]}
    return rate, {**usage, **whole_life}


def _wait(process: subprocess.Popen, timeout: float) -> tuple[int, Any]:
    """Reap the child with ``os.wait4`` (its exit status and rusage); kill it after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        pid, status, rusage = os.wait4(process.pid, os.WNOHANG)
        if pid:
            process.returncode = os.waitstatus_to_exitcode(status)
            return process.returncode, rusage
        if time.monotonic() > deadline:
            process.kill()
        time.sleep(0.05)
