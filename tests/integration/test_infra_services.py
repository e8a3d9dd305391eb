"""Bring-up of the local Kafka broker and PostgreSQL server in a throw-away KIM_HOME on free ports."""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from infra import kafka_broker, postgres_server
from infra.errors import SetupError
from infra.platform_identity import kafka_connection
from infra.processes import find_pids, pid_alive, run_sync
from infra.settings import Settings, load_settings
from streams.kafka.connection import KafkaConnection
from tests.integration.conftest import free_ports

pytestmark = pytest.mark.integration


def _settings(home: Path, **overrides: str) -> Settings:
    kafka, controller, pg = free_ports(3)
    env = {
        "KIM_HOME": str(home),
        "KIM_KAFKA_PORT": str(kafka),
        "KIM_KAFKA_CONTROLLER_PORT": str(controller),
        "KIM_POSTGRES_PORT": str(pg),
    }
    if os.environ.get("KIM_CACHE"):  # else the user's cache: the jars are downloaded once, not per test run
        env["KIM_CACHE"] = os.environ["KIM_CACHE"]
    return load_settings({**env, **overrides})


@pytest.fixture
def home() -> Iterator[Path]:
    # Not pytest's tmp_path: as root, PostgreSQL runs as `postgres`, which cannot enter /tmp/pytest-of-root (0700).
    path = Path(tempfile.mkdtemp(prefix="kim-infra-test-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def settings(home: Path) -> Iterator[Settings]:
    settings = _settings(home)
    yield settings
    kafka_broker.stop_broker(settings, timeout=10)  # whatever a failed test left behind
    postgres_server.stop_postgres(settings, timeout=10)


async def _describe_and_create_topic(kafka: KafkaConnection, topic: str) -> tuple[dict, list[str]]:
    from aiokafka.admin import NewTopic

    admin = kafka.admin()
    await admin.start()
    try:
        info = await admin.describe_cluster()
        await admin.create_topics([NewTopic(topic, num_partitions=6, replication_factor=1)])
        return info, await admin.list_topics()
    finally:
        await admin.close()


async def _query(url: str) -> tuple[int, str]:
    import asyncpg

    conn = await asyncpg.connect(url, timeout=10)
    try:
        return await conn.fetchval("select 1"), await conn.fetchval("select current_database()")
    finally:
        await conn.close()


def test_broker_and_postgres_start_answer_and_stop(settings: Settings) -> None:
    kafka_broker.ensure_jars(settings)
    assert kafka_broker.jars_ready(settings)
    kafka_broker.start_broker(settings)
    postgres_server.start_postgres(settings)
    kafka_pid = kafka_broker.broker_pid(settings)
    pg_pid = postgres_server.postgres_pid(settings)
    assert kafka_pid and pg_pid

    info, topics = run_sync(_describe_and_create_topic(kafka_connection(settings), "infra-test"))
    for secret in (settings.kafka_password_file, settings.kafka_dir / "server.properties"):
        assert secret.stat().st_mode & 0o777 == 0o600, secret  # the platform's Kafka password is in both
    assert [(b["host"], b["port"]) for b in info["brokers"]] == [("127.0.0.1", settings.kafka_port)]
    assert "infra-test" in topics
    assert run_sync(_query(settings.database_url)) == (1, "kim")

    # Starting again is harmless and quick: same processes, nothing restarted.
    started = time.monotonic()
    kafka_broker.start_broker(settings)
    postgres_server.start_postgres(settings)
    assert time.monotonic() - started < 5
    assert kafka_broker.broker_pid(settings) == kafka_pid
    assert postgres_server.postgres_pid(settings) == pg_pid

    # A throw-away database, as the other integration tests use.
    url = postgres_server.create_database(settings, "kim_infra_scratch")
    assert run_sync(_query(url)) == (1, "kim_infra_scratch")
    postgres_server.drop_database(settings.database_url, "kim_infra_scratch")
    postgres_server.drop_database(settings.database_url, "kim_infra_scratch")  # harmless when gone

    assert kafka_broker.stop_broker(settings) is True
    assert postgres_server.stop_postgres(settings) is True
    assert not pid_alive(kafka_pid) and not pid_alive(pg_pid)
    assert find_pids(str(settings.home)) == []
    assert not kafka_broker.broker_running(settings) and not postgres_server.postgres_running(settings)
    assert not (settings.run_dir / "kafka.pid").exists()

    assert kafka_broker.stop_broker(settings) is False
    assert postgres_server.stop_postgres(settings) is False


@pytest.mark.parametrize("variable", ["KIM_KAFKA_PORT", "KIM_KAFKA_CONTROLLER_PORT", "KIM_POSTGRES_PORT"])
def test_a_taken_port_gives_one_clear_line(home: Path, variable: str) -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        settings = _settings(home, **{variable: str(port)})
        start = postgres_server.start_postgres if variable == "KIM_POSTGRES_PORT" else kafka_broker.start_broker
        with pytest.raises(SetupError) as caught:
            start(settings)
    assert str(caught.value) == (
        f"port {port} on 127.0.0.1 is already in use by another program; stop it or set {variable} to a free port"
    )
    assert not kafka_broker.broker_running(settings) and not postgres_server.postgres_running(settings)


def test_unreachable_kafka_is_a_setup_error() -> None:
    (port,) = free_ports(1)
    with pytest.raises(SetupError, match=rf"cannot reach Kafka at 127.0.0.1:{port} within 1 s"):
        kafka_broker.wait_for_kafka(KafkaConnection(f"127.0.0.1:{port}"), timeout=1)


def test_unreachable_database_is_a_setup_error_without_the_password() -> None:
    (port,) = free_ports(1)
    with pytest.raises(SetupError, match=rf"cannot reach PostgreSQL at 127.0.0.1:{port}") as caught:
        postgres_server.wait_for_database(f"postgresql://kim:s3cret-pw@127.0.0.1:{port}/kim", timeout=1)
    assert "s3cret-pw" not in str(caught.value)
    assert "KIM_DATABASE_URL" in str(caught.value)
