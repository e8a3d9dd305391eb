"""`kim dlq list | show | redrive`: what the projections could not apply, and re-driving it after a fix."""

from __future__ import annotations

import argparse
import json

import asyncpg

from analytics.table import table
from cli.args import iso_time
from infra import audit, db_roles
from infra.errors import SetupError
from infra.platform_identity import kafka_connection, signing_secret
from infra.processes import run_sync
from infra.settings import Settings
from projections.registry import PROJECTIONS
from schemas import Codec, DecodeError
from schemas.topics import DLQ
from streams.kafka.connection import KafkaConnection
from streams.operations.redrive import redrive
from streams.runtime.dlq import DeadLetter, LetterFilter, read_dead_letters


def add_arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    for name, text in (("list", "list dead letters (filters below)"), ("redrive", "re-apply dead letters, once each")):
        action = actions.add_parser(name, help=text)
        action.add_argument("--projection", choices=sorted(PROJECTIONS), help="only letters of this projection")
        action.add_argument("--reason", help="only letters whose reason contains this text (any case)")
        action.add_argument("--topic", help="only letters from this source topic (e.g. kim.cases)")
        action.add_argument("--since", type=iso_time, help="failed at or after this ISO time (e.g. 2026-11-01)")
        action.add_argument("--until", type=iso_time, help="failed before this ISO time")
    show = actions.add_parser("show", help="one dead letter in full, by its position PARTITION:OFFSET")
    show.add_argument("position", help="as printed by `kim dlq list`, e.g. 1:42")


def run(settings: Settings, args: argparse.Namespace) -> int:
    kafka = kafka_connection(settings)
    letters = run_sync(read_dead_letters(kafka, settings.topic(DLQ)))
    if args.action == "show":
        print(_show(_find(letters, args.position)))
        return 0
    source = settings.topic(args.topic) if args.topic else None
    wanted = LetterFilter(args.projection, args.reason, source, args.since, args.until)
    chosen = [letter for letter in letters if wanted.matches(letter)]
    if args.action == "list":
        print(_table(chosen) if chosen else "no dead letters match")
        print(f"{len(chosen)} of {len(letters)} dead letters")
        return 0
    totals = _redrive(settings, kafka, chosen, _filter_text(args))
    print(", ".join(f"{n} {what}" for what, n in totals.items()) + f" (of {len(chosen)} chosen)")
    return 0


def _redrive(settings: Settings, kafka: KafkaConnection, chosen: list[DeadLetter], filter_text: str) -> dict[str, int]:
    """Re-apply the chosen letters, projection by projection; one audit entry for the run, also when it fails."""
    totals = {"applied": 0, "failed again": 0, "already re-driven": 0}
    details: dict[str, object] = {"filter": filter_text, "chosen": len(chosen)}
    try:
        for name in sorted({letter.projection for letter in chosen}):
            if name not in PROJECTIONS:
                raise SetupError(f"dead letters name an unknown projection {name!r}; re-drive with --projection")
            result = run_sync(
                redrive(
                    kafka,
                    _url(settings),
                    PROJECTIONS[name],
                    chosen,
                    settings.topic(DLQ),
                    platform_secret=signing_secret(kafka),
                )
            )
            totals["applied"] += result.applied
            totals["failed again"] += result.failed_again
            totals["already re-driven"] += result.already_redriven
    except BaseException as why:
        _audit(settings, "failed", {**details, **totals, "error": str(why) or type(why).__name__})
        raise
    _audit(settings, "ok", {**details, **totals})
    return totals


def _url(settings: Settings) -> str:
    return db_roles.database_url(settings, db_roles.OPERATIONS)


def _filter_text(args: argparse.Namespace) -> str:
    names = ("projection", "reason", "topic", "since", "until")
    chosen = [f"--{name} {getattr(args, name)}" for name in names if getattr(args, name) is not None]
    return " ".join(chosen) or "all"


def _audit(settings: Settings, outcome: str, details: dict[str, object]) -> None:
    """One audit entry per `kim dlq redrive` run, with what it chose and what became of it."""

    async def write() -> None:
        conn = await asyncpg.connect(_url(settings), timeout=10)
        try:
            await audit.record(conn, settings.actor, "dlq.redrive", settings.topic(DLQ), outcome, details)
        finally:
            await conn.close()

    run_sync(write())


def _find(letters: list[DeadLetter], position: str) -> DeadLetter:
    for letter in letters:
        if letter.position == position:
            return letter
    raise SetupError(f"no dead letter at {position!r}; `kim dlq list` prints the positions (PARTITION:OFFSET)")


def _table(letters: list[DeadLetter]) -> str:
    rows = []
    for letter in letters:
        topic, partition, offset = letter.source
        failed = letter.failed_at.strftime("%Y-%m-%d %H:%M") if letter.failed_at else "-"
        reason = letter.reason if len(letter.reason) <= 70 else letter.reason[:67] + "..."
        rows.append(
            [
                letter.position,
                letter.projection,
                f"{topic}:{partition}:{offset}",
                letter.headers.get("kim.event_type", "-"),
                failed,
                letter.attempt,
                reason,
            ]
        )
    return table(["dlq", "projection", "source", "event", "failed at", "try", "reason"], rows)


def _show(letter: DeadLetter) -> str:
    lines = [f"dead letter {letter.position} of {letter.topic}"]
    lines += [f"  {key}: {value}" for key, value in sorted(letter.headers.items())]
    try:
        event = Codec().decode(letter.value)
    except DecodeError as why:
        lines.append(f"  body: {len(letter.value or b'')} bytes, not decodable ({why})")
    else:
        body = {"event_type": event.event_type, "envelope": event.envelope, "payload": event.payload}
        lines.append("  event: " + json.dumps(body, default=str, ensure_ascii=False, indent=2).replace("\n", "\n  "))
    return "\n".join(lines)
