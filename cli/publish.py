"""`kim publish FILE.jsonl`: publish a file of events, one JSON object a line, as each line's agency.

Line format: ``{"agency": "JOBCENTER", "event_type": "CaseOpened", "occurred_at": "2025-03-01T10:00:00Z",
"payload": {...}}`` (plus optional ``correlation_id`` / ``causation_id``); blank lines are skipped.
A rejected line never stops the rest. The order of the file is kept for each case: events of one
key from two agencies are never in flight at the same time.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import asyncpg
from aiokafka.errors import KafkaError

from cli.preflight import require_kafka
from infra import audit, db_roles
from infra.client_keys import ClientKeyStore
from infra.errors import SetupError
from infra.platform_identity import kafka_connection, platform_key
from infra.platform_secrets import Secrets
from infra.processes import run_sync
from infra.settings import Settings
from schemas import Codec, EncodeError
from schemas.errors import KimError
from schemas.sealing import client_refs
from streams.runtime.progress import Progress
from streams.sdk.draft import EventDraft, agencies
from streams.sdk.errors import DeliveryError
from streams.sdk.ordered import AFTER_FAILED, OrderedSender, Result
from streams.sdk.pool import PublisherPool
from streams.sdk.prepare import Outgoing, Preparer
from streams.sdk.publisher import TOO_LARGE, Published


@dataclass(frozen=True)
class Line:
    number: int
    agency: str
    outgoing: Outgoing


@dataclass
class Outcome:
    lines: int = 0
    accepted: int = 0
    topics: Counter[str] = field(default_factory=Counter)
    agencies: Counter[str] = field(default_factory=Counter)  # accepted lines per agency the platform spoke for
    rejected: dict[int, list[str]] = field(default_factory=dict)
    failure: str | None = None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", type=Path, help='.jsonl file; each line {"agency", "event_type", "occurred_at", …}')
    parser.add_argument("--chunk", type=int, default=2000, help="events sent per round trip (default 2000)")
    parser.add_argument("--max-errors", type=int, default=50, help="rejected lines to list (default 50, 0: all)")


def run(settings: Settings, args: argparse.Namespace) -> int:
    """Publish, print the summary; 0 when every line was accepted, 1 otherwise."""
    if args.chunk < 1:
        raise SetupError("--chunk must be at least 1")
    total = _count_lines(args.file)
    require_kafka(settings)
    started = time.monotonic()
    outcome = Outcome()
    try:
        run_sync(publish_file(settings, args.file, total, args.chunk, outcome))
    finally:  # the platform spoke for agencies: say so in the audit log, also when it stopped part-way
        run_sync(_audit(settings, args.file, outcome))
    sys.stdout.write(summary(outcome, time.monotonic() - started, args.max_errors))
    if outcome.failure:
        raise SetupError(outcome.failure)
    return 1 if outcome.rejected else 0


async def _audit(settings: Settings, path: Path, outcome: Outcome) -> None:
    details = {
        "lines": outcome.lines,
        "accepted": outcome.accepted,
        "rejected": len(outcome.rejected),
        "agencies": dict(outcome.agencies),
        "topics": dict(outcome.topics),
    }
    if outcome.failure:
        details["failure"] = outcome.failure
    url = db_roles.database_url(settings, db_roles.OPERATIONS)
    verdict = "failed" if outcome.failure else "ok"
    try:
        await audit.record_alone(url, settings.actor, "events.publish", path.name, verdict, details)
    except (OSError, TimeoutError, asyncpg.PostgresError) as why:  # never hide what was published behind this
        print(f"warning: the audit entry of this publish could not be written ({why})", file=sys.stderr)


async def publish_file(
    settings: Settings, path: Path, total: int, chunk: int, outcome: Outcome | None = None
) -> Outcome:
    """Publish the file's lines as their agencies; ``outcome`` (made when not given) counts as it goes."""
    codec = Codec()
    preparers: dict[str, Preparer] = {}
    outcome = outcome if outcome is not None else Outcome()
    progress = Progress(total, path.name, delay=1.0, unit="lines")
    pending: list[Line] = []
    number = 0
    keys = ClientKeyStore(db_roles.database_url(settings, db_roles.OPERATIONS), Secrets(settings.secrets_dir))
    kafka = kafka_connection(settings)
    pool = PublisherPool(kafka, platform_key=platform_key(kafka), topic_prefix=settings.topic_prefix, codec=codec)
    async with pool, keys:
        sender = _Sender(pool, outcome)
        for number, raw in _lines(path):
            outcome.lines += 1
            try:
                await _load_key(raw, keys)
                pending.append(_prepare(number, raw, codec, preparers, settings.topic_prefix, keys))
            except _Rejected as why:
                outcome.rejected[number] = why.reasons
            if len(pending) >= chunk:
                await sender.send(pending)
                pending = []
                if outcome.failure:
                    break
            if outcome.lines % 100 == 0:
                await asyncio.sleep(0)  # let the producer send and take acks while lines are being prepared
            progress.update(outcome.lines, f": {outcome.accepted:,} accepted, {len(outcome.rejected):,} rejected")
        if pending and not outcome.failure:
            await sender.send(pending)
        await sender.settle()
    progress.finish(summary=False)
    if outcome.failure:
        outcome.failure += f"; stopped after line {number}, later lines were not read"
    return outcome


class _Rejected(KimError):
    def __init__(self, reasons: list[str]) -> None:
        self.reasons = reasons


