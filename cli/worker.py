"""Entry point of a projection worker process: ``python -m cli.worker PROJECTION``."""

from __future__ import annotations

import sys

from infra import db_roles
from infra.platform_identity import kafka_connection, signing_secret
from infra.settings import load_settings
from projections.registry import PROJECTIONS
from schemas.errors import KimError


def main(argv: list[str]) -> int:
    if len(argv) != 1 or argv[0] not in PROJECTIONS:
        print(f"usage: python -m cli.worker {{{'|'.join(PROJECTIONS)}}}", file=sys.stderr)
        return 2
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
        argv[0],
        kafka,
        db_roles.database_url(settings, db_roles.WORKER),
        platform_secret=signing_secret(kafka),
        topic_prefix=settings.topic_prefix,
        metrics_port=settings.metrics_port_of(list(PROJECTIONS).index(argv[0])),
        datadir=settings.run_dir / "faust",
        outages=outages,
        catch_up_at=settings.catch_up_at,
    )
    worker = OutageWorker(app, outages, loglevel="warn", quiet=True)
    worker.spinner = None  # its output is a log file, not a terminal
    worker.execute_from_commandline()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
