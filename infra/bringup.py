"""Bringing the platform up and down (`kim up` / `kim down`): services, topics, migrations and projection workers,
in that order."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

import asyncpg

from infra import db_roles, kafka_broker, postgres_server, processes
from infra.agencies import APPEND_TIME_CUTOFFS, SIGNING_CUTOFFS, record_cutoffs
from infra.errors import SetupError
from infra.key_custody import KEYED_IN, migration_hooks, provision_secrets, rewrite_after_upgrade
from infra.platform_identity import kafka_connection
from infra.platform_secrets import Secrets
from infra.platform_settings import write_switches
from infra.settings import Settings
from projections.migrate import migrate
from projections.registry import PROJECTIONS
from schemas.topics import EVENT_TOPICS
from streams.kafka.topics import end_offsets, provision

Log = Callable[[str], None]
REPO_ROOT = Path(__file__).resolve().parent.parent


def start_services(settings: Settings, log: Log = print) -> None:
    """Kafka and PostgreSQL: start the local ones, or check that the configured ones answer."""
    if settings.local_kafka:
        kafka_broker.ensure_jars(settings, log=log)
        kafka_broker.start_broker(settings, log=log)
    else:
        kafka_broker.wait_for_kafka(kafka_connection(settings), timeout=15.0)
    if settings.local_postgres:
        postgres_server.ensure_postgres_installed(log=log)
        postgres_server.start_postgres(settings, log=log)
    else:
        postgres_server.wait_for_database(settings.database_url, timeout=15.0)


def prepare(settings: Settings, log: Log = print) -> None:
    """Topics, migrations and the platform's switches in the database, all idempotent."""
    for action in processes.run_sync(provision(kafka_connection(settings), settings.topic_prefix)):
        log(action)  # a topic that differs from its declaration raises TopicMismatch (a KimError: one line)
    if settings.local_postgres:
        for login in processes.run_sync(db_roles.ensure_logins(settings)):
            log(f"database login {login} ready (password in {settings.home}/db-*.password)")
    elif note := db_roles.fallback_note(settings):
        log(note)
    for version in processes.run_sync(migrate_database(settings.database_url, Secrets(settings.secrets_dir), log)):
        log(f"applied migration {version}")
    for change in processes.run_sync(_write_switches(settings)):
        log(change)
    if processes.run_sync(_record_signing_cutoffs(settings)):
        log("records written before record signing existed stay valid unsigned (signing_cutoffs)")
    if processes.run_sync(_record_signing_cutoffs(settings, APPEND_TIME_CUTOFFS)):
        log(
            "records written before the event topics stamped append times count as appended before every key "
            "retirement (append_time_cutoffs)"
        )


async def migrate_database(url: str, secrets: Secrets, log: Log = print) -> list[str]:
    """The migrations (with the work they need from outside the database), then the secrets made or checked.

    ``url`` is the owner's. The secrets directory (pepper, key-encryption key) is made on first use; an
    installation from before migration 0110 has its client keys wrapped and its pseudonyms replaced by keyed
    hashes in 0111's transaction, and the two tables rewritten afterwards (infra/key_custody.py).
    """
    conn = await asyncpg.connect(url)
    try:
        applied = await migrate(conn, hooks=migration_hooks(secrets, log))  # MigrationError is a KimError
        await provision_secrets(conn, secrets, log)
    finally:
        await conn.close()
    if KEYED_IN in applied:
        await rewrite_after_upgrade(url)
    return applied


async def _write_switches(settings: Settings) -> list[str]:
    """KIM_CASE_MANAGER_FIGURES into the database, where the analytics schema reads it (as the owner)."""
    conn = await asyncpg.connect(settings.database_url)
    try:
        return await write_switches(conn, settings)
    finally:
        await conn.close()


async def _record_signing_cutoffs(settings: Settings, table: str = SIGNING_CUTOFFS) -> int:
    """Once per topic: the end offsets now, below which records were written by an older kim.

    ``signing_cutoffs``: unsigned, before records were signed. ``append_time_cutoffs``: with the producer's
    time, before the topic stamped append times. ``prepare`` records these after ``provision`` switched the topic
    to LogAppendTime, so every record with the producer's time lies below; a record between the switch and now
    has the broker's time and is judged by it all the same (``streams/runtime/authenticity.py``).
    """
    ends = await end_offsets(kafka_connection(settings), [settings.topic(t) for t in EVENT_TOPICS])
    conn = await asyncpg.connect(settings.database_url)
    try:
        return await record_cutoffs(conn, ends, table)
    finally:
        await conn.close()


def _worker_pid_file(settings: Settings, name: str) -> Path:
    return settings.run_dir / f"worker-{name}.pid"


def _worker_log(settings: Settings, name: str) -> Path:
    return settings.run_dir / f"worker-{name}.log"


def _worker_marker(name: str) -> list[str]:
    return ["cli.worker", name]


def worker_pid(settings: Settings, name: str) -> int | None:
    pid = processes.read_pid(_worker_pid_file(settings, name))
    return pid if processes.pid_alive(pid, _worker_marker(name)) else None


def start_workers(settings: Settings, log: Log = print) -> None:
    for name in PROJECTIONS:
        if worker_pid(settings, name):
            continue
        log_file = _worker_log(settings, name)
        processes.rotate_log(log_file)
        pid = processes.spawn_detached(
            [sys.executable, "-m", "cli.worker", name], log_file, env=dict(os.environ), cwd=REPO_ROOT
        )
        processes.write_pid(_worker_pid_file(settings, name), pid)
        time.sleep(1.0)
        if not processes.pid_alive(pid, _worker_marker(name)):
            tail = processes.log_tail(log_file)
            raise SetupError(f"the {name} worker exited right after start; its log ({log_file}) ends:\n{tail}")
        log(f"started {name} worker (pid {pid}, log {log_file})")


def stop_workers(settings: Settings, log: Log = print) -> None:
    for name in PROJECTIONS:
        pid = worker_pid(settings, name)
        if pid and processes.terminate(pid, timeout=20.0, must_contain=_worker_marker(name)):
            log(f"stopped {name} worker (pid {pid})")
        processes.remove_pid(_worker_pid_file(settings, name))


def up(settings: Settings, log: Log = print) -> None:
    start_services(settings, log)
    prepare(settings, log)
    start_workers(settings, log)


def down(settings: Settings, log: Log = print) -> None:
    stop_workers(settings, log)
    if settings.local_kafka and kafka_broker.stop_broker(settings):
        log("stopped Kafka broker")
    if settings.local_postgres and postgres_server.stop_postgres(settings):
        log("stopped PostgreSQL")
