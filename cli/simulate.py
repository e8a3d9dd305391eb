"""`kim simulate`: the event history of a synthetic Dortmund KIM network — as JSON lines, or published in order."""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, date, datetime
from datetime import time as clock_time
from pathlib import Path
from typing import Any, TextIO

from cli.preflight import require_kafka
from cli.simulate_publish import ACK_TIMEOUT, publish_simulation
from infra import audit, db_roles
from infra.client_keys import ClientKeyStore
from infra.errors import SetupError
from infra.platform_identity import kafka_connection, platform_key
from infra.platform_secrets import Secrets
from infra.processes import run_sync
from infra.settings import Settings
from simulation import SimEvent, SimulationConfig, simulate
from simulation.calendar import LOCAL
from simulation.jsonl import write_jsonl
from streams.runtime.progress import Progress
from streams.usecases.delivery import quiet_kafka_logs
from streams.usecases.publish_in_order import AgencyEvent, publish_in_order

TopicPartition = tuple[str, int]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--years", default="1", help="simulated years (default 1)")
    parser.add_argument("--seed", default="7", help="random seed; the same seed gives the same events (default 7)")
    parser.add_argument("--scale", default="1", help="share of Dortmund (default 1: the whole city)")
    parser.add_argument("--start", default="2025-01-01", help="first simulated day (default 2025-01-01)")
    parser.add_argument("--publish", action="store_true", help="publish through the SDK, each case in order")
    parser.add_argument("--out", type=Path, default=None, help="write JSON lines to FILE (default: stdout)")
    parser.add_argument(
        "--resume", action="store_true", help="with --publish: publish the rest of the same run that stopped"
    )
    parser.add_argument(
        "--ack-timeout",
        type=float,
        default=ACK_TIMEOUT,
        help=f"seconds without an acknowledgement before Kafka counts as gone (default {ACK_TIMEOUT:g})",
    )


def run(settings: Settings, args: argparse.Namespace) -> int:
    config = make_config(args.years, args.seed, args.scale, args.start)
    if args.resume and not args.publish:
        raise SetupError("--resume goes with --publish: it publishes the rest of a simulation that stopped")
    if not args.ack_timeout > 0:
        raise SetupError("--ack-timeout must be a positive number of seconds")
    return run_simulation(
        settings, config, publish=args.publish, out=args.out, resume=args.resume, ack_timeout=args.ack_timeout
    )


def _number(name: str, value: str | float, kind: type[int] | type[float]) -> Any:
    try:
        return kind(value)
    except ValueError:
        what = "a whole number" if kind is int else "a number"
        raise SetupError(f"--{name} {value!r} is not {what}") from None


def make_config(
    years: str | float, seed: str | int, scale: str | float, start: str | date, max_cases: int | None = None
) -> SimulationConfig:
    """A ``SimulationConfig`` from command-line values; ``SetupError`` naming the bad one."""
    years, seed, scale = _number("years", years, float), _number("seed", seed, int), _number("scale", scale, float)
    if isinstance(start, str):
        try:
            start = date.fromisoformat(start)
        except ValueError:
            raise SetupError(f"--start {start!r} is not a date like 2025-01-01") from None
    if max_cases is not None and max_cases < 1:
        raise SetupError("--cases must be at least 1")
    try:
        return SimulationConfig(years=years, seed=seed, scale=scale, start=start, max_cases=max_cases)
    except ValueError as why:
        raise SetupError(f"--{str(why).replace('max_cases', 'cases')}") from None


def require_past(config: SimulationConfig, now: datetime | None = None) -> None:
    """Events are recorded when published, and an event cannot be recorded before it happened."""
    end = datetime.combine(config.end, clock_time(0), LOCAL)
    if end > (now or datetime.now(UTC)):
        raise SetupError(
            f"the simulated time runs until {config.end.isoformat()}, which is not over yet; events cannot be "
            "published before they happen — choose an earlier --start or fewer --years"
        )


