"""`kim demo`: bring the platform up, publish a simulated year of a scaled-down Dortmund, wait for lag 0, print."""

from __future__ import annotations

import random
import time
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta

import asyncpg

from cli import render, services
from cli.catchup import wait_caught_up
from cli.report import backlog_report, referrals_report
from cli.simulate import describe, make_config, publish_events, require_past
from infra import processes
from infra.client_keys import ClientKeyStore
from infra.errors import SetupError
from infra.settings import Settings
from projections.records import TopicPartition
from projections.registry import PROJECTIONS
from schemas.labels import label
from simulation import SimEvent, SimulationConfig, simulate
from streams.ordered_publish import AgencyEvent, publish_in_order

DEMO_START = date(2025, 1, 1)
DEMO_SCALE = 0.1  # a tenth of Dortmund: ~12,000 events a year, published and projected in seconds


async def publish(settings: Settings, events: Sequence[AgencyEvent]) -> dict[TopicPartition, int]:
    """Publish as each event's own agency, every key in order; return the next offset per partition written."""
    async with ClientKeyStore(settings.database_url) as keys:  # seals the clients of CaseOpened/ApplicationFiled
        return await publish_in_order(
            settings.kafka_bootstrap, events, topic_prefix=settings.topic_prefix, client_keys=keys
        )


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


def projection_targets(settings: Settings, projection: str, targets: dict[TopicPartition, int]) -> dict:
    """The part of ``targets`` on the topics ``projection`` reads."""
    topics = {settings.topic(t) for t in PROJECTIONS[projection].source_topics}
    return {tp: end for tp, end in targets.items() if tp[0] in topics}


def run(
    settings: Settings,
    seed: int | None = None,
    scale: float = DEMO_SCALE,
    years: float = 1.0,
    cases: int | None = None,
    timeout: float = 120.0,
) -> None:
    seed = random.randrange(2**32) if seed is None else seed
    config = make_config(years, seed, scale, DEMO_START, cases)
    require_past(config)
    services.up(settings)
    events: list[SimEvent] = list(simulate(config))
    started = time.monotonic()
    targets = processes.run_sync(publish_events(settings, events))
    print(f"published {describe(events, config)} in {time.monotonic() - started:.1f} s")
    for name in PROJECTIONS:
        try:
            took = processes.run_sync(
                wait_caught_up(
                    settings.database_url,
                    name,
                    projection_targets(settings, name, targets),
                    timeout,
                    still_running=lambda name=name: services.worker_pid(settings, name) is not None,
                )
            )
        except (TimeoutError, RuntimeError) as why:
            raise SetupError(f"{why}; see {settings.run_dir / f'worker-{name}.log'}") from None
        print(f"{name} projection caught up (lag 0) {took:.1f} s after publishing")
    print()
    by_agency, by_district = processes.run_sync(caseload_tables(settings.database_url))
    print(_render("Caseload per agency (counts 1-4 suppressed as <5)", "agency", list(by_agency)))
    print()
    print(_render("Caseload per Stadtbezirk", "district", list(by_district)))
    print()
    print(processes.run_sync(_reports(settings.database_url, config_end(config))))


def config_end(config: SimulationConfig) -> datetime:
    """The demo's "now" in event time: the end of the simulated period."""
    end = config.start + timedelta(days=round(365.25 * config.years))
    return datetime.combine(end, datetime.min.time(), tzinfo=UTC)


async def _reports(database_url: str, as_of: datetime) -> str:
    conn = await asyncpg.connect(database_url)
    try:
        return "\n\n".join([await referrals_report(conn, as_of), await backlog_report(conn, as_of)])
    finally:
        await conn.close()
