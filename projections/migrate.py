"""Applies ``projections/migrations/*.sql`` in order, once each, tracked in ``schema_migrations``.

Each file runs in its own transaction under an advisory lock, so two `kim up` at once are
safe. After them the database roles get their grants (``projections/grants.py``), every time.
A migration that was applied and later edited is refused: published SQL is history.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from pathlib import Path

import asyncpg

from projections.grants import apply_grants
from schemas.errors import KimError

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
_LOCK_ID = 0x4B494D  # "KIM"


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


async def migrate(conn: asyncpg.Connection, migrations: list[Migration] | None = None) -> list[str]:
    """Apply what is missing; return the versions applied now."""
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
                if applied[migration.version] != migration.checksum:
                    raise MigrationError(
                        f"migration {migration.version} was changed after it was applied; "
                        "add a new migration file instead of editing a published one"
                    )
                continue
            async with conn.transaction():
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
