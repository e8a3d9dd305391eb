"""A whole platform of its own for fault tests (``infra.scratch_platform``), so a test may kill, stop and restart
its services without touching the session's shared ones. Lanes on it work like the session's (own topics by
prefix, own database, the roles' logins).
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from infra import postgres_server
from infra.platform_identity import kafka_connection
from infra.processes import run_sync
from infra.scratch_platform import scratch_platform
from infra.settings import Settings
from schemas.topics import TOPICS
from streams.kafka.topics import provision
from tests.integration.conftest import Lane, _delete_topics, _migrate, role_urls


@dataclass
class Platform:
    settings: Settings

    def lane(self) -> Lane:
        """A lane on this platform: topics keeping one copy per node, its own database and secrets."""
        tag = uuid.uuid4().hex[:10]
        name = f"kim_fault_{tag}"
        url = postgres_server.create_database(self.settings, name)
        prefix = f"fault-{tag}."
        kafka = kafka_connection(self.settings)
        run_sync(provision(kafka, prefix, self.settings.kafka_replication))
        home = Path(tempfile.mkdtemp(prefix=f"kim-fault-lane-{tag}-"))
        lane = Lane(kafka, url, prefix, home, role_urls=role_urls(self.settings, name))
        run_sync(_migrate(url, lane.secrets))
        return lane

    def drop(self, lane: Lane) -> None:
        for worker in lane.workers:
            worker.stop()
        with contextlib.suppress(Exception):  # the platform is torn down next anyway
            run_sync(_delete_topics(lane.kafka, [lane.prefix + spec.name for spec in TOPICS]))
        shutil.rmtree(lane.home, ignore_errors=True)


@contextlib.contextmanager
def platform(brokers: int) -> Iterator[Platform]:
    """A fresh platform of ``brokers`` Kafka nodes and its own PostgreSQL; stopped and removed after."""
    with scratch_platform(brokers) as settings:
        yield Platform(settings)
