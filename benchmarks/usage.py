"""What a benchmark row cost, besides its wall rate: CPU seconds per process, load average, garbage collections.

A rate alone hides where the time went: on a shared two-core machine a row can be slow because the
PostgreSQL backends or the broker were busy, or because another job held a core. So each metered row
also reports the CPU seconds of the Python process(es) doing the work, of the PostgreSQL backends
serving its database (their pids from ``pg_stat_activity``, polled while the row runs), and of the Kafka
broker; the load average at its start and end; and the garbage collections its Python process ran.

CPU comes from ``/proc/<pid>/stat`` (utime + stime, clock ticks: 10 ms resolution), so both servers must
run on this machine. A backend that exits between two polls loses at most one poll interval of CPU.
"""

from __future__ import annotations

import asyncio
import gc
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import asyncpg

from infra import kafka_broker
from infra.settings import Settings

POLL_S = 0.05
TICK_S = 1.0 / os.sysconf("SC_CLK_TCK")


def process_cpu_s(pid: int) -> float | None:
    """User + system CPU seconds of a process (all its threads), or None once it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii")
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    fields = stat[stat.rindex(")") + 2 :].split()  # the command name may hold spaces; fields start at state (3)
    return (int(fields[11]) + int(fields[12])) * TICK_S  # utime (14), stime (15)


def peak_rss_mb(pid: int | str = "self") -> float:
    """A process's peak resident memory (``VmHWM``), in MB; 0 if it is gone.

    Not ``getrusage``'s ``ru_maxrss``: Linux carries that across ``fork`` + ``exec``, so a process spawned by one
    holding 2 GB reports 2 GB however little it uses itself. ``VmHWM`` belongs to the process's own address space."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except (FileNotFoundError, ProcessLookupError):
        pass
    return 0.0


def gc_collections() -> list[int]:
    """Collections so far per generation, to take a row's delta."""
    return [generation["collections"] for generation in gc.get_stats()]


def gc_delta(before: list[int]) -> list[int]:
    return [now - then for now, then in zip(gc_collections(), before, strict=True)]


def database_name(url: str) -> str:
    return urlsplit(url).path.lstrip("/")


class BackendSampler:
    """Polls ``pg_stat_activity`` for one database's backends in a thread and keeps each one's last CPU reading.

    A thread, not a task, so the measured event loop does not schedule it; its own CPU is measured
    (``thread_cpu_s``) and taken off the measured process's CPU.
    """

    def __init__(self, admin_url: str, database: str) -> None:
        self.admin_url, self.database = admin_url, database
        self.first: dict[int, float] = {}  # pid -> CPU when first seen (0 for backends started after the start)
        self.last: dict[int, float] = {}
        self.thread_cpu_s = 0.0
        self.ignored: set[int] = set()  # backends not counted (a benchmark's own polling connection)
        self._ready, self._stop = threading.Event(), threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="pg-backend-sampler", daemon=True)

    def start(self) -> None:
        self._thread.start()
        self._ready.wait(30)
        if self._error is not None:
            raise self._error

    def stop(self) -> float:
        """Stop polling; the CPU seconds the database's backends spent since ``start``."""
        self._stop.set()
        self._thread.join(30)
        if self._error is not None:
            raise self._error
        return self.spent()

    def spent(self) -> float:
        """The CPU seconds the database's backends spent from ``start`` to the last poll (a row that times only
        part of its span takes the difference of two readings)."""
        last = dict(self.last)  # the polling thread adds backends as they come
        return sum(cpu - self.first.get(pid, 0.0) for pid, cpu in last.items() if pid not in self.ignored)

    def _run(self) -> None:
        started = time.thread_time()
        try:
            asyncio.run(self._poll())
        except BaseException as exc:  # reported by start/stop in the measuring thread
            self._error = exc
            self._ready.set()
        self.thread_cpu_s = time.thread_time() - started

    async def _poll(self) -> None:
        conn = await asyncpg.connect(self.admin_url)
        try:
            await self._sample(conn, initial=True)
            self._ready.set()
            while not self._stop.wait(POLL_S):
                await self._sample(conn, initial=False)
            await self._sample(conn, initial=False)
        finally:
            await conn.close()

    async def _sample(self, conn: asyncpg.Connection, initial: bool) -> None:
        pids = await conn.fetch("SELECT pid FROM pg_stat_activity WHERE datname = $1", self.database)
        for row in pids:
            cpu = process_cpu_s(row["pid"])
            if cpu is None:
                continue
            self.first.setdefault(row["pid"], cpu if initial else 0.0)  # a fresh backend's counters start at 0
            self.last[row["pid"]] = cpu


