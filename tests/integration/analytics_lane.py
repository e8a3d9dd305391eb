"""One lane (topics + database) filled with a simulated year of Dortmund, shared by the analytics tests.

The history goes through the real broker (``publish_in_order``, each agency its own publisher) and
into the three projections with the bulk path, as in production; building it once per module keeps
the query, API and dashboard tests fast.
"""

from __future__ import annotations

import functools
import json
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import asyncpg

from infra import postgres_server
from infra.client_keys import ClientKeyStore
from infra.platform_identity import kafka_connection
from infra.platform_settings import write_switches
from infra.processes import run_sync
from infra.settings import Settings, load_settings
from projections.registry import PROJECTIONS
from schemas.topics import TOPICS
from streams.kafka.topics import provision
from streams.runtime.bulk import catch_up
from streams.sdk.draft import agencies
from streams.usecases.publish_in_order import publish_in_order
from tests.integration.conftest import REPO, Lane, _delete_topics, _migrate, role_urls
from tests.integration.https import trusting

START = date(2025, 1, 1)
AS_OF = datetime(2025, 12, 31, 12, 0, tzinfo=UTC)


def simulated(scale: float = 0.25, seed: int = 7, **knobs: Any) -> list:
    """A simulated year; ``knobs`` are further ``SimulationConfig`` fields (e.g. ``office_capacity_ratio``,
    ``years``)."""
    from simulation import SimulationConfig, simulate_list

    publishable = set(agencies())
    events = simulate_list(SimulationConfig(**{"years": 1.0, "seed": seed, "scale": scale, "start": START, **knobs}))
    return [e for e in events if e.agency in publishable]


async def fill(lane: Lane, events: list) -> dict[tuple[str, int], int]:
    async with ClientKeyStore(lane.database_url, lane.secrets) as keys:  # seals clients, as `kim simulate --publish`
        targets = await publish_in_order(
            lane.kafka, events, topic_prefix=lane.prefix, client_keys=keys, platform_key=lane.platform_key
        )
    for projection in PROJECTIONS.values():
        await catch_up(
            projection, lane.kafka, lane.database_url, platform_secret=lane.platform_secret, topic_prefix=lane.prefix
        )
    return targets


def analytics_lane(
    base_settings: Settings, scale: float = 0.25, figures_per_case_manager: bool = False, **knobs: Any
) -> Iterator[Lane]:
    """The filled lane; ``figures_per_case_manager``: as if `kim up` ran with KIM_CASE_MANAGER_FIGURES=on."""
    tag = uuid.uuid4().hex[:10]
    name = f"kim_test_{tag}"
    url = postgres_server.create_database(base_settings, name)
    prefix = f"test-{tag}."
    kafka = kafka_connection(base_settings)
    run_sync(provision(kafka, prefix))
    home = Path(tempfile.mkdtemp(prefix=f"kim-lane-{tag}-"))
    lane = Lane(kafka, url, prefix, home, role_urls=role_urls(base_settings, name))
    run_sync(_migrate(url, lane.secrets))
    try:
        run_sync(fill(lane, simulated(scale, **knobs)))
        if figures_per_case_manager:
            case_manager_figures(lane, True)
        yield lane
    finally:
        run_sync(_delete_topics(kafka, [prefix + spec.name for spec in TOPICS]))
        postgres_server.drop_database(base_settings.database_url, name)
        shutil.rmtree(home, ignore_errors=True)


def case_manager_figures(lane: Lane, on: bool) -> list[str]:
    """Turn KIM_CASE_MANAGER_FIGURES on or off in the lane's database as `kim up` does (the owner writes the switch)."""
    settings = replace(load_settings(lane.env()), case_manager_figures=on)

    async def write() -> list[str]:
        conn = await asyncpg.connect(lane.database_url)
        try:
            return await write_switches(conn, settings)
        finally:
            await conn.close()

    return run_sync(write())


def synced(test):
    """Run an ``async def`` test on its own event loop (the suite has no asyncio plugin)."""

    @functools.wraps(test)
    def wrapper(*args, **kwargs):
        return run_sync(test(*args, **kwargs))

    return wrapper


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """`kim serve` on the lane over HTTPS with the lane installation's certificate; requests verify it."""

    def __init__(self, lane: Lane, extra_env: dict[str, str] | None = None) -> None:
        self.port = free_port()
        self.home = lane.home
        self.base = f"https://127.0.0.1:{self.port}"
        self.log = lane.home / f"serve-{self.port}.log"
        with open(self.log, "wb") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "cli.main", "serve", "--port", str(self.port)],
                env={**lane.env(), **(extra_env or {})},
                cwd=REPO,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"kim serve ended: {self.log.read_text()}")
            try:
                self.get("/healthz")
                return
            except OSError:
                time.sleep(0.2)
        raise AssertionError(f"kim serve did not answer: {self.log.read_text()}")

    def get(self, path: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
        request = urllib.request.Request(self.base + path, headers=headers or {})
        try:
            with urllib.request.urlopen(request, timeout=60, context=trusting(self.home)) as response:
                return response.status, dict(response.headers), response.read()
        except urllib.error.HTTPError as error:
            return error.code, dict(error.headers), error.read()

    def json(self, path: str, **kw: Any) -> tuple[int, Any]:
        status, _, body = self.get(path, **kw)
        return status, json.loads(body)

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(15)
        except subprocess.TimeoutExpired:
            self.process.kill()
