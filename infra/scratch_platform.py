"""A whole platform of its own under a temporary KIM_HOME on free loopback ports: a local Kafka cluster (one node
or three, with or without TLS) and a PostgreSQL server with the roles' logins.

For what must kill, stop and restart services without touching anyone else's — the fault tests and the cluster
benchmark. Everything is removed when the block ends.
"""

from __future__ import annotations

import contextlib
import random
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

from infra import bringup, db_roles, kafka_broker, postgres_server
from infra.processes import port_in_use, run_sync
from infra.settings import Settings, load_settings

Log = Callable[[str], None]


def free_port_base() -> int:
    """A base whose node ports (+0, +10, +20), controller ports (+1, +11, +21) and +5 (PostgreSQL) are all free."""
    for _ in range(200):
        base = random.randrange(30000, 60000, 100)
        if not any(port_in_use("127.0.0.1", base + offset) for offset in (0, 1, 5, 10, 11, 20, 21)):
            return base
    raise RuntimeError("no free range of loopback ports between 30000 and 60000")


@contextlib.contextmanager
def scratch_platform(brokers: int, security: str = "sasl_ssl", log: Log = print) -> Iterator[Settings]:
    """Start Kafka and PostgreSQL of a fresh KIM_HOME and make the roles' logins; stop and remove all after."""
    home = Path(tempfile.mkdtemp(prefix=f"kim-scratch-{brokers}-"))
    base = free_port_base()
    settings = load_settings(
        {
            "KIM_HOME": str(home),
            "KIM_CACHE": str(load_settings().cache),  # the jars already downloaded
            "KIM_KAFKA_BROKERS": str(brokers),
            "KIM_KAFKA_SECURITY": security,
            "KIM_KAFKA_PORT": str(base),
            "KIM_KAFKA_CONTROLLER_PORT": str(base + 1),
            "KIM_POSTGRES_PORT": str(base + 5),
            "KIM_METRICS_PORT": "0",
        }
    )
    try:
        bringup.start_services(settings, log=log)
        run_sync(db_roles.ensure_logins(settings))
        yield settings
    finally:
        kafka_broker.stop_broker(settings, timeout=20)
        postgres_server.stop_postgres(settings)
        shutil.rmtree(home, ignore_errors=True)
