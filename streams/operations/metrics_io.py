"""The HTTP edge of a worker's metrics: ``GET /metrics`` on 127.0.0.1, served inside the worker's event loop.

Counters come from the worker itself; the gauges (lag, freshness, dead letters, rebuilds) are read
from Kafka and PostgreSQL at scrape time, at most every ``REFRESH_SECONDS`` (the dead-letter count,
which reads the topic, at most every ``DLQ_REFRESH_SECONDS``, only what was added since). A failing
read never fails the scrape: the last values are served with ``kim_state_read_ok 0``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Mapping

import asyncpg
from aiohttp import web

from streams.kafka.connection import KafkaConnection
from streams.operations.health import PartitionState, Rebuild, partition_states
from streams.operations.health_io import LogReader, read_checkpoints, read_rebuilds
from streams.operations.metrics import WorkerMetrics, render, state_families

log = logging.getLogger("kim.metrics")
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
REFRESH_SECONDS = 2.0
DLQ_REFRESH_SECONDS = 30.0
READ_TIMEOUT_SECONDS = 10.0


class MetricsServer:
    def __init__(
        self,
        metrics: WorkerMetrics,
        port: int,
        kafka: KafkaConnection,
        database_url: str,
        source_partitions: Mapping[str, int],
        dlq_topic: str,
        dlq_partitions: int,
    ) -> None:
        self.metrics = metrics
        self.port = port
        self.kafka = kafka
        self.database_url = database_url
        self.source_partitions = dict(source_partitions)
        self.dlq_topic = dlq_topic
        self.dlq_partitions = dlq_partitions
        self._runner: web.AppRunner | None = None
        self._reader: LogReader | None = None
        self._conn: asyncpg.Connection | None = None
        self._lock = asyncio.Lock()
        self._read_at = -1e9
        self._dlq_read_at = -1e9
        self._partitions: tuple[PartitionState, ...] = ()
        self._rebuilds: list[Rebuild] = []
        self._dead_letters: int | None = None
        self._read_ok = False
        self._last_error = ""

    async def start(self) -> bool:
        """Listen on 127.0.0.1:port; a port already taken logs one line and the worker runs on without metrics."""
        app = web.Application()
        app.router.add_get("/metrics", self._handle)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        try:
            await web.TCPSite(runner, "127.0.0.1", self.port).start()
        except OSError as why:
            await runner.cleanup()
            log.error(
                "%s: no metrics: cannot listen on 127.0.0.1:%d (%s); the worker runs on without them "
                "(set KIM_METRICS_PORT to a free base port, or 0 to turn metrics off)",
                self.metrics.projection,
                self.port,
                why.strerror or why,
            )
            return False
        self._runner = runner
        log.warning("%s: metrics on http://127.0.0.1:%d/metrics", self.metrics.projection, self.port)
        return True

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self._reader is not None:
            await self._reader.stop()
            self._reader = None
        if self._conn is not None:
            await self._conn.close()
            self._conn = None

    async def _handle(self, _request: web.Request) -> web.Response:
        return web.Response(body=(await self.text()).encode(), headers={"Content-Type": CONTENT_TYPE})

    async def text(self) -> str:
        await self._refresh()
        state = state_families(
            self.metrics.projection,
            [p for p in self._partitions if (p.topic, p.partition) in self.metrics.assigned],
            self._dead_letters,
            self._rebuilds,
            self._read_ok,
        )
        return render([*self.metrics.families(), *state])

    async def _refresh(self) -> None:
        async with self._lock:
            now = time.monotonic()
            if now - self._read_at < REFRESH_SECONDS:
                return
            self._read_at = now
            try:
                await asyncio.wait_for(self._read(), READ_TIMEOUT_SECONDS)
                self._read_ok = True
                self._last_error = ""
            except Exception as why:  # the metrics edge must never take the worker down
                self._read_ok = False
                self._note(f"offsets/checkpoints not read: {why!r}")
                await self._reset()
                return
            if now - self._dlq_read_at >= DLQ_REFRESH_SECONDS:
                self._dlq_read_at = now
                try:
                    assert self._reader is not None
                    letters = await self._reader.count_dead_letters(
                        self.dlq_topic, self.dlq_partitions, timeout=READ_TIMEOUT_SECONDS
                    )
                    self._dead_letters = letters.get(self.metrics.projection, 0)
                except Exception as why:  # a partial count continues on the next scrape
                    self._dlq_read_at = -1e9
                    self._note(f"dead letters not counted yet: {why!r}")

    async def _read(self) -> None:
        if self._reader is None:
            reader = LogReader(self.kafka)
            await reader.start()
            self._reader = reader
        if self._conn is None:
            self._conn = await asyncpg.connect(
                self.database_url,
                timeout=5,
                server_settings={"application_name": f"kim-metrics-{self.metrics.projection}"},
            )
        ends = await self._reader.end_offsets(self.source_partitions)
        seen = await read_checkpoints(self._conn, self.metrics.projection)
        self._rebuilds = await read_rebuilds(self._conn, self.metrics.projection)
        self._partitions = partition_states(ends, seen, self.source_partitions)

    async def _reset(self) -> None:
        """Drop connections after a failed read; the next scrape opens new ones."""
        reader, conn, self._reader, self._conn = self._reader, self._conn, None, None
        for close in ((reader.stop,) if reader else ()) + ((conn.close,) if conn else ()):
            with contextlib.suppress(Exception):  # already broken
                await close()

    def _note(self, message: str) -> None:
        if message != self._last_error:  # one line per new problem, not one per scrape
            log.warning("%s: metrics: %s", self.metrics.projection, message)
            self._last_error = message
