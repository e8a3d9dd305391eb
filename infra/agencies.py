"""Agency identities in the platform database: gateway tokens (hashed) and signing keys.

The Kafka side of an identity (its SCRAM login and ACLs) is in ``infra/kafka_admin.py``;
`kim agency add` (``cli/agency.py``) does both. Pure helpers plus thin asyncpg queries.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass, field
from datetime import datetime

import asyncpg

from infra import audit
from schemas.signing import SigningKey

TOKEN_PREFIX = "kimgw_"


def kafka_user(agency: str) -> str:
    """The Kafka principal name of an agency: ``JOBCENTER`` → ``agency-jobcenter``."""
    return "agency-" + agency.lower().replace("_", "-")


def token_hash(token: str) -> bytes:
    """Tokens are 256 random bits, so a plain SHA-256 is enough (no password-stretching needed)."""
    return hashlib.sha256(token.encode()).digest()


@dataclass(frozen=True)
class AgencyCredentials:
    """What `kim agency add` hands out once: nothing of it but the token's hash and the key stay with us."""

    agency: str
    username: str
    password: str = field(repr=False)
    signing_key: SigningKey = field(repr=False)
    token: str = field(repr=False)

    @classmethod
    def new(cls, agency: str) -> AgencyCredentials:
        return cls(
            agency,
            kafka_user(agency),
            secrets.token_urlsafe(24),
            SigningKey.new(agency),
            TOKEN_PREFIX + secrets.token_urlsafe(32),
        )


@dataclass(frozen=True)
class AgencyRow:
    agency: str
    kafka_user: str
    added_at: datetime
    removed_at: datetime | None
    keys: list[str]


async def active(conn: asyncpg.Connection, agency: str) -> bool:
    return bool(await conn.fetchval("SELECT 1 FROM agencies WHERE agency = $1 AND removed_at IS NULL", agency))


async def register(conn: asyncpg.Connection, credentials: AgencyCredentials, actor: str = "kim") -> None:
    """Store the token's hash and the signing key (a re-added agency gets a new token and key); audited."""
    async with conn.transaction():
        details = {"kafka_user": credentials.username, "signing_key": credentials.signing_key.key_id}
        await audit.record(conn, actor, "agency.add", credentials.agency, "ok", details)
        await conn.execute(
            "INSERT INTO agencies (agency, kafka_user, token_hash) VALUES ($1, $2, $3)"
            " ON CONFLICT (agency) DO UPDATE SET kafka_user = EXCLUDED.kafka_user, token_hash = EXCLUDED.token_hash,"
            " added_at = now(), removed_at = NULL",
            credentials.agency,
            credentials.username,
            token_hash(credentials.token),
        )
        await conn.execute(
            "INSERT INTO signing_keys (key_id, agency, secret) VALUES ($1, $2, $3)",
            credentials.signing_key.key_id,
            credentials.agency,
            credentials.signing_key.secret,
        )


async def unregister(conn: asyncpg.Connection, agency: str, actor: str = "kim") -> datetime | None:
    """Revoke the token and retire the keys; returns when they were retired (None: none was still active). Audited.

    A retired key stays, so that the records appended before its retirement still verify on every rebuild; the
    stream side refuses every record signed with it that the broker appended at or after ``retired_at``
    (``streams/runtime/authenticity.py``). The time is taken while the key table is locked against every reader
    and rounded up to the next whole millisecond (the broker's append times are whole milliseconds): a worker that
    judged a record without seeing the retirement read the keys before the lock, so that record was appended
    before ``retired_at`` and every rebuild accepts it too; a record appended at or after it is judged with the
    retirement in view, live as in a rebuild. This holds as long as the broker and PostgreSQL share a clock.
    """
    async with conn.transaction():
        await conn.execute(
            "UPDATE agencies SET token_hash = NULL, removed_at = now() WHERE agency = $1 AND removed_at IS NULL", agency
        )
        await conn.execute("LOCK TABLE signing_keys IN ACCESS EXCLUSIVE MODE")  # readers wait for the commit
        retired = await conn.fetch(
            "UPDATE signing_keys SET retired_at = date_trunc('milliseconds', clock_timestamp())"
            " + interval '1 millisecond' WHERE agency = $1 AND retired_at IS NULL RETURNING key_id, retired_at",
            agency,
        )
        retired_at = max((r["retired_at"] for r in retired), default=None)
        details = {"kafka_user": kafka_user(agency), "retired_keys": sorted(r["key_id"] for r in retired)}
        if retired_at is not None:
            details["retired_at"] = retired_at.isoformat()
        await audit.record(conn, actor, "agency.remove", agency, "ok", details)
        return retired_at


async def listing(conn: asyncpg.Connection) -> list[AgencyRow]:
    rows = await conn.fetch(
        "SELECT a.agency, a.kafka_user, a.added_at, a.removed_at,"
        " coalesce(array_agg(k.key_id ORDER BY k.created_at) FILTER (WHERE k.retired_at IS NULL), '{}') AS keys"
        " FROM agencies a LEFT JOIN signing_keys k ON k.agency = a.agency GROUP BY a.agency ORDER BY a.agency"
    )
    return [AgencyRow(r["agency"], r["kafka_user"], r["added_at"], r["removed_at"], list(r["keys"])) for r in rows]


async def by_token(conn: asyncpg.Connection, token: str) -> tuple[str, SigningKey] | None:
    """The agency a gateway token speaks for and its current signing key, or None (unknown or revoked)."""
    row = await conn.fetchrow(
        "SELECT a.agency, k.key_id, k.secret FROM agencies a"
        " JOIN signing_keys k ON k.agency = a.agency AND k.retired_at IS NULL"
        " WHERE a.token_hash = $1 AND a.removed_at IS NULL ORDER BY k.created_at DESC LIMIT 1",
        token_hash(token),
    )
    return None if row is None else (row["agency"], SigningKey(row["key_id"], bytes(row["secret"])))


SIGNING_CUTOFFS, APPEND_TIME_CUTOFFS = "signing_cutoffs", "append_time_cutoffs"


async def record_cutoffs(
    conn: asyncpg.Connection, ends: dict[tuple[str, int], int], table: str = SIGNING_CUTOFFS
) -> int:
    """Remember, once per topic, where old records end; returns how many partitions had any.

    ``signing_cutoffs``: records below were written unsigned (before signing existed); ``append_time_cutoffs``:
    records below were written before the topic stamped the broker's append time (before any key was retired).
    """
    if table not in (SIGNING_CUTOFFS, APPEND_TIME_CUTOFFS):
        raise ValueError(f"no cutoff table {table!r}")
    known = {r["topic"] for r in await conn.fetch(f"SELECT DISTINCT topic FROM {table}")}
    new = [(t, p, end) for (t, p), end in sorted(ends.items()) if t not in known]
    if new:
        await conn.executemany(
            f"INSERT INTO {table} (topic, partition, from_offset) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING", new
        )
    return sum(1 for *_, end in new if end > 0)
