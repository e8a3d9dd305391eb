"""One projection worker as a process: settings, the platform's Kafka login, the faust app, run until stopped.

``python -m cli.worker PROJECTION`` runs it; so does the benchmark's accounted worker, which must not import the
command line.
"""

from __future__ import annotations

import sys

from infra import db_roles
from infra.platform_identity import kafka_connection, signing_secret
from infra.settings import load_settings
from projections.registry import PROJECTIONS
from schemas.errors import KimError


def projection_of(argv: list[str], prog: str) -> str | None:
    """The projection a worker command names (its one argument), or None after printing its usage line."""
    if len(argv) != 1 or argv[0] not in PROJECTIONS:
        print(f"usage: python -m {prog} {{{'|'.join(PROJECTIONS)}}}", file=sys.stderr)
        return None
    return argv[0]


def run(projection: str) -> int:
    """Run the worker of ``projection`` (a name in the registry) until it is stopped; the process's exit code."""
    try:
        settings = load_settings()
        kafka = kafka_connection(settings)
        for warning in settings.warnings:
            print(f"warning: {warning}", file=sys.stderr)
    except KimError as why:
        print(f"error: {why}", file=sys.stderr)
        return 1
    from streams.operations.worker import OutageWorker, worker_app
    from streams.runtime.outage_log import OutageReport

    outages = OutageReport()
    app = worker_app(
        projection,
        kafka,
        db_roles.database_url(settings, db_roles.WORKER),
        platform_secret=signing_secret(kafka),
        topic_prefix=settings.topic_prefix,
        metrics_port=settings.metrics_port_of(list(PROJECTIONS).index(projection)),
        datadir=settings.run_dir / "faust",
        outages=outages,
        catch_up_at=settings.catch_up_at,
    )
    worker = OutageWorker(app, outages, loglevel="warn", quiet=True)
    worker.spinner = None  # its output is a log file, not a terminal
    worker.execute_from_commandline()
    return 0
