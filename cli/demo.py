"""`kim demo`: bring the platform up, publish a realistic batch, wait for lag 0, print the caseload."""

from __future__ import annotations

import random
import time
from collections import defaultdict
from datetime import UTC, datetime

import asyncpg

from cli import render, services
from cli.catchup import wait_caught_up
from cli.demo_events import DemoEvent, demo_events
from infra import processes
from infra.errors import SetupError
from infra.settings import Settings
from projections.records import TopicPartition
from schemas.labels import label
from streams.publisher import Publisher


async def publish(settings: Settings, events: list[DemoEvent]) -> dict[TopicPartition, int]:
    """Publish as each event's own agency; return the next offset per partition written."""
    by_agency: dict[str, list[DemoEvent]] = defaultdict(list)
    for event in events:
        by_agency[event.agency].append(event)
    targets: dict[TopicPartition, int] = {}
    for agency, mine in by_agency.items():
        async with Publisher(settings.kafka_bootstrap, agency, topic_prefix=settings.topic_prefix) as publisher:
            for result in await publisher.publish_many(e.draft for e in mine):
                tp = (result.topic, result.partition)
                targets[tp] = max(targets.get(tp, 0), result.offset + 1)
    return targets


async def caseload_tables(database_url: str) -> tuple[list[asyncpg.Record], list[asyncpg.Record]]:
    conn = await asyncpg.connect(database_url)
    try:
        by_agency = await conn.fetch("SELECT * FROM caseload_by_agency ORDER BY open_cases DESC, agency")
        by_district = await conn.fetch("SELECT * FROM caseload_by_district ORDER BY open_cases DESC, district")
        return by_agency, by_district
    finally:
        await conn.close()


def _render(title: str, key: str, rows: list[asyncpg.Record]) -> str:
    body = [[label(r[key]), *(render.suppress(r[c]) for c in ("open_cases", "opened", "closed"))] for r in rows]
    total = [sum(r[c] for r in rows) for c in ("open_cases", "opened", "closed")]
    body.append(["total", *total])
    return f"{title}\n" + render.table([key, "open", "opened", "closed"], body)


def run(settings: Settings, cases: int = 300, seed: int | None = None, timeout: float = 120.0) -> None:
    services.up(settings)
    seed = random.randrange(2**32) if seed is None else seed
    openings, closings = demo_events(seed, cases, until=datetime.now(UTC))
    started = time.monotonic()
    targets = processes.run_sync(publish(settings, openings))
    for tp, end in processes.run_sync(publish(settings, closings)).items():
        targets[tp] = max(targets.get(tp, 0), end)
    agencies = len({e.agency for e in openings + closings})
    print(
        f"published {len(openings)} CaseOpened and {len(closings)} CaseClosed events from {agencies} agencies "
        f"(seed {seed}) in {time.monotonic() - started:.1f} s"
    )
    try:
        took = processes.run_sync(
            wait_caught_up(
                settings.database_url,
                "caseload",
                targets,
                timeout,
                still_running=lambda: services.worker_pid(settings, "caseload") is not None,
            )
        )
    except (TimeoutError, RuntimeError) as why:
        raise SetupError(f"{why}; see {settings.run_dir / 'worker-caseload.log'}") from None
    print(f"caseload projection caught up (lag 0) {took:.1f} s after publishing\n")
    by_agency, by_district = processes.run_sync(caseload_tables(settings.database_url))
    print(_render("Caseload per agency (counts 1-4 suppressed as <5)", "agency", list(by_agency)))
    print()
    print(_render("Caseload per Stadtbezirk", "district", list(by_district)))
