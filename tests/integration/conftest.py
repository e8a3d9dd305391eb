"""The real broker and database for integration tests, and an isolated lane (topics + database) per test.

The session starts the local services if they are not running (and stops them again at the
end if it started them); each test gets topics under its own prefix and its own database,
so tests never see each other's events or rows.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
import pytest

from infra import bringup, db_roles, kafka_broker, postgres_server
from infra.platform_identity import child_env, kafka_connection, platform_key, signing_secret
from infra.platform_secrets import Secrets
from infra.processes import run_sync
from infra.settings import DATABASE_ROLES, Settings, load_settings
from schemas.signing import SigningKey
from schemas.topics import TOPICS
from streams.kafka.connection import KafkaConnection
from streams.kafka.topics import provision

REPO = Path(__file__).resolve().parents[2]


MEASURED: list[str] = []  # lines a test measured (seconds to recover, …), shown after the run even when it passed


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if MEASURED:
        terminalreporter.section("measured by the integration tests")
        for line in MEASURED:
            terminalreporter.write_line(line)


def free_ports(count: int) -> list[int]:
    """Distinct ports that are free right now (all sockets held open together, so none repeats)."""
    with contextlib.ExitStack() as stack:
        socks = [stack.enter_context(socket.socket()) for _ in range(count)]
        for sock in socks:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in socks]


@pytest.fixture
def own_broker() -> Iterator[Settings]:
    """A throwaway local broker of its own (a test may kill it); the lane's database is used, not its own."""
    home = Path(tempfile.mkdtemp(prefix="kim-own-broker-"))
    kafka, controller, postgres = free_ports(3)
    env = {
        "KIM_HOME": str(home),
        "KIM_KAFKA_PORT": str(kafka),
        "KIM_KAFKA_CONTROLLER_PORT": str(controller),
        "KIM_POSTGRES_PORT": str(postgres),  # never started
    }
    if os.environ.get("KIM_CACHE"):
        env["KIM_CACHE"] = os.environ["KIM_CACHE"]
    settings = load_settings(env)
    try:
        kafka_broker.start_broker(settings, log=lambda _: None)
        yield settings
    finally:
        kafka_broker.stop_broker(settings, timeout=10)
        shutil.rmtree(home, ignore_errors=True)


@pytest.fixture(scope="session")
def base_settings() -> Iterator[Settings]:
    settings = load_settings()
    started_kafka = settings.local_kafka and not kafka_broker.broker_running(settings)
    started_postgres = settings.local_postgres and not postgres_server.postgres_running(settings)
    bringup.start_services(settings)
    if settings.local_postgres:
        run_sync(db_roles.ensure_logins(settings))  # the roles' logins, shared by every lane's database
    yield settings
    if started_kafka:
        kafka_broker.stop_broker(settings)
    if started_postgres:
        postgres_server.stop_postgres(settings)


@dataclass
class Lane:
    """One test's own topics (by prefix) and database on the shared real services."""

    kafka: KafkaConnection  # the platform's login, as the lane's processes are given it
    database_url: str = field(repr=False)  # holds the password
    prefix: str
    home: Path
    workers: list[Worker] = field(default_factory=list)
    metrics_port: int = 0  # workers serve no metrics unless a test picks a free port
    role_urls: dict[str, str] = field(default_factory=dict, repr=False)  # each component's own login (db_roles)

    @property
    def bootstrap(self) -> str:
        return self.kafka.bootstrap

    @property
    def platform_secret(self) -> bytes | None:
        """The platform's record-signing secret (what workers and rebuilds verify the platform's records with)."""
        return signing_secret(self.kafka)

    @property
    def secrets(self) -> Secrets:
        """The lane's secrets directory (pepper, key-encryption key), as `kim up` makes it under KIM_HOME."""
        return Secrets(self.home / "secrets")

    @property
    def platform_key(self) -> SigningKey:
        """The key the platform signs with when it speaks for an agency (demo events, the simulator)."""
        return platform_key(self.kafka)

    def topic(self, name: str) -> str:
        return self.prefix + name

    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "KIM_HOME": str(self.home),
            "KIM_SECRETS_DIR": str(self.secrets.directory),  # the lane's own, whatever the environment says
            "KIM_KAFKA_BOOTSTRAP": self.bootstrap,
            "KIM_DATABASE_URL": self.database_url,
            "KIM_TOPIC_PREFIX": self.prefix,
            "KIM_METRICS_PORT": str(self.metrics_port),
            **{f"KIM_{role.upper()}_DATABASE_URL": url for role, url in self.role_urls.items()},
            **child_env(self.kafka),  # the platform's Kafka login, as the lane's processes are told an external cluster
        }

    def worker(self, projection: str = "caseload", **env: str) -> Worker:
        """A worker process on the lane; ``env``: more settings for it (``KIM_CATCH_UP_AT="1000"``)."""
        worker = Worker(self, projection, env)
        self.workers.append(worker)
        return worker

    async def fetch(self, sql: str, *args: object) -> list[asyncpg.Record]:
        conn = await asyncpg.connect(self.database_url)
        try:
            return await conn.fetch(sql, *args)
        finally:
            await conn.close()


class Worker:
    """A real projection worker process (`python -m cli.worker`) on a lane."""

    def __init__(self, lane: Lane, projection: str, env: Mapping[str, str] | None = None) -> None:
        self.log = lane.home / f"worker-{projection}-{len(lane.workers)}.log"
        with open(self.log, "wb") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "cli.worker", projection],
                env={**lane.env(), **(env or {})},
                cwd=REPO,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def alive(self) -> bool:
        return self.process.poll() is None

    def kill(self) -> None:
        """SIGKILL: no shutdown hooks, no final commit — a crash."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        if self.alive():
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.kill()

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")


async def _delete_topics(kafka: KafkaConnection, names: list[str]) -> None:
    admin = kafka.admin()
    await admin.start()
    try:
        await admin.delete_topics(names)
    finally:
        await admin.close()


async def _migrate(url: str, secrets: Secrets) -> None:
    """What `kim up` does to a database: the migrations, then the secrets directory made and recorded."""
    await bringup.migrate_database(url, secrets, log=lambda _: None)


def role_urls(base_settings: Settings, database: str) -> dict[str, str]:
    """The lane database's URL per role: components on a lane log in as their own role, as in production."""
    if not base_settings.local_postgres:
        return {}  # an external test server: the lane's components fall back to the owner's URL
    return {r: db_roles.with_database(db_roles.database_url(base_settings, r), database) for r in DATABASE_ROLES}


@pytest.fixture
def lane(base_settings: Settings) -> Iterator[Lane]:
    tag = uuid.uuid4().hex[:10]
    name = f"kim_test_{tag}"
    url = postgres_server.create_database(base_settings, name)
    prefix = f"test-{tag}."
    kafka = kafka_connection(base_settings)
    run_sync(provision(kafka, prefix))
    home = Path(tempfile.mkdtemp(prefix=f"kim-lane-{tag}-"))
    lane = Lane(kafka, url, prefix, home, role_urls=role_urls(base_settings, name))
    run_sync(_migrate(url, lane.secrets))
    yield lane
    for worker in lane.workers:
        worker.stop()
    bringup.stop_workers(load_settings(lane.env()), log=lambda _: None)  # any `kim up` of a failed test
    run_sync(_delete_topics(kafka, [prefix + spec.name for spec in TOPICS]))
    postgres_server.drop_database(base_settings.database_url, name)
    shutil.rmtree(home, ignore_errors=True)