async def publish_events(
    settings: Settings, events: list[SimEvent], *, action: str, target: str, label: str = "publish"
) -> dict[TopicPartition, int]:
    """Publish through the SDK, one publisher per agency, each case's order kept; the next offset per partition.

    The platform speaks for the agencies here (it signs with its own key), so the run is audited as ``action``
    on ``target`` — also when it stops part-way (outcome ``failed``).
    """
    progress = Progress(len(events), label)
    outcome = "failed"
    try:
        operations = db_roles.database_url(settings, db_roles.OPERATIONS)
        async with ClientKeyStore(operations, Secrets(settings.secrets_dir)) as keys:  # seals clients
            kafka = kafka_connection(settings)
            targets = await publish_in_order(
                kafka,
                events,
                topic_prefix=settings.topic_prefix,
                progress=progress,
                client_keys=keys,
                platform_key=platform_key(kafka),
            )
        outcome = "ok"
        return targets
    finally:
        await audit_publishing(settings, action, target, outcome, events)


def simulation_target(config: SimulationConfig) -> str:
    return f"seed {config.seed}, scale {config.scale:g}, {config.start.isoformat()} to {config.end.isoformat()}"


async def audit_publishing(
    settings: Settings, action: str, target: str, outcome: str, events: Sequence[AgencyEvent]
) -> None:
    """One audit entry for events the platform published for their agencies (as operations)."""
    details = {
        "events": len(events),
        "agencies": dict(Counter(e.agency for e in events)),
        "event_types": dict(Counter(e.draft.event_type for e in events)),
    }
    url = db_roles.database_url(settings, db_roles.OPERATIONS)
    await audit.record_alone(url, settings.actor, action, target, outcome, details)


def describe(events: list[SimEvent], config: SimulationConfig) -> str:
    types = Counter(e.draft.event_type for e in events)
    agencies = len({e.agency for e in events})
    return (
        f"{len(events):,} events ({types['CaseOpened']:,} cases opened, {types['ApplicationFiled']:,} applications "
        f"filed) from {agencies} agencies, {config.start.isoformat()} to {config.end.isoformat()} "
        f"(seed {config.seed}, scale {config.scale:g})"
    )


def run_simulation(
    settings: Settings,
    config: SimulationConfig,
    publish: bool = False,
    out: Path | None = None,
    stdout: TextIO = sys.stdout,
    resume: bool = False,
    ack_timeout: float = ACK_TIMEOUT,
) -> int:
    if publish and out is not None:
        raise SetupError("choose --publish or --out FILE, not both")
    if publish:
        require_past(config)
        require_kafka(settings)
        events = list(simulate(config))
        started = time.monotonic()
        target = simulation_target(config)
        with quiet_kafka_logs():
            done = run_sync(
                publish_simulation(settings, config, events, target, resume=resume, ack_timeout=ack_timeout)
            )
        took = time.monotonic() - started
        skipped = f"; {done.skipped} of them were in the log already" if done.resumed else ""
        partitions = len(done.tally.targets)
        stdout.write(f"published {describe(events, config)} in {took:.1f} s to {partitions} partitions{skipped}\n")
        return 0
    if out is not None:
        try:
            with open(out, "w", encoding="utf-8") as file:
                started = time.monotonic()
                n = write_jsonl(simulate(config), file)
        except OSError as why:
            raise SetupError(f"cannot write {out}: {why.strerror or why}") from None
        print(
            f"wrote {n:,} events to {out} in {time.monotonic() - started:.1f} s "
            f"({config.start.isoformat()} to {config.end.isoformat()}, seed {config.seed}, scale {config.scale:g})",
            file=sys.stderr,
        )
        return 0
    try:
        write_jsonl(simulate(config), stdout)
        stdout.flush()
    except BrokenPipeError:  # `kim simulate | head`: the reader has seen enough
        os.dup2(os.open(os.devnull, os.O_WRONLY), stdout.fileno())  # no second error when Python flushes at exit
    return 0
