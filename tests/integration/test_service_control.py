"""`kim up`/`kim down`/`kim restart` per service, a PostgreSQL that is shutting down, and the cluster in `kim status`.

These stop and start services, so they run a whole platform of their own — broker, PostgreSQL and the four
workers — in a throw-away KIM_HOME on free ports (never the session's shared services), through `kim` itself.
The tests run in file order on that one platform; each leaves it up again.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import pytest

from infra import bringup, kafka_broker, postgres_server
from infra.platform_identity import child_env, kafka_connection
from infra.processes import run_sync
from infra.settings import Settings, load_settings
from projections.registry import PROJECTIONS
from tests.integration.conftest import REPO, free_ports

pytestmark = pytest.mark.integration

SHUTTING_DOWN = "is shutting down (a smart shutdown waits for every session to end)"


@dataclass
class Platform:
    env: dict[str, str]
    settings: Settings

    def kim(self, *args: str, env: dict[str, str] | None = None, timeout: float = 180) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "cli.main", *args],
            env=env or self.env,
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def ok(self, *args: str) -> str:
        result = self.kim(*args)
        assert result.returncode == 0, f"kim {' '.join(args)}:\n{result.stdout}\n{result.stderr}"
        assert "Traceback" not in result.stdout + result.stderr
        return result.stdout

    def status(self) -> dict:
        result = self.kim("status", "--json", timeout=90)
        assert "Traceback" not in result.stderr, result.stderr
        return json.loads(result.stdout)

    def workers(self) -> dict[str, int | None]:
        return {name: bringup.worker_pid(self.settings, name) for name in PROJECTIONS}


@pytest.fixture(scope="module")
def platform() -> Iterator[Platform]:
    # Not pytest's tmp_path: as root, PostgreSQL runs as `postgres`, which cannot enter /tmp/pytest-of-root (0700).
    home = Path(tempfile.mkdtemp(prefix="kim-service-control-"))
    home.chmod(0o755)
    kafka, controller, pg = free_ports(3)
    env = {k: v for k, v in os.environ.items() if not k.startswith("KIM_") or k == "KIM_CACHE"}
    env.update(
        KIM_HOME=str(home),
        KIM_KAFKA_PORT=str(kafka),
        KIM_KAFKA_CONTROLLER_PORT=str(controller),
        KIM_POSTGRES_PORT=str(pg),
        KIM_METRICS_PORT="0",
    )
    platform = Platform(env, load_settings(env))
    try:
        platform.ok("up")
        yield platform
    finally:
        platform.kim("down")
        kafka_broker.stop_broker(platform.settings, timeout=10)  # whatever a failed `kim down` left behind
        postgres_server.stop_postgres(platform.settings, timeout=10)
        shutil.rmtree(home, ignore_errors=True)


def test_status_lists_the_broker_and_every_topic_with_factor_1_and_nothing_under_replicated(
    platform: Platform,
) -> None:
    doc = platform.status()
    assert doc["healthy"] is True
    cluster = doc["cluster"]
    port = platform.settings.kafka_port
    assert [(b["host"], b["port"], b["controller"]) for b in cluster["brokers"]] == [("127.0.0.1", port, True)]
    assert cluster["missing_brokers"] == [] and cluster["healthy"] is True
    replication = {t["name"]: t["replication"] for t in doc["topics"]}
    assert set(replication) == {"kim.cases", "kim.immigration", "kim.dlq"}
    for name, topic in replication.items():
        assert topic["factor"] == 1, name
        assert topic["under_replicated"] == [] and topic["offline"] == [], name
        assert topic["partitions"] == (3 if name == "kim.dlq" else 6), name

    out = platform.ok("status")
    broker = next(line.split() for line in out.splitlines() if line.startswith("1 "))
    assert broker == ["1", f"127.0.0.1:{port}", "up,", "controller"]
    cases = next(line.split() for line in out.splitlines() if line.startswith("kim.cases"))
    assert cases[:5] == ["kim.cases", "6", "1", "0", "0"]  # partitions, factor, under-replicated, offline


def test_down_kafka_leaves_postgres_and_the_workers_and_up_kafka_brings_it_back(platform: Platform) -> None:
    workers = platform.workers()
    assert all(workers.values()), workers
    postgres = postgres_server.postgres_pid(platform.settings)

    assert platform.ok("down", "kafka").splitlines() == ["stopped Kafka broker"]
    assert not kafka_broker.broker_running(platform.settings)
    assert platform.ok("down", "kafka").splitlines() == ["Kafka broker was not running"]  # twice is harmless
    doc = platform.status()
    assert doc["broker"]["up"] is False and doc["database"]["up"] is True
    assert postgres_server.postgres_pid(platform.settings) == postgres

    # Order matters: the workers need Kafka, and `kim up workers` says to start it first.
    refused = platform.kim("up", "workers")
    assert refused.returncode == 1
    assert refused.stderr.strip() == (
        f"error: Kafka at 127.0.0.1:{platform.settings.kafka_port} is not running: the projection workers need it; "
        "start it first (kim up kafka), then kim up workers"
    )

    assert platform.ok("up", "kafka").splitlines()[-1] == "Kafka is up"
    assert platform.status()["healthy"] is True
    assert platform.workers() == workers  # the same workers rode out the outage


def test_restart_postgres_keeps_kafka_and_the_workers_up(platform: Platform) -> None:
    broker = kafka_broker.broker_pid(platform.settings)
    postgres = postgres_server.postgres_pid(platform.settings)
    workers = platform.workers()

    out = platform.ok("restart", "postgres").splitlines()
    assert out[0] == "stopped PostgreSQL" and out[-1] == "PostgreSQL is up"
    assert postgres_server.postgres_pid(platform.settings) not in (None, postgres)
    assert kafka_broker.broker_pid(platform.settings) == broker
    assert platform.status()["healthy"] is True
    assert platform.workers() == workers


def test_a_smart_shutdown_held_open_by_a_session_is_named_at_once(platform: Platform) -> None:
    url = platform.settings.database_url
    session = _hold_a_session(url)  # keeps the smart shutdown from ever ending
    try:
        os.kill(postgres_server.postgres_pid(platform.settings), signal.SIGTERM)  # what `pg_ctl stop -m smart` sends
        _wait_until_refused(url)
        where = f"127.0.0.1:{platform.settings.postgres_port}"

        started = time.monotonic()
        up = platform.kim("up")
        assert up.returncode == 1
        assert up.stderr.strip() == (
            f"error: PostgreSQL at {where} {SHUTTING_DOWN}; wait for it to stop or stop it with "
            "`kim down postgres`, then `kim up postgres`"
        )
        status = platform.kim("status")
        assert status.returncode == 1
        assert f"database  {where}/kim (local): DOWN: PostgreSQL at {where} {SHUTTING_DOWN}" in status.stdout
        assert time.monotonic() - started < 15  # not the 30 s readiness wait, twice
        workers = platform.kim("up", "workers")
        assert workers.returncode == 1 and SHUTTING_DOWN in workers.stderr

        assert platform.ok("down", "postgres").splitlines() == ["stopped PostgreSQL"]  # a fast shutdown ends it
    finally:
        session.kill()
        session.wait(10)
    assert platform.ok("up", "postgres").splitlines()[-1] == "PostgreSQL is up"
    assert platform.status()["healthy"] is True


def test_services_kim_does_not_run_are_named_not_stopped(platform: Platform) -> None:
    broker = kafka_broker.broker_pid(platform.settings)
    postgres = postgres_server.postgres_pid(platform.settings)
    external = {
        **platform.env,
        "KIM_KAFKA_BOOTSTRAP": platform.settings.kafka_bootstrap,
        "KIM_DATABASE_URL": platform.settings.database_url,
        **child_env(kafka_connection(platform.settings)),
    }
    down = platform.kim("down", "kafka", "postgres", env=external)
    assert down.returncode == 0, down.stderr
    where = f"127.0.0.1:{platform.settings.postgres_port}"
    assert down.stdout.splitlines() == [
        f"Kafka at {platform.settings.kafka_bootstrap} is not run by kim (KIM_KAFKA_BOOTSTRAP), so it was not stopped",
        f"PostgreSQL at {where} is not run by kim (KIM_DATABASE_URL), so it was not stopped",
    ]
    assert kafka_broker.broker_pid(platform.settings) == broker
    assert postgres_server.postgres_pid(platform.settings) == postgres


def _wait_until_refused(url: str, timeout: float = 10.0) -> None:
    """Until a new connection is refused (the postmaster handles the signal asynchronously)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            conn = run_sync(asyncpg.connect(url, timeout=2))
        except asyncpg.CannotConnectNowError:
            return
        run_sync(conn.close())
        assert time.monotonic() < deadline, "the server still accepts connections after SIGTERM"
        time.sleep(0.1)


HOLD = """
import asyncio, os, asyncpg
async def hold():
    conn = await asyncpg.connect(os.environ["HOLD_URL"])
    print("connected", flush=True)
    await asyncio.sleep(600)
asyncio.run(hold())
"""


def _hold_a_session(url: str) -> subprocess.Popen[str]:
    """A process with one open session (its own event loop, so the session outlives any call here)."""
    env = {**os.environ, "HOLD_URL": url}  # not on the command line: it holds the password
    process = subprocess.Popen([sys.executable, "-c", HOLD], env=env, stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None and process.stdout.readline().strip() == "connected"
    return process
