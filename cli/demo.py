"""`kim demo`: bring the platform up, publish a simulated year of a scaled-down Dortmund, wait for lag 0, print."""

from __future__ import annotations

import argparse
import random
import time
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import asyncpg

from analytics import queries
from analytics.render import to_table
from analytics.suppression import small_cell_max
from analytics.table import table
from cli.catchup import wait_caught_up
from cli.simulate import describe, make_config, publish_events, require_past, simulation_target
from infra import bringup, db_roles, processes
from infra.client_keys import ClientKeyStore
from infra.errors import SetupError
from infra.platform_identity import kafka_connection, platform_key
from infra.platform_secrets import Secrets
from infra.settings import Settings
from projections.records import TopicPartition
from projections.registry import PROJECTIONS
from schemas.labels import label
from simulation import SimEvent, SimulationConfig, simulate
from streams.usecases.publish_in_order import AgencyEvent, publish_in_order

DEMO_START = date(2025, 1, 1)
DEMO_SCALE = 0.1  # a tenth of Dortmund: ~12,000 events a year, published and projected in seconds


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--seed", type=int, default=None, help="random seed (default: a new one each run)")
    parser.add_argument("--scale", type=float, default=DEMO_SCALE, help="share of Dortmund to simulate (default 0.1)")
    parser.add_argument("--years", type=float, default=1.0, help="simulated years from 2025-01-01 (default 1)")
    parser.add_argument("--cases", type=int, default=None, help="stop opening cases after this many (default: no cap)")


def run(settings: Settings, args: argparse.Namespace) -> int:
    demo(settings, seed=args.seed, scale=args.scale, years=args.years, cases=args.cases)
    return 0


async def publish(settings: Settings, events: Sequence[AgencyEvent]) -> dict[TopicPartition, int]:
    """Publish as each event's own agency, every key in order; return the next offset per partition written."""
    secrets = Secrets(settings.secrets_dir)
    async with ClientKeyStore(settings.database_url, secrets) as keys:  # seals CaseOpened/ApplicationFiled clients
        kafka = kafka_connection(settings)
        return await publish_in_order(
            kafka,
            events,
            topic_prefix=settings.topic_prefix,
            client_keys=keys,
            platform_key=platform_key(kafka),
        )


COUNTS = ("open_cases", "opened", "closed")


async def caseload_tables(database_url: str, threshold: int) -> tuple[list[asyncpg.Record], list[asyncpg.Record]]:
    """Cases per agency and per Stadtbezirk as analysts see them: from the ``analytics`` views, suppressed."""
    conn = await asyncpg.connect(database_url)
    try:
        await queries.set_threshold(conn, threshold)
        order = "ORDER BY ({key} = 'ALL'), open_cases DESC NULLS LAST, {key}"
        by_agency = await conn.fetch(f"SELECT * FROM analytics.caseload_by_agency {order.format(key='agency')}")
        by_district = await conn.fetch(f"SELECT * FROM analytics.caseload_by_district {order.format(key='district')}")
        return by_agency, by_district
    finally:
        await conn.close()


def _render(title: str, key: str, rows: list[asyncpg.Record]) -> str:
    def cell(row: asyncpg.Record, column: str) -> str:
        return "x" if row[f"{column}_suppressed"] else str(row[column])

    body = [["total" if r[key] == "ALL" else label(r[key]), *(cell(r, c) for c in COUNTS)] for r in rows]
    return f"{title}\n" + table([key, "open", "opened", "closed"], body)


def projection_targets(settings: Settings, projection: str, targets: dict[TopicPartition, int]) -> dict:
    """The part of ``targets`` on the topics ``projection`` reads."""
    topics = {settings.topic(t) for t in PROJECTIONS[projection].source_topics}
    return {tp: end for tp, end in targets.items() if tp[0] in topics}


def demo(
    settings: Settings,
    seed: int | None = None,
    scale: float = DEMO_SCALE,
    years: float = 1.0,
    cases: int | None = None,
    timeout: float = 120.0,
) -> None:
    seed = random.randrange(2**32) if seed is None else seed
    threshold = small_cell_max()  # a broken KIM_SMALL_CELL_MAX is refused before anything is published
    config = make_config(years, seed, scale, DEMO_START, cases)
    require_past(config)
    bringup.up(settings)
    events: list[SimEvent] = list(simulate(config))
    started = time.monotonic()
    targets = processes.run_sync(
        publish_events(settings, events, action="events.demo", target=simulation_target(config))
    )
    print(f"published {describe(events, config)} in {time.monotonic() - started:.1f} s")
    for name in PROJECTIONS:
        try:
            took = processes.run_sync(
                wait_caught_up(
                    settings.database_url,
                    name,
                    projection_targets(settings, name, targets),
                    timeout,
                    still_running=lambda name=name: bringup.worker_pid(settings, name) is not None,
                )
            )
        except (TimeoutError, RuntimeError) as why:
            raise SetupError(f"{why}; see {settings.run_dir / f'worker-{name}.log'}") from None
        print(f"{name} projection caught up (lag 0) {took:.1f} s after publishing")
    print()
    analyst = db_roles.database_url(settings, db_roles.ANALYST)
    by_agency, by_district = processes.run_sync(caseload_tables(analyst, threshold))
    print(_render("Caseload per agency", "agency", list(by_agency)))
    print()
    print(_render("Caseload per Stadtbezirk", "district", list(by_district)))
    print()
    print(processes.run_sync(_reports(analyst, config.start, config_end(config), threshold)))
    print(f"\nx: hidden — a count from 1 to {threshold}, or a count hidden with it so that it cannot be worked out")
    print("from a total (the analytics schema decides: the same cells as `kim query`, the API and the dashboard)")


def config_end(config: SimulationConfig) -> datetime:
    """The demo's "now" in event time: the end of the simulated period."""
    end = config.start + timedelta(days=round(365.25 * config.years))
    return datetime.combine(end, datetime.min.time(), tzinfo=UTC)


async def _reports(database_url: str, start: date, as_of: datetime, threshold: int) -> str:
    """What `kim query referrals`, `kim query backlog --as-of` and `kim query outcomes --from --as-of` print for the
    end of the simulated period."""
    conn = await asyncpg.connect(database_url)
    try:
        await queries.set_threshold(conn, threshold)
        f = queries.Filters(as_of=as_of)
        referrals = await queries.referrals(conn, f, threshold)
        backlog = await queries.backlog(conn, f, threshold)
        outcomes = await queries.outcomes(conn, replace(f, from_day=start, group_by="lebenslage"), threshold)
    finally:
        await conn.close()
    # The totals per agency, not every pair: the same cells as the full answer, which `kim query referrals` shows.
    referrals.rows = [r for r in referrals.rows if "ALL" in (r["from_agency"], r["to_agency"])]
    referrals.title += " (the totals per agency; every pair: kim query referrals)"
    return "\n\n".join(_without_legend(to_table(result)) for result in (referrals, backlog, outcomes))


def _without_legend(text: str) -> str:
    return "\n".join(line for line in text.splitlines() if not line.startswith("x: hidden"))