def broker_pids(settings: Settings) -> list[int]:
    """The local cluster's node pids (as ``kim up`` records them); none when Kafka is not this machine's."""
    return list(kafka_broker.running_nodes(settings).values()) if settings.local_kafka else []


def brokers_cpu_s(pids: list[int]) -> float | None:
    """CPU seconds of all these broker processes together (None when none can be read)."""
    readings = [cpu for pid in pids if (cpu := process_cpu_s(pid)) is not None]
    return sum(readings) if readings else None


@dataclass
class Meter:
    """Meters one row: ``with Meter(...) as meter: …`` then ``meter.usage(records, …)``.

    The Python CPU is this process's unless the row hands in its worker processes' own (``python_cpu_s``).
    """

    settings: Settings
    database_url: str | None = None
    readings: dict[str, Any] = field(default_factory=dict)

    def __enter__(self) -> Meter:
        self._sampler = None
        if self.database_url is not None:
            self._sampler = BackendSampler(self.settings.database_url, database_name(self.database_url))
            self._sampler.start()
        self._brokers = broker_pids(self.settings)
        self._broker_cpu = brokers_cpu_s(self._brokers)
        self._load = os.getloadavg()
        self._gc = gc_collections()
        self._cpu, self._wall = time.process_time(), time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        cpu, wall = time.process_time() - self._cpu, time.perf_counter() - self._wall
        gc_runs = gc_delta(self._gc)
        postgres = self._sampler.stop() if self._sampler else 0.0
        sampler_cpu = self._sampler.thread_cpu_s if self._sampler else 0.0
        broker_now = brokers_cpu_s(self._brokers)
        broker = broker_now - self._broker_cpu if broker_now is not None and self._broker_cpu is not None else None
        self.readings = {
            "wall_s": wall,
            "python_cpu_s": [max(0.0, cpu - sampler_cpu)],
            "postgres_cpu_s": postgres,
            "kafka_broker_cpu_s": broker,
            "loadavg_start": list(self._load),
            "loadavg_end": list(os.getloadavg()),
            "gc_collections": gc_runs,
        }

    def usage(
        self,
        records: int,
        rate: float,
        python_cpu_s: list[float] | None = None,
        gc_collections: list[int] | None = None,
    ) -> dict[str, Any]:
        """The row's readings with its records and rate; worker processes' CPU and GC replace this process's."""
        usage = {**self.readings, "records": records, "rate_per_s": rate}
        if python_cpu_s is not None:
            usage["python_cpu_s"] = python_cpu_s
        if gc_collections is not None:
            usage["gc_collections"] = gc_collections
        return usage


class FrozenHeap:
    """``with FrozenHeap() as pauses:`` the measuring process's own garbage collector stays out of a timed row.

    A benchmark process holding the whole generated history (hundreds of thousands of events) stalls its event
    loop for a full collection's traversal of it — its sends, acknowledgements and visibility polls with it — and a
    latency row would charge that to the platform. On entry everything alive is collected once and frozen
    (``gc.freeze``: later collections skip it); the collections that still run during the row are timed and
    reported (``collections``, ``total_ms``, ``max_ms``), so a pause of the measuring process can be told from the
    platform's. Unfrozen on exit.
    """

    def __init__(self) -> None:
        self.pauses: list[float] = []
        self._started = 0.0

    def __enter__(self) -> FrozenHeap:
        gc.collect()
        gc.freeze()
        gc.callbacks.append(self._clock)
        return self

    def __exit__(self, *exc: object) -> None:
        gc.callbacks.remove(self._clock)
        gc.unfreeze()

    def _clock(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self.pauses.append(time.perf_counter() - self._started)

    def summary(self) -> dict[str, float]:
        return {
            "collections": len(self.pauses),
            "total_ms": 1000 * sum(self.pauses),
            "max_ms": 1000 * max(self.pauses, default=0.0),
        }
