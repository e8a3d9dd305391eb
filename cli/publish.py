"""`kim publish FILE.jsonl`: publish a file of events, one JSON object a line, as each line's agency.

Line format: ``{"agency": "JOBCENTER", "event_type": "CaseOpened", "occurred_at": "2025-03-01T10:00:00Z",
"payload": {...}}`` (plus optional ``correlation_id`` / ``causation_id``); blank lines are skipped.
A rejected line never stops the rest. The order of the file is kept for each case: events of one
key from two agencies are never in flight at the same time (``streams.usecases.delivery``).

When Kafka stops acknowledging or PostgreSQL goes away, it stops with one ``error:`` line: exactly how many
lines the broker acknowledged, how many are left, and the command that resumes (``--resume``), which publishes
what is not in the log yet and nothing twice (``streams.usecases.resumable_publish``).
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import BinaryIO

import asyncpg

from cli.preflight import require_kafka
from infra import audit, db_roles
from infra.client_keys import ClientKeyStore, KeyStoreUnavailable
from infra.errors import SetupError
from infra.platform_identity import kafka_connection, platform_key
from infra.platform_secrets import Secrets
from infra.processes import run_sync
from infra.settings import Settings
from schemas import Codec, EncodeError, load_catalog
from schemas.errors import KimError
from schemas.sealing import client_refs
from streams.runtime.progress import Progress
from streams.sdk.draft import EventDraft, agencies
from streams.sdk.prepare import Preparer
from streams.usecases.delivery import Delivery, DeliveryStopped, Item, Tally, quiet_kafka_logs
from streams.usecases.publish_progress import file_digest, progress_path
from streams.usecases.resumable_publish import Resumable, open_run, stopped_message

ACK_TIMEOUT = 30.0


@dataclass
class Outcome:
    lines: int = 0
    accepted: int = 0
    skipped: int = 0  # on a resume: lines found in the log already (published by the run that stopped)
    skipped_text: str = ""  # the same, saying how many of them were never acknowledged
    topics: Counter[str] = field(default_factory=Counter)
    agencies: Counter[str] = field(default_factory=Counter)  # accepted lines per agency the platform spoke for
    rejected: dict[int, list[str]] = field(default_factory=dict)
    started: bool = False  # the run began (a refused --resume publishes nothing and is not audited)
    resumed: bool = False
    failure: str | None = None  # the one line of a run that stopped part-way

    def add(self, tally: Tally) -> None:
        self.accepted = tally.acked
        self.topics, self.agencies = tally.topics, tally.agencies
        for number, reason in tally.refused.items():
            self.rejected[number] = [f"not published: {reason}"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", type=Path, help='.jsonl file; each line {"agency", "event_type", "occurred_at", …}')
    parser.add_argument("--chunk", type=int, default=2000, help="lines read and sent per window (default 2000)")
    parser.add_argument("--max-errors", type=int, default=50, help="rejected lines to list (default 50, 0: all)")
    parser.add_argument(
        "--resume", action="store_true", help="publish the rest of a publish of FILE that stopped, nothing twice"
    )
    parser.add_argument(
        "--ack-timeout",
        type=float,
        default=ACK_TIMEOUT,
        help=f"seconds without an acknowledgement before Kafka counts as gone (default {ACK_TIMEOUT:g})",
    )


def run(settings: Settings, args: argparse.Namespace) -> int:
    """Publish, print the summary; 0 when every line was accepted, 1 otherwise."""
    if args.chunk < 1:
        raise SetupError("--chunk must be at least 1")
    if not args.ack_timeout > 0:
        raise SetupError("--ack-timeout must be a positive number of seconds")
    total = _count_lines(args.file)
    require_kafka(settings)
    started = time.monotonic()
    outcome = Outcome()
    try:
        with quiet_kafka_logs():
            run_sync(publish_file(settings, args.file, total, args.chunk, outcome, args.resume, args.ack_timeout))
    finally:  # the platform spoke for agencies: say so in the audit log, also when it stopped part-way
        unaudited = run_sync(_audit(settings, args.file, outcome)) if outcome.started else None
    sys.stdout.write(summary(outcome, time.monotonic() - started, args.max_errors))
    if outcome.failure:
        raise SetupError(outcome.failure + (f" ({unaudited})" if unaudited else ""))
    if unaudited:
        print(f"warning: {unaudited}", file=sys.stderr)
    return 1 if outcome.rejected else 0


def resume_command(path: Path, ack_timeout: float = ACK_TIMEOUT) -> str:
    timeout = "" if ack_timeout == ACK_TIMEOUT else f" --ack-timeout {ack_timeout:g}"
    return f"kim publish {shlex.quote(str(path.resolve()))} --resume{timeout}"


async def _audit(settings: Settings, path: Path, outcome: Outcome) -> str | None:
    """Record the publish; the problem when the entry could not be written (never hide what was published)."""
    details: dict[str, object] = {
        "lines": outcome.lines,
        "accepted": outcome.accepted,
        "rejected": len(outcome.rejected),
        "agencies": dict(outcome.agencies),
        "topics": dict(outcome.topics),
    }
    if outcome.resumed:
        details["resumed"] = True
        details["already_in_the_log"] = outcome.skipped
    if outcome.failure:
        details["failure"] = outcome.failure
    url = db_roles.database_url(settings, db_roles.OPERATIONS)
    verdict = "failed" if outcome.failure else "ok"
    try:
        await audit.record_alone(url, settings.actor, "events.publish", path.name, verdict, details)
    except (OSError, TimeoutError, asyncpg.PostgresError) as why:
        return f"the audit entry of this publish could not be written ({why})"
    return None


async def publish_file(
    settings: Settings,
    path: Path,
    total: int,
    chunk: int,
    outcome: Outcome | None = None,
    resume: bool = False,
    ack_timeout: float = ACK_TIMEOUT,
) -> Outcome:
    """Publish the file's lines as their agencies, window by window; ``outcome`` (made when not given) counts as
    it goes. When Kafka or PostgreSQL goes away, ``outcome.failure`` says how far it got and how to resume."""
    outcome = outcome if outcome is not None else Outcome()
    kafka = kafka_connection(settings)
    where = path.resolve()
    command = resume_command(path, ack_timeout)
    topics = sorted(settings.topic(t) for t in load_catalog().topics())
    source = {"file": str(where), "sha256": file_digest(where)}
    file_run = progress_path(settings.run_dir, "file", str(where), settings.topic_prefix)
    run = await open_run(kafka, file_run, source, total, topics, resume=resume, what=str(where), resume_command=command)
    outcome.started, outcome.resumed = True, run.resumed
    skip = run.in_log(number for number, _ in _lines(path)) if run.resumed else set()
    outcome.skipped, outcome.skipped_text = run.skipped, run.skipped_text()
    progress = Progress(total - len(skip), path.name, delay=1.0, unit="lines")
    keys = ClientKeyStore(db_roles.database_url(settings, db_roles.OPERATIONS), Secrets(settings.secrets_dir))
    delivery = Delivery(
        kafka, platform_key=platform_key(kafka), topic_prefix=settings.topic_prefix, timeout=ack_timeout
    )
    preparers: dict[str, Preparer] = {}
    try:
        async with keys, delivery:
            for window in _windows(_lines(path), chunk):
                outcome.lines += len(window)
                todo = [(number, raw) for number, raw in window if number not in skip]
                await _send_window(todo, run, keys, delivery, outcome, preparers, settings.topic_prefix)
                run.checkpoint(delivery.tally.acked)
                outcome.add(delivery.tally)
                progress.update(progress.done + len(todo), _detail(outcome))
    except (DeliveryStopped, KeyStoreUnavailable) as why:
        outcome.add(delivery.tally)
        run.checkpoint(delivery.tally.acked)
        refused = len(outcome.rejected)
        outcome.failure = stopped_message(str(why), run, outcome.accepted, refused, total, "lines", command)
    else:
        run.finish()
    finally:
        run.release()
        progress.finish(summary=False)
    return outcome


async def _send_window(
    todo: list[tuple[int, bytes]],
    run: Resumable,
    keys: ClientKeyStore,
    delivery: Delivery,
    outcome: Outcome,
    preparers: dict[str, Preparer],
    prefix: str,
) -> None:
    """Prepare the lines (their clients' keys loaded in one round trip), send what is valid."""
    await keys.load([ref for _, raw in todo for ref in _client_refs(raw)])
    items = []
    for number, raw in todo:
        try:
            items.append(_prepare(number, raw, delivery.codec, preparers, prefix, keys, run.event_id(number)))
        except _Rejected as why:
            outcome.rejected[number] = why.reasons
    await delivery.deliver(items)


def _detail(outcome: Outcome) -> str:
    return f": {outcome.accepted:,} accepted, {len(outcome.rejected):,} rejected"


def _windows(lines: Iterator[tuple[int, bytes]], size: int) -> Iterator[list[tuple[int, bytes]]]:
    while window := list(islice(lines, size)):
        yield window


class _Rejected(KimError):
    def __init__(self, reasons: list[str]) -> None:
        self.reasons = reasons


def _client_refs(raw: bytes) -> list[str]:
    """The pseudonyms a line's event seals (their keys are loaded, or made, per window in one round trip)."""
    if b'"client_ref"' not in raw:
        return []
    try:
        data = json.loads(raw)
        return client_refs(data["event_type"], data["payload"])
    except (ValueError, KeyError, TypeError, AttributeError, RecursionError):
        return []  # not a well-formed line: _prepare names what is wrong


def _prepare(
    number: int,
    raw: bytes,
    codec: Codec,
    preparers: dict[str, Preparer],
    prefix: str,
    keys: ClientKeyStore,
    event_id: str,
) -> Item:
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
        return Item(number, agency, preparer.prepare(EventDraft.from_dict(data, codec), event_id=event_id))
    except EncodeError as error:
        raise _Rejected([e.removeprefix("envelope.") for e in error.errors]) from None


def summary(outcome: Outcome, seconds: float, max_errors: int) -> str:
    rate = outcome.accepted / seconds if seconds > 0 else 0.0
    topics = ", ".join(f"{n:,} to {t}" for t, n in sorted(outcome.topics.items()))
    text = f"accepted {outcome.accepted:,} of {outcome.lines:,} lines in {seconds:.1f} s ({rate:,.0f} events/s)"
    if outcome.resumed:
        text += f"; {outcome.skipped_text} were in the log already"
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
