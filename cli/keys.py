"""`kim keys rotate`: a new key-encryption key, every client key re-wrapped under it, the old one destroyed.

Run after an erasure has been made final: a deleted client key whose wrapped bytes linger in table files, WAL or
backups can no longer be unwrapped once the KEK it was wrapped with is destroyed (infra/key_custody.py). As the
operations role (the owner's login only for ``VACUUM client_keys`` afterwards); recorded in the audit log.
"""

from __future__ import annotations

import argparse

import asyncpg

from infra import db_roles
from infra.errors import SetupError
from infra.key_custody import Rotation, render, rotate
from infra.platform_secrets import Secrets
from infra.processes import run_sync
from infra.settings import Settings


def add_arguments(parser: argparse.ArgumentParser) -> None:
    verbs = parser.add_subparsers(dest="verb", required=True, metavar="VERB")
    verbs.add_parser(
        "rotate",
        help="make a new key-encryption key, re-wrap every client key under it, destroy the old one",
    )


async def _rotate(settings: Settings) -> Rotation:
    try:
        conn = await asyncpg.connect(db_roles.database_url(settings, db_roles.OPERATIONS), timeout=10)
    except (OSError, asyncpg.PostgresError) as why:
        raise SetupError(f"cannot reach the platform database ({type(why).__name__}); start it with `kim up`") from None
    try:
        return await rotate(
            conn, Secrets(settings.secrets_dir), settings.actor, db_roles.database_url(settings, db_roles.ADMIN)
        )
    except asyncpg.UndefinedTableError:
        raise SetupError("the database has no key tables yet; run `kim up` (it applies the migrations)") from None
    finally:
        await conn.close()


def run(settings: Settings, args: argparse.Namespace) -> int:
    if args.verb == "rotate":
        print(render(run_sync(_rotate(settings))))
    return 0