async def _load_key(raw: bytes, keys: ClientKeyStore) -> None:
    """Load (or make) the key of the client a line names, before it is prepared: one round trip per new client."""
    if b'"client_ref"' not in raw:
        return
    try:
        data = json.loads(raw)
        await keys.load(client_refs(data["event_type"], data["payload"]))
    except (ValueError, KeyError, TypeError, AttributeError, RecursionError):
        return  # not a well-formed line: _prepare names what is wrong


def _prepare(
    number: int, raw: bytes, codec: Codec, preparers: dict[str, Preparer], prefix: str, keys: ClientKeyStore
) -> Line:
    try:
        data = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as why:
        raise _Rejected([f"not valid UTF-8 (byte 0x{raw[why.start]:02x} at position {why.start})"]) from None
    except json.JSONDecodeError as why:
        raise _Rejected([f"not valid JSON: {why.msg} at column {why.colno}"]) from None
    except RecursionError:
        raise _Rejected(["not acceptable JSON: nested too deeply"]) from None
    if not isinstance(data, dict):
        raise _Rejected(["expected a JSON object with agency, event_type, occurred_at and payload"])
    agency = data.pop("agency", None)
    known = agencies(codec)
    if agency not in known:
        problem = "required field is missing" if agency is None else f"{agency!r} is not one of {', '.join(known)}"
        reasons = [f"agency: {problem}"]
        try:
            EventDraft.from_dict(data, codec)
        except EncodeError as error:
            reasons += error.errors
        raise _Rejected(reasons)
    if agency not in preparers:
        preparers[agency] = Preparer(agency, topic_prefix=prefix, codec=codec, keys=keys.ring)
    preparer = preparers[agency]
    try:
        return Line(number, agency, preparer.prepare(EventDraft.from_dict(data, codec)))
    except EncodeError as error:
        raise _Rejected([e.removeprefix("envelope.") for e in error.errors]) from None


class _Sender:
    """One chunk in flight while the next is prepared; counts each chunk's outcome when it settles."""

    def __init__(self, pool: PublisherPool, outcome: Outcome) -> None:
        self.pool = pool
        self.ordered = OrderedSender(pool)
        self.outcome = outcome
        self.in_flight: tuple[list[Line], asyncio.Future[list[Result]]] | None = None

    async def send(self, lines: list[Line]) -> None:
        try:
            results = await self.ordered.send([(line.agency, line.outgoing) for line in lines])
        except (KafkaError, OSError) as why:
            for line in lines:
                self.outcome.rejected[line.number] = [f"not published: cannot connect to Kafka ({why})"]
            self.outcome.failure = f"cannot connect to Kafka at {self.pool.kafka.bootstrap} ({why})"
            return
        previous, self.in_flight = self.in_flight, (lines, results)
        if previous:
            await self._count(*previous)

    async def settle(self) -> None:
        """Wait for what is still in flight."""
        if self.in_flight:
            previous, self.in_flight = self.in_flight, None
            await self._count(*previous)

    async def _count(self, lines: list[Line], results: asyncio.Future[list[Result]]) -> None:
        for line, result in zip(lines, await results, strict=True):
            if isinstance(result, Published):
                self.outcome.accepted += 1
                self.outcome.topics[result.topic] += 1
                self.outcome.agencies[line.agency] += 1
                continue
            reason = _reason(result)
            self.outcome.rejected[line.number] = [f"not published: {reason}"]
            if reason.startswith((TOO_LARGE, AFTER_FAILED)):
                continue  # this line's own problem (or its key's earlier line's): the others go on
            if self.outcome.failure is None:
                self.outcome.failure = f"Kafka did not acknowledge line {line.number} ({reason})"


def _reason(error: BaseException) -> str:
    if isinstance(error, DeliveryError):
        return error.reasons[min(error.reasons)]
    return f"{type(error).__name__}: {error}"


def summary(outcome: Outcome, seconds: float, max_errors: int) -> str:
    rate = outcome.accepted / seconds if seconds > 0 else 0.0
    topics = ", ".join(f"{n:,} to {t}" for t, n in sorted(outcome.topics.items()))
    text = f"accepted {outcome.accepted:,} of {outcome.lines:,} lines in {seconds:.1f} s ({rate:,.0f} events/s)"
    text += f": {topics}\n" if topics else "\n"
    if outcome.rejected:
        text += f"rejected {len(outcome.rejected):,} lines:\n"
        shown = sorted(outcome.rejected.items())
        limit = len(shown) if max_errors <= 0 else max_errors
        for number, reasons in shown[:limit]:
            text += "".join(f"  line {number}: {reason}\n" for reason in reasons)
        if len(shown) > limit:
            text += f"  … and {len(shown) - limit:,} more rejected lines (--max-errors 0 lists all)\n"
    return text


def _lines(path: Path) -> Iterator[tuple[int, bytes]]:
    """(line number, bytes) of every non-blank line, numbered as an editor shows them."""
    with _open(path) as f:
        for number, raw in enumerate(f, start=1):
            if raw.strip():
                yield number, raw


def _count_lines(path: Path) -> int:
    with _open(path) as f:
        return sum(1 for raw in f if raw.strip())


def _open(path: Path) -> BinaryIO:
    try:
        return open(path, "rb")
    except FileNotFoundError:
        raise SetupError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise SetupError(f"{path} is a directory; give a .jsonl file with one event per line") from None
    except PermissionError:
        raise SetupError(f"{path}: permission denied") from None
