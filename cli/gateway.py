"""`kim gateway`: check Kafka and the port, then run the HTTP gateway (HTTPS) until Ctrl-C / SIGTERM."""

from __future__ import annotations

import argparse
import logging
import sys

from cli.preflight import require_kafka
from infra import db_roles, postgres_server
from infra.client_keys import verified_pepper
from infra.errors import SetupError
from infra.http_tls import http_tls, plaintext_warning
from infra.platform_identity import kafka_connection
from infra.platform_secrets import Secrets
from infra.processes import port_in_use, run_sync
from infra.settings import Settings

MIB = 1024 * 1024


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8088, help="port to listen on (default 8088)")
    parser.add_argument("--max-body-bytes", type=int, default=MIB, help=f"request size limit (default {MIB})")
    parser.add_argument("--max-batch", type=int, default=500, help="events per batch request (default 500)")


def run(settings: Settings, args: argparse.Namespace) -> int:
    """Serve until Ctrl-C / SIGTERM."""
    host, port, max_body_bytes, max_batch = args.host, args.port, args.max_body_bytes, args.max_batch
    if not 1 <= port <= 65535:
        raise SetupError(f"--port {port} is not a TCP port; choose one from 1024 to 65535")
    if max_body_bytes < 1024 or max_batch < 1:
        raise SetupError("--max-body-bytes must be at least 1024 and --max-batch at least 1")
    try:
        taken = port_in_use(host, port)
    except OSError as why:
        raise SetupError(f"cannot listen on {host}:{port} ({why.strerror}); choose another --host") from None
    if taken:
        raise SetupError(f"port {port} on {host} is already in use; choose another with --port")
    tls = http_tls(settings)  # a broken certificate stops here, before Kafka and the database are asked
    require_kafka(settings)
    if tls.context is None:
        print(f"warning: {plaintext_warning('kim gateway', host)}", file=sys.stderr)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    database_url = db_roles.database_url(settings, db_roles.GATEWAY)  # tokens, keys, consents, idempotency keys
    postgres_server.wait_for_database(database_url, timeout=5.0)
    secrets = Secrets(settings.secrets_dir)  # pepper and key-encryption key: this installation's, or refuse now
    run_sync(_check_secrets(database_url, secrets))
    # The HTTP stack takes longer to import than all the rest: loaded to serve, not for `kim gateway --help`.
    from web.gateway.config import GatewayConfig
    from web.gateway.serve import serve

    config = GatewayConfig(
        kafka_connection(settings),
        settings.topic_prefix,
        max_body_bytes=max_body_bytes,
        max_batch=max_batch,
        database_url=database_url,
        secrets=secrets,
    )
    serve(config, host, port, ssl_context=tls.context, note=tls.trust_note())
    return 0


async def _check_secrets(database_url: str, secrets: Secrets) -> None:
    import asyncpg

    conn = await asyncpg.connect(database_url, timeout=10)
    try:
        await verified_pepper(conn, secrets)
    finally:
        await conn.close()
