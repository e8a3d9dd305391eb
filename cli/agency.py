"""`kim agency add|list|remove`: an agency's identity — Kafka login + ACLs, signing key, gateway token."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime

import asyncpg

from infra import agencies, db_roles, kafka_admin
from infra.errors import SetupError
from infra.platform_identity import kafka_connection
from infra.processes import run_sync
from infra.settings import Settings
from streams.sdk.draft import agencies as known_agencies


def add_arguments(parser: argparse.ArgumentParser) -> None:
    verbs = parser.add_subparsers(dest="verb", required=True, metavar="VERB")
    add = verbs.add_parser("add", help="create an agency's identity and print its credentials once")
    add.add_argument("name", help="the agency, e.g. JOBCENTER (kim agency add --help lists them)")
    verbs.add_parser("list", help="agencies with an identity (no secrets)")
    remove = verbs.add_parser(
        "remove", help="revoke an agency's Kafka login, ACLs and gateway token and retire its signing keys"
    )
    remove.add_argument("name", help="the agency, e.g. JOBCENTER")


def _agency(name: str) -> str:
    known = known_agencies()
    agency = name.strip().upper().replace("-", "_")
    if agency not in known:
        raise SetupError(f"{name!r} is not an agency; use one of {', '.join(known)}")
    return agency


async def _connect(settings: Settings) -> asyncpg.Connection:
    try:
        return await asyncpg.connect(db_roles.database_url(settings, db_roles.OPERATIONS), timeout=10)
    except (OSError, asyncpg.PostgresError) as why:
        raise SetupError(f"cannot reach the platform database ({type(why).__name__}); start it with `kim up`") from None


async def _db(settings: Settings, work):  # -> whatever work returns
    conn = await _connect(settings)
    try:
        return await work(conn)
    except asyncpg.UndefinedTableError:
        raise SetupError("the database has no agency tables yet; run `kim up` (it applies the migrations)") from None
    finally:
        await conn.close()


def add(settings: Settings, name: str) -> agencies.AgencyCredentials:
    agency = _agency(name)
    if run_sync(_db(settings, lambda conn: agencies.active(conn, agency))):
        raise SetupError(
            f"{agency} already has an identity; `kim agency remove {agency}` first to issue new credentials"
        )
    credentials = agencies.AgencyCredentials.new(agency)
    kafka_admin.add_principal(settings, credentials.username, credentials.password)
    run_sync(_db(settings, lambda conn: agencies.register(conn, credentials, settings.actor)))
    return credentials


def remove(settings: Settings, name: str) -> tuple[str, datetime | None]:
    """Revoke the Kafka login first, then retire the keys: a record the agency could still write is appended
    before the retirement (and counts); after it, only a key holder writing through another login could add
    one, and the stream side refuses it."""
    agency = _agency(name)
    if not run_sync(_db(settings, lambda conn: agencies.active(conn, agency))):
        raise SetupError(f"{agency} has no identity to remove (kim agency list shows who has one)")
    kafka_admin.remove_principal(settings, agencies.kafka_user(agency))
    retired_at = run_sync(_db(settings, lambda conn: agencies.unregister(conn, agency, settings.actor)))
    return agency, retired_at


def run(settings: Settings, args: argparse.Namespace) -> int:
    if args.verb == "add":
        c = add(settings, args.name)
        print(f"agency {c.agency} added. These secrets are shown only now; hand them to {c.agency} safely:")
        print(f"  Kafka username   {c.username}")
        print(f"  Kafka password   {c.password}")
        print(f"  signing key      {c.signing_key.export()}")
        print(f"  gateway token    {c.token}")
        ca = kafka_connection(settings).ca_file
        if ca:
            print(f"  Kafka CA file    {ca}")
        print(
            "SDK: Publisher(bootstrap, "
            f'"{c.agency}", username=…, password=…, signing_key=…); gateway: Authorization: Bearer <token>'
        )
        if ca:
            print("The CA file is not secret: hand it over too; clients verify the brokers' certificates against it.")
    elif args.verb == "remove":
        agency, retired_at = remove(settings, args.name)
        print(f"agency {agency} removed: Kafka login, ACLs and gateway token revoked")
        if retired_at is not None:
            print(
                f"signing keys retired at {retired_at.astimezone(UTC).isoformat(timespec='milliseconds')}: "
                f"records the broker appends from then on no longer count as {agency}'s; "
                "those appended before still verify"
            )
    else:
        rows = run_sync(_db(settings, agencies.listing))
        if not rows:
            print("no agency identities yet (kim agency add NAME)")
        for row in rows:
            state = (
                f"removed {row.removed_at:%Y-%m-%d %H:%M}" if row.removed_at else f"added {row.added_at:%Y-%m-%d %H:%M}"
            )
            keys = ", ".join(row.keys) or "-"
            print(f"{row.agency:<24} User:{row.kafka_user:<34} {state}  signing key {keys}")
    return 0
