"""Applies ``projections/migrations/*.sql`` in order, once each, tracked in ``schema_migrations``.

Each file runs in its own transaction under an advisory lock, so two `kim up` at once are
safe. After them the database roles get their grants (``projections/grants.py``), every time.
A migration that was applied and later edited is refused: published SQL is history. Only its documentation
may be reworded — comments, and the text of ``COMMENT ON`` statements (a later migration sets a reworded
``COMMENT ON`` again): ``REWORDED`` names each such migration with the checksums it had before, and a database
that applied an earlier wording gets the current checksum recorded. A unit test holds every reworded migration's
statements to what they were (``statements_digest``).

``hooks`` lets the caller do, in a migration's transaction and just before its SQL, what SQL alone cannot: `kim up`
wraps the client keys with a key kept outside the database before 0111 drops their clear column
(``infra/key_custody.py``). A migration that depends on its hook refuses to run without it when it would lose data.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import asyncpg

from projections.grants import apply_grants
from schemas.errors import KimError

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
_LOCK_ID = 0x4B494D  # "KIM"
Hook = Callable[[asyncpg.Connection], Awaitable[None]]


# version -> checksums of its earlier wordings (file paths after the layout change; the domain document's place)
REWORDED: dict[str, frozenset[str]] = {
    "0060_analytics": frozenset({"c61c0354ba1818b45fb42e3c59b139b0c3273732b5ad68f03489ba8db1560414"}),
    "0090_analytics_secondary_suppression": frozenset(
        {"eae2913aedb2752fa87484e75e5fe290343d35dee8a4478673074a7b96730d9a"}
    ),
    "0091_gateway_idempotency": frozenset({"1aade4906ff94326139ca2295e4840b10b6dea64668822bb5f98fc59381bc5d1"}),
    "0092_partner_views": frozenset({"e04273bd902f7bcbabf45311faf0530d430b0ab47f98e36d493349cfdb6da045"}),
    "0096_dlq_tally": frozenset({"fedc6543073ac77117ca2f343b845396ed59070f13b4827b940d6446f028c9f8"}),
}
_COMMENT = re.compile(r"--[^\n]*")
_COMMENT_ON = re.compile(r"COMMENT ON (.*?) IS\s*'(?:[^']|'')*'", re.DOTALL)


def statements_digest(sql: str) -> str:
    """The digest of a migration's statements without its documentation (comments, COMMENT ON texts)."""
    bare = _COMMENT_ON.sub(lambda m: f"COMMENT ON {m.group(1)} IS ''", _COMMENT.sub("", sql))
    return hashlib.sha256(" ".join(bare.split()).encode()).hexdigest()


class MigrationError(KimError):
    """The migrations cannot be applied as they are (an applied one was changed, or one failed)."""


@dataclass(frozen=True)
class Migration:
    version: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


def load_migrations(directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    return [Migration(p.stem, p.read_text(encoding="utf-8")) for p in sorted(directory.glob("*.sql"))]


async def migrate(
    conn: asyncpg.Connection, migrations: list[Migration] | None = None, hooks: Mapping[str, Hook] | None = None
) -> list[str]:
    """Apply what is missing; return the versions applied now. ``hooks``: version -> work run before its SQL."""
    migrations = load_migrations() if migrations is None else migrations
    await conn.execute("SELECT pg_advisory_lock($1)", _LOCK_ID)
    try:
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            " version text PRIMARY KEY, checksum text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())"
        )
        applied = {
            r["version"]: r["checksum"] for r in await conn.fetch("SELECT version, checksum FROM schema_migrations")
        }
        done = []
        for migration in migrations:
            if migration.version in applied:
                was = applied[migration.version]
                if was != migration.checksum and was in REWORDED.get(migration.version, ()):
                    await conn.execute(
                        "UPDATE schema_migrations SET checksum = $2 WHERE version = $1",
                        migration.version,
                        migration.checksum,
                    )
                elif was != migration.checksum:
                    raise MigrationError(
                        f"migration {migration.version} was changed after it was applied; "
                        "add a new migration file instead of editing a published one"
                    )
                continue
            async with conn.transaction():
                hook = (hooks or {}).get(migration.version)
                if hook is not None:
                    await hook(conn)
                await conn.execute(migration.sql)
                await conn.execute(
                    "INSERT INTO schema_migrations (version, checksum) VALUES ($1, $2)",
                    migration.version,
                    migration.checksum,
                )
            done.append(migration.version)
        for table in await apply_grants(conn):  # every run: the roles' grants cover every table there is now
            logging.getLogger(__name__).warning(
                "table %s has no grants for any role; add it to projections/grants.py", table
            )
        return done
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", _LOCK_ID)
