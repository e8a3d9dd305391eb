"""`kim status [--json]`: broker, database, the Kafka cluster's brokers and each topic's replication, topics,
and per projection its lag, freshness, workers, dead letters and running rebuilds. Reads only; what it prints
is derived in ``cli/status_view.py``.

Dead letters are counted per projection by the ``kim.projection`` header of the records in ``kim.dlq``
(the topic's record count is in the topic table). The count is a tally kept in the database
(``streams/operations/dlq_tally_io.py``): each call reads only the letters added since the last one, bounded by
``DLQ_READ_SECONDS``. A database without the tally (not migrated to 0096) gets today's full read, with a note.
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime
from urllib.parse import urlsplit

import asyncpg

from cli.status_view import Service, Snapshot, as_json, text
from infra import bringup, db_roles, kafka_broker, postgres_server
from infra.errors import SetupError
from infra.platform_identity import kafka_connection
from infra.processes import run_sync
from infra.settings import Settings
from projections.registry import PROJECTIONS
from schemas.topics import DLQ, TOPICS
from streams.kafka.connection import KafkaConnection
from streams.kafka.topics import consumer_group, end_offsets
from streams.operations import dlq_tally_io
from streams.operations.cluster_health_io import describe_cluster
from streams.operations.dlq_tally import totals
from streams.operations.health import Group, ProjectionHealth, partition_states
from streams.operations.health_io import LogReader, describe_groups, read_checkpoints, read_rebuilds, read_redriven

DLQ_READ_SECONDS = 30.0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="the same as JSON, for machines")


def run(settings: Settings, args: argparse.Namespace) -> int:
    """Exit 1 when the broker or the database is down, so scripts can wait for `kim status`."""
    out, healthy = run_sync(report(settings, machine=args.json))
    print(out)
    return 0 if healthy else 1


def _endpoint(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.hostname or 'localhost'}:{parts.port or 5432}{parts.path}"


def _database_problem(url: str, local: bool) -> str | None:
    """Why the database is not up; a server that is shutting down or starting up is named at once."""
    try:
        postgres_server.wait_for_database(url, timeout=3.0, local=local)
    except SetupError as why:
        return str(why)
    return None


async def snapshot(settings: Settings) -> Snapshot:
    kafka = kafka_connection(settings)
    kafka_error = kafka_broker.kafka_answers(kafka)
    broker = Service(settings.kafka_bootstrap, settings.local_kafka, kafka_error)
    try:
        url = db_roles.database_url(settings, db_roles.OPERATIONS)  # status reads as operations
        problem = _database_problem(url, settings.local_postgres)
    except SetupError as why:  # its login is not set up yet
        url, problem = settings.database_url, str(why)
    database = Service(_endpoint(url), settings.local_postgres, problem)
    if not broker.up:
        return Snapshot(broker, database)
    topics = tuple(settings.topic(spec.name) for spec in TOPICS)
    ends = await end_offsets(kafka, list(topics))
    notes: list[str] = []
    cluster = None
    try:
        cluster = await describe_cluster(kafka, topics)
    except Exception as why:  # the rest of the status is still worth printing
        notes.append(f"cluster metadata not read (brokers and replication unknown): {why!r}")
    if not database.up:
        return Snapshot(broker, database, ends, topics, notes=tuple(notes), cluster=cluster)
    if note := db_roles.fallback_note(settings):
        notes.append(note)
    groups: dict[str, Group] = {}
    try:
        groups = await describe_groups(kafka, [consumer_group(n, settings.topic_prefix) for n in PROJECTIONS])
    except Exception as why:  # the rest of the status is still worth printing
        notes.append(f"consumer groups not described: {why!r}")
    letters = None
    dlq_partitions = sorted(p for t, p in ends if t == settings.topic(DLQ))
    if not dlq_partitions:
        notes.append(f"topic {settings.topic(DLQ)} is missing; `kim up` creates it")
    conn = await asyncpg.connect(url, timeout=5)
    try:
        if not await conn.fetchval("SELECT to_regclass('projection_checkpoints') IS NOT NULL"):
            notes.append("the database has no projection tables yet; `kim up` applies the migrations")
            return Snapshot(broker, database, ends, topics, None, tuple(notes), cluster)
        if dlq_partitions:
            letters = await _dead_letters(conn, kafka, settings, dlq_partitions, notes)
        redriven = await read_redriven(conn, settings.topic(DLQ))
        healths = []
        for name, projection in PROJECTIONS.items():
            healths.append(
                ProjectionHealth(
                    name=name,
                    group_id=consumer_group(name, settings.topic_prefix),
                    partitions=partition_states(
                        ends, await read_checkpoints(conn, name), [settings.topic(t) for t in projection.source_topics]
                    ),
                    group=groups.get(consumer_group(name, settings.topic_prefix)),
                    local_pid=bringup.worker_pid(settings, name),
                    dead_letters=None if letters is None else letters.get(name, 0),
                    redriven=redriven.get(name, {}),
                    rebuilds=tuple(await read_rebuilds(conn, name)),
                )
            )
    finally:
        await conn.close()
    return Snapshot(broker, database, ends, topics, tuple(healths), tuple(notes), cluster)


async def _dead_letters(
    conn: asyncpg.Connection,
    kafka: KafkaConnection,
    settings: Settings,
    partitions: Sequence[int],
    notes: list[str],
) -> Counter[str] | None:
    """Letters per projection: the stored tally carried on to the DLQ's end; a full read where there is no
    tally this role may write. None (and a note) when they could not be counted in time."""
    topic = settings.topic(DLQ)
    if not await dlq_tally_io.has_tables(conn):
        notes.append(
            f"the database has no dlq_tally table (migration 0096), so the dead letters were counted by a full read"
            f" of {topic}; `kim up` applies the migrations"
        )
    else:
        try:
            run = await dlq_tally_io.update(conn, kafka, topic, partitions, DLQ_READ_SECONDS)
        except asyncpg.LockNotAvailableError:
            notes.append(
                f"dead letters not counted: another `kim status` held the count for over {DLQ_READ_SECONDS:.0f} s"
            )
            return None
        except asyncpg.InsufficientPrivilegeError as why:
            notes.append(f"dead letters counted by a full read: {db_roles.refusal(why)}")
        else:
            if run.complete:
                return totals(run.tally)
            notes.append(
                f"dead letters not counted: counting the dead letters in {topic} took longer than"
                f" {DLQ_READ_SECONDS:.0f} s; what was counted is kept and the next `kim status` continues"
            )
            return None
    reader = LogReader(kafka)
    await reader.start()
    try:
        return await reader.count_dead_letters(topic, len(partitions), timeout=DLQ_READ_SECONDS)
    except TimeoutError as why:
        notes.append(f"dead letters not counted: {why}")
        return None
    finally:
        await reader.stop()


async def report(settings: Settings, machine: bool = False) -> tuple[str, bool]:
    """The status as text (or JSON), and whether the broker and the database are up."""
    state = await snapshot(settings)
    now = datetime.now(UTC)
    out = json.dumps(as_json(state, now), indent=2) if machine else text(state, now)
    return out, state.healthy
