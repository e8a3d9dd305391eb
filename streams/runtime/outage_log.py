"""The logging glue of ``outage.py``: fold the clients' connection errors into one line per state change.

aiokafka and faust log every failed connection attempt (20–70 ERROR lines a second while a broker is down),
asyncpg's pool a traceback whenever it cannot reopen its connection. ``FoldConnectionErrors`` sits on the
worker's log handlers: a record of those libraries that ``connection_error`` recognises is counted as a failed
attempt of Kafka or PostgreSQL and dropped; every other record goes through unchanged. ``OutageReport`` keeps
one ``Outage`` per service and writes the lines it returns to the ``kim.outage`` logger; the record loop and
the worker also tell it when a service failed or answered.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from datetime import datetime

import asyncpg
from aiokafka.errors import KafkaConnectionError, KafkaTimeoutError, NodeNotReadyError, RequestTimedOutError

from streams.runtime.outage import Line, Outage

KAFKA = "Kafka"
POSTGRES = "PostgreSQL"

KAFKA_LOGGERS = ("aiokafka", "faust", "mode")  # the libraries whose connection errors are folded
DATABASE_LOGGERS = ("asyncpg",)
CLIENT_LOGGERS = KAFKA_LOGGERS + DATABASE_LOGGERS

# PostgreSQL is not there (rather than refusing a statement): a server shutting down or starting up answers
# with an OperatorInterventionError before the connection drops.
DATABASE_GONE: tuple[type[BaseException], ...] = (
    TimeoutError,
    OSError,
    asyncpg.InterfaceError,
    asyncpg.PostgresConnectionError,
    asyncpg.OperatorInterventionError,
)

# Kafka is not there (rather than refusing a request): what a producer raises while no broker answers.
KAFKA_GONE: tuple[type[BaseException], ...] = (
    KafkaConnectionError,
    KafkaTimeoutError,
    NodeNotReadyError,
    RequestTimedOutError,
)

# What the Kafka clients say when the broker cannot be reached (seen in worker logs while a broker was down).
_CONNECTION_SIGNS = (
    "unable connect to node",
    "unable to update metadata",
    "unable to request metadata",
    "nodenotreadyerror",
    "kafkaconnectionerror",
    "connect call failed",
    "connection reset",
    "connection refused",
    "marking the coordinator dead",
    "coordinator dead",
    "group coordinator request failed",
    "heartbeat failed",
    "heartbeat send request failed",
    "heartbeat session expired",
    "requesttimedouterror",
    "kafkatimeouterror",
    "coordinator not available",
    "groupcoordinatornotavailable",
)
_REASON_CHARS = 160


def connection_error(logger: str, message: str, error: BaseException | None = None) -> tuple[str, str] | None:
    """Which service (``KAFKA`` or ``POSTGRES``) and why, when this record of a client library (with the exception
    it carries, if any) says a connection failed; else None."""
    if logger.startswith(KAFKA_LOGGERS):
        lowered = message.lower()
        if any(sign in lowered for sign in _CONNECTION_SIGNS):
            return KAFKA, _short(message)
    elif logger.startswith(DATABASE_LOGGERS) and isinstance(error, DATABASE_GONE):
        return POSTGRES, _short(f"{type(error).__name__}: {error}")
    return None


def _short(text: str) -> str:
    first = text.strip().splitlines()[0] if text.strip() else text
    return first if len(first) <= _REASON_CHARS else first[: _REASON_CHARS - 1] + "…"


class OutageReport:
    """The outages of Kafka and PostgreSQL as one worker sees them; safe to call from any thread (aiokafka logs
    from faust's consumer thread)."""

    def __init__(
        self,
        log: logging.Logger | None = None,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], datetime] = lambda: datetime.now().astimezone(),
    ) -> None:
        self.log = log or logging.getLogger("kim.outage")
        self.clock = clock
        self.wall = wall
        self._lock = threading.Lock()
        self._outages = {KAFKA: Outage(KAFKA), POSTGRES: Outage(POSTGRES)}

    def failed(self, service: str, reason: str) -> None:
        with self._lock:
            lines = self._outages[service].failed(self.clock(), self.wall(), reason)
        self._write(lines)

    def succeeded(self, service: str) -> None:
        outage = self._outages[service]
        if not outage.down:  # the common case, many times a second: no lock
            return
        with self._lock:
            lines = outage.succeeded(self.clock())
        self._write(lines)

    def tick(self) -> None:
        with self._lock:
            now = self.clock()
            lines = [line for outage in self._outages.values() for line in outage.tick(now)]
        self._write(lines)

    def down(self, service: str) -> bool:
        return self._outages[service].down

    def _write(self, lines: Iterable[Line]) -> None:
        for line in lines:
            self.log.log(line.level, line.text)


class FoldConnectionErrors(logging.Filter):
    """A handler filter: the clients' connection errors become failed attempts in ``report``, not lines."""

    def __init__(self, report: OutageReport) -> None:
        super().__init__()
        self.report = report

    def filter(self, record: logging.LogRecord) -> bool:
        if not record.name.startswith(CLIENT_LOGGERS):
            return True
        if getattr(record, "kim_folded", False):  # a second handler sees the same record: count it once
            return False
        error = record.exc_info[1] if record.exc_info else None
        try:
            found = connection_error(record.name, record.getMessage(), error)
        except Exception:  # a record whose arguments do not format: not ours to judge
            return True
        if found is None:
            return True
        record.kim_folded = True
        self.report.failed(*found)
        return False


def install(report: OutageReport, logger: logging.Logger | None = None) -> FoldConnectionErrors:
    """Put the filter on every handler of ``logger`` (the root logger: the worker's log file)."""
    fold = FoldConnectionErrors(report)
    for handler in (logger or logging.getLogger()).handlers:
        handler.addFilter(fold)
    return fold
