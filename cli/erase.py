"""`kim erase CLIENT_REF`: erase one client by crypto-shredding (streams/usecases/erasure.py); print the receipt."""

from __future__ import annotations

import argparse

from infra import db_roles
from infra.platform_identity import kafka_connection, platform_key
from infra.platform_secrets import Secrets
from infra.processes import run_sync
from infra.settings import Settings
from streams.usecases.erasure import erase, render


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("client_ref", metavar="CLIENT_REF", help="the client's pseudonym, as its agencies sent it")
    parser.add_argument(
        "--wait", type=float, default=60.0, help="seconds to wait for the projections to apply it (default 60)"
    )


def run(settings: Settings, args: argparse.Namespace) -> int:
    kafka = kafka_connection(settings)
    receipt = run_sync(
        erase(
            kafka,
            db_roles.database_url(settings, db_roles.OPERATIONS),
            args.client_ref,
            settings.actor,
            platform_key=platform_key(kafka),
            secrets=Secrets(settings.secrets_dir),
            owner_url=db_roles.database_url(settings, db_roles.ADMIN),  # only for VACUUM client_keys afterwards
            topic_prefix=settings.topic_prefix,
            wait_seconds=max(0.0, args.wait),
        )
    )
    print(render(receipt))
    return 0  # already erased is no harm; projections still applying it is said in the receipt
