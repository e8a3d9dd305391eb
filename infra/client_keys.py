"""The client keys in PostgreSQL (``client_keys``, migration 0093): made on first use, cached, destroyed on erasure.

A platform-side publisher calls ``await store.load(refs)`` for the pseudonyms of what it is about to
publish — one round trip that creates the missing keys and reads the others — and then seals from the
cache (``store.ring``) without touching the database again. Partners' own SDK publishers have no access
to this table: they cannot publish CaseOpened or ApplicationFiled (``schemas.sealing.NO_KEY_STORE``).
"""

from __future__ import annotations

import asyncpg

from infra.errors import SetupError
from schemas.sealing import ClientKey, KeyRing, new_key

_LOAD = """
WITH wanted (client_ref, key_id, key) AS (SELECT * FROM unnest($1::text[], $2::text[], $3::bytea[])),
made AS (
    INSERT INTO client_keys (client_ref, key_id, key) SELECT client_ref, key_id, key FROM wanted
    ON CONFLICT (client_ref) DO NOTHING
    RETURNING client_ref, key_id, key
)
SELECT client_ref, key_id, key FROM made
UNION ALL
SELECT k.client_ref, k.key_id, k.key FROM client_keys k JOIN wanted USING (client_ref)
"""


class KeyStoreUnavailable(SetupError):
    """The key table cannot be reached: nothing that needs sealing can be published now."""


class ClientKeyStore:
    """The platform's client keys: ``load`` creates and caches, ``ring`` seals from the cache."""

    def __init__(self, database_url: str) -> None:
        self.database_url = database_url
        self.ring = KeyRing()
        self._pool: asyncpg.Pool | None = None

    async def start(self) -> None:
        if self._pool is None:
            try:
                self._pool = await asyncpg.create_pool(self.database_url, min_size=0, max_size=2, timeout=10)
            except (OSError, asyncpg.PostgresError) as why:
                raise KeyStoreUnavailable(f"cannot reach the client key table in PostgreSQL ({why})") from None

    async def close(self) -> None:
        if self._pool is not None:
            pool, self._pool = self._pool, None
            await pool.close()

    async def __aenter__(self) -> ClientKeyStore:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def load(self, refs: list[str]) -> None:
        """Make sure ``ring`` holds a key for each pseudonym: read it, or create it (one round trip)."""
        missing = self.ring.missing(refs)
        if not missing:
            return
        await self.start()
        assert self._pool is not None
        for _ in range(2):  # a key made concurrently by another publisher is read on the second pass
            made = [new_key() for _ in missing]
            try:
                rows = await self._pool.fetch(_LOAD, missing, [m[0] for m in made], [m[1] for m in made])
            except (OSError, asyncpg.PostgresError) as why:
                raise KeyStoreUnavailable(f"cannot read or create client keys in PostgreSQL ({why})") from None
            for row in rows:
                self.ring.add(row["client_ref"], row["key_id"], bytes(row["key"]))
            missing = self.ring.missing(missing)
            if not missing:
                return
        raise KeyStoreUnavailable(f"no client key could be made for {len(missing)} pseudonym(s); try again")


async def key_of(conn: asyncpg.Connection, client_ref: str) -> ClientKey | None:
    """The client's key, or None (never sealed, or erased). Creates nothing."""
    row = await conn.fetchrow("SELECT key_id, key FROM client_keys WHERE client_ref = $1", client_ref)
    return None if row is None else ClientKey.of(row["key_id"], bytes(row["key"]))


async def keys_by_id(conn: asyncpg.Connection, key_ids: list[str]) -> dict[str, ClientKey]:
    """The keys that still exist among ``key_ids`` (to open sealed values, e.g. in a test or an audit)."""
    rows = await conn.fetch("SELECT key_id, key FROM client_keys WHERE key_id = ANY($1::text[])", key_ids)
    return {r["key_id"]: ClientKey.of(r["key_id"], bytes(r["key"])) for r in rows}
