"""Bringing the platform up and down (`kim up` / `kim down` / `kim restart`): services, topics, migrations and
projection workers, in that order — all of them, or only the services named (infra/services.py).

Kafka and PostgreSQL can each be stopped and started alone: the workers ride out either outage and reconnect.
The topics and migrations are checked whenever both answer after a start; the workers start only when both do.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from urllib.parse import urlsplit

import asyncpg

from infra import db_roles, kafka_broker, postgres_server, processes
from infra.agencies import APPEND_TIME_CUTOFFS, SIGNING_CUTOFFS, record_cutoffs
from infra.errors import SetupError
from infra.key_custody import KEYED_IN, migration_hooks, provision_secrets, rewrite_after_upgrade
from infra.platform_identity import kafka_connection
from infra.platform_secrets import Secrets
from infra.platform_settings import write_switches
from infra.services import KAFKA, LABELS, POSTGRES, SERVICES, WORKERS, start_order, stop_order
from infra.settings import Settings
from projections.migrate import migrate
from projections.registry import PROJECTIONS
from schemas.topics import EVENT_TOPICS
from streams.kafka.topics import end_offsets, provision

Log = Callable[[str], None]
_NOT_RUNNING = " is not running"
REPO_ROOT = Path(__file__).resolve().parent.parent


def start_services(settings: Settings, log: Log = print) -> None:
    """Kafka and PostgreSQL: start the local ones, or check that the configured ones answer."""
    start_kafka(settings, log)
    start_database(settings, log)


def start_kafka(settings: Settings, log: Log = print) -> None:
    """Start the local broker, or check that the configured cluster answers."""
    if settings.local_kafka:
        kafka_broker.ensure_jars(settings, log=log)
        kafka_broker.start_broker(settings, log=log)
    else:
        kafka_broker.wait_for_kafka(kafka_connection(settings), timeout=15.0)


def start_database(settings: Settings, log: Log = print) -> None:
    """Start the local PostgreSQL, or check that the configured one answers."""
    if settings.local_postgres:
        postgres_server.ensure_postgres_installed(log=log)
        postgres_server.start_postgres(settings, log=log)
    else:
        postgres_server.wait_for_database(settings.database_url, timeout=15.0, local=False)


def prepare(settings: Settings, log: Log = print) -> None:
    """Topics, migrations and the platform's switches in the database, all idempotent."""
    for action in processes.run_sync(
        provision(kafka_connection(settings), settings.topic_prefix, settings.kafka_replication)
    ):
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


def stop_workers(settings: Settings, log: Log = print) -> int:
    """Stop this KIM_HOME's workers (SIGTERM); how many were running."""
    stopped = 0
    for name in PROJECTIONS:
        pid = worker_pid(settings, name)
        if pid and processes.terminate(pid, timeout=20.0, must_contain=_worker_marker(name)):
            log(f"stopped {name} worker (pid {pid})")
            stopped += 1
        processes.remove_pid(_worker_pid_file(settings, name))
    return stopped


def up(settings: Settings, log: Log = print, services: Iterable[str] = SERVICES) -> None:
    """Start ``services`` (every one by default) in order; check topics and migrations once both services answer.

    The workers need both services: when one is not up (and not being started), a SetupError names it and
    what to start first.
    """
    chosen = start_order(services)
    if KAFKA in chosen:
        start_kafka(settings, log)
    if POSTGRES in chosen:
        start_database(settings, log)
    problems = {s: p for s in (KAFKA, POSTGRES) if s not in chosen and (p := service_problem(settings, s))}
    if WORKERS in chosen and problems:
        raise SetupError(_start_first(problems))
    if problems:
        for reason in problems.values():
            log(f"topics and migrations not checked: {reason}")
    else:
        prepare(settings, log)
    if WORKERS in chosen:
        start_workers(settings, log)


def down(settings: Settings, log: Log = print, services: Iterable[str] = SERVICES) -> None:
    """Stop ``services`` (every one by default): workers first; one line for each service that was not running
    or that kim does not run (an external Kafka or database is never stopped)."""
    for service in stop_order(services):
        if service == WORKERS and not stop_workers(settings, log):
            log("no projection worker was running")
        elif service == KAFKA:
            log(_stop_kafka(settings))
        elif service == POSTGRES:
            log(_stop_database(settings))


def restart(settings: Settings, log: Log = print, services: Iterable[str] = SERVICES) -> None:
    """``down`` then ``up`` of the same services; the others keep running (the workers reconnect by themselves)."""
    down(settings, log, services)
    up(settings, log, services)


def _stop_kafka(settings: Settings) -> str:
    if not settings.local_kafka:
        return f"Kafka at {settings.kafka_bootstrap} is not run by kim (KIM_KAFKA_BOOTSTRAP), so it was not stopped"
    return "stopped Kafka broker" if kafka_broker.stop_broker(settings) else "Kafka broker was not running"


def _stop_database(settings: Settings) -> str:
    if not settings.local_postgres:
        where = _database_endpoint(settings)
        return f"PostgreSQL at {where} is not run by kim (KIM_DATABASE_URL), so it was not stopped"
    return "stopped PostgreSQL" if postgres_server.stop_postgres(settings) else "PostgreSQL was not running"


def service_problem(settings: Settings, service: str) -> str | None:
    """Why Kafka or PostgreSQL is not up right now (quickly: it is not waited for), or None when it answers."""
    if service == KAFKA:
        if settings.local_kafka and not kafka_broker.broker_running(settings):
            return f"Kafka at {settings.kafka_bootstrap}{_NOT_RUNNING}"
        reason = kafka_broker.kafka_answers(kafka_connection(settings))
        return None if reason is None else f"Kafka at {settings.kafka_bootstrap} does not answer ({reason})"
    if settings.local_postgres and not postgres_server.postgres_running(settings):
        return f"PostgreSQL at {_database_endpoint(settings)}{_NOT_RUNNING}"
    try:
        postgres_server.wait_for_database(settings.database_url, timeout=3.0, local=settings.local_postgres)
    except SetupError as why:
        return str(why)
    return None


def _start_first(problems: dict[str, str]) -> str:
    """What `kim up workers` says when a service they need is not up: which, and what to start first."""
    stopped = [s for s, reason in problems.items() if reason.endswith(_NOT_RUNNING)]
    if not stopped:  # it runs but refuses (shutting down, a login…): its own line says what to do
        service, reason = next(iter(problems.items()))
        return f"the projection workers need {LABELS[service]}: {reason}"
    reasons = "; ".join(problems[s] for s in stopped)
    which, them = ("both", "them") if len(stopped) > 1 else ("it", "it")
    return (
        f"{reasons}: the projection workers need {which}; start {them} first (kim up {' '.join(stopped)}), "
        "then kim up workers"
    )


def _database_endpoint(settings: Settings) -> str:
    parts = urlsplit(settings.database_url)
    return f"{parts.hostname or 'localhost'}:{parts.port or 5432}"
