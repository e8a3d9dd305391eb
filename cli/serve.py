"""`kim serve`: the read-only analysts' API and the dashboard on 127.0.0.1 until Ctrl-C / SIGTERM, over HTTPS."""

from __future__ import annotations

import argparse
import logging
import sys

import asyncpg

from analytics.suppression import small_cell_max
from infra import db_roles
from infra.errors import SetupError
from infra.http_tls import http_tls, plaintext_warning
from infra.processes import port_in_use, run_sync
from infra.settings import Settings

HOST = "127.0.0.1"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--port", type=int, default=8089, help="port to listen on (default 8089)")


def run(settings: Settings, args: argparse.Namespace) -> int:
    port = args.port
    if not 1 <= port <= 65535:
        raise SetupError(f"--port {port} is not a TCP port; choose one from 1024 to 65535")
    if port_in_use(HOST, port):
        raise SetupError(f"port {port} on {HOST} is already in use; choose another with --port")
    threshold = small_cell_max()
    tls = http_tls(settings)
    database_url = db_roles.database_url(settings, db_roles.ANALYST)
    run_sync(_check_database(database_url))
    if tls.context is None:
        print(f"warning: {plaintext_warning('kim serve', HOST)}", file=sys.stderr)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # The HTTP stack takes longer to import than all the rest: loaded to serve, not for `kim serve --help`.
    from web.analysts.app import WebConfig, serve

    config = WebConfig(database_url, settings.topic_prefix, threshold)
    serve(config, HOST, port, ssl_context=tls.context, note=tls.trust_note())
    return 0


async def _check_database(url: str) -> None:
    try:
        conn = await asyncpg.connect(url, timeout=10)
    except (OSError, asyncpg.PostgresError, asyncpg.ClientConfigurationError) as why:
        reason = str(why).splitlines()[0] if str(why) else type(why).__name__
        line = db_roles.refusal(why) or f"cannot reach the database ({reason}); start it with `kim up`"
        raise SetupError(line) from None
    try:
        if not await conn.fetchval("SELECT to_regprocedure('analytics.small_cell_max()') IS NOT NULL"):
            raise SetupError("the analytics schema is missing; apply the migrations with `kim up`")
    finally:
        await conn.close()
