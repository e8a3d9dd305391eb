"""The client keys in PostgreSQL (``client_keys``): made on first use, cached, forgotten the moment one is erased.

The table holds no pseudonym and no key in clear (migrations 0110/0111): a client is found by
``client_digest = HMAC-SHA256(pepper, pseudonym)`` and its key is stored ``wrapped`` under the current
key-encryption key (KEK, ``kek_id``); pepper and KEK are files in the secrets directory
(``infra/platform_secrets.py``), never in the database. Wrapping and unwrapping happen here, in the process:
PostgreSQL (its tables, WAL and backups) never sees a client key in clear.

A platform-side publisher calls ``await store.load(refs)`` for the pseudonyms of what it is about to
publish — one round trip that creates the missing keys and reads the others — and then seals from the
cache (``store.ring``) without touching the database again. The store LISTENs on ``kim_client_keys``: when
`kim erase` destroys a key it NOTIFYs in its transaction, and every running store drops the key from its cache
as soon as the erasure commits, so the next CaseOpened for that pseudonym gets a new key. While the store is
not listening (before it starts, after its connection was lost) it trusts no cached key and loads anew.
Partners' own SDK publishers have no access to this table: they cannot publish CaseOpened or ApplicationFiled
(``schemas.sealing.NO_KEY_STORE``).
"""

from __future__ import annotations

import asyncpg

from infra.errors import SetupError
from infra.platform_secrets import Secrets, SecretsMissing
from schemas.sealing import (
    ClientKey,
    KeyRing,
    SealError,
    client_digest,
    new_key,
    pepper_fingerprint,
    unwrap_key,
    wrap_key,
)

CHANNEL = "kim_client_keys"  # NOTIFY payloads: "erased <key_id>", "rotated <kek_id>"
ERASED, ROTATED = "erased", "rotated"

_LOAD = """
WITH wanted (client_digest, key_id, wrapped) AS (SELECT * FROM unnest($1::bytea[], $2::text[], $3::bytea[])),
made AS (
    INSERT INTO client_keys (client_digest, key_id, wrapped, kek_id)
    SELECT client_digest, key_id, wrapped, $4 FROM wanted
    ON CONFLICT (client_digest) DO NOTHING
    RETURNING client_digest, key_id, wrapped, kek_id
)
SELECT client_digest, key_id, wrapped, kek_id FROM made
UNION ALL
SELECT k.client_digest, k.key_id, k.wrapped, k.kek_id FROM client_keys k JOIN wanted USING (client_digest)
"""


class KeyStoreUnavailable(SetupError):
    """The key table cannot be reached: nothing that needs sealing can be published now."""


async def verified_pepper(conn: asyncpg.Connection, secrets: Secrets) -> bytes:
    """The pepper of the secrets directory, checked against the fingerprint the database keeps."""
    pepper = secrets.pepper()
    known = await conn.fetchval("SELECT fingerprint FROM secret_fingerprints WHERE name = 'pepper'")
    if known is None:
        raise SecretsMissing("the database knows no pepper yet: run `kim up` (it makes the secrets directory)")
    if bytes(known) != pepper_fingerprint(pepper):
        raise SecretsMissing(
            f"the secrets directory {secrets.directory} belongs to another installation (its pepper is not this "
            "database's); set KIM_SECRETS_DIR to this installation's directory"
        )
    return pepper


async def current_kek(conn: asyncpg.Connection | asyncpg.Pool, secrets: Secrets) -> tuple[str, bytes]:
    """The id and bytes of the KEK new client keys are wrapped with (the database says which, the file holds it)."""
    ids = [r["kek_id"] for r in await conn.fetch("SELECT kek_id FROM key_encryption_keys")]
    if len(ids) != 1:
        raise SecretsMissing(
            f"the database names {len(ids)} key-encryption keys instead of one: run `kim up` (it makes the first)"
        )
    return ids[0], secrets.kek(ids[0])


class ClientKeyStore:
    """The platform's client keys: ``load`` creates and caches, ``ring`` seals from the cache."""

    def __init__(self, database_url: str, secrets: Secrets) -> None:
        self.database_url = database_url
        self.secrets = secrets
        self.ring = KeyRing()
        self._pool: asyncpg.Pool | None = None
        self._listener: asyncpg.Connection | None = None
        self._pepper: bytes | None = None
        self._kek: tuple[str, bytes] | None = None  # the current KEK, until a rotation is heard of
        self._erased: set[str] = set()  # key ids heard destroyed: never cached again, even from a read in flight

    async def start(self) -> None:
        """The pool and the LISTEN connection (again, when it was lost: then every cached key is dropped)."""
        if self._pool is None:
            try:
                self._pool = await asyncpg.create_pool(self.database_url, min_size=0, max_size=2, timeout=10)
            except (OSError, asyncpg.PostgresError) as why:
                raise KeyStoreUnavailable(f"cannot reach the client key table in PostgreSQL ({why})") from None
        if self._listener is None or self._listener.is_closed():
            self.ring.clear()  # erasures made while nobody listened are unknown here: trust no cached key
            self._kek = None
            try:
                listener = await asyncpg.connect(self.database_url, timeout=10)
            except (OSError, asyncpg.PostgresError) as why:
                raise KeyStoreUnavailable(f"cannot listen for erased client keys in PostgreSQL ({why})") from None
            try:
                await listener.add_listener(CHANNEL, self._heard)
                self._pepper = await verified_pepper(listener, self.secrets)
            except (OSError, asyncpg.PostgresError, SecretsMissing) as why:
                await listener.close()
                raise KeyStoreUnavailable(f"cannot use the client key table ({why})") from None
            listener.add_termination_listener(self._lost)
            self._listener = listener

    def _heard(self, _conn: object, _pid: int, _channel: str, payload: str) -> None:
        what, _, name = payload.partition(" ")
        if what == ERASED:
            self._erased.add(name)
            self.ring.forget(name)
        elif what == ROTATED:
            self._kek = None  # read the new one when a key is next made; the old file is being destroyed

    def _lost(self, _conn: object) -> None:
        self.ring.clear()
        self._kek = None
        self._listener = None

    async def close(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None and not listener.is_closed():
            await listener.close()
        if self._pool is not None:
            pool, self._pool = self._pool, None
            await pool.close()
        self._kek = None

    async def __aenter__(self) -> ClientKeyStore:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def load(self, refs: list[str]) -> None:
        """Make sure ``ring`` holds a key for each pseudonym: read it, or create it (one round trip)."""
        await self.start()  # first: a key cached while not listening could be an erased one
        missing = self.ring.missing(refs)
        if not missing:
            return
        assert self._pool is not None and self._pepper is not None
        by_digest = {client_digest(self._pepper, ref): ref for ref in missing}
        for _ in range(3):  # a key made concurrently, or a KEK rotated meanwhile, is handled on the next pass
            try:
                if self._kek is None:
                    self._kek = await current_kek(self._pool, self.secrets)
                kek_id, kek = self._kek
                made = [new_key() for _ in missing]
                digests = [client_digest(self._pepper, ref) for ref in missing]
                wrapped = [wrap_key(kek, kek_id, key_id, key) for key_id, key in made]
                rows = await self._pool.fetch(_LOAD, digests, [m[0] for m in made], wrapped, kek_id)
            except asyncpg.ForeignKeyViolationError:  # `kim keys rotate` retired this KEK a moment ago
                self._kek = None
                continue
            except SecretsMissing as why:
                raise KeyStoreUnavailable(str(why)) from None
            except (OSError, asyncpg.PostgresError) as why:
                raise KeyStoreUnavailable(f"cannot read or create client keys in PostgreSQL ({why})") from None
            for row in rows:
                ref = by_digest.get(bytes(row["client_digest"]))
                if ref is None or row["key_id"] in self._erased:
                    continue
                key = self._unwrap(row)
                if key is not None:
                    self.ring.add(ref, row["key_id"], key)
            missing = self.ring.missing(missing)
            if not missing:
                return
        raise KeyStoreUnavailable(f"no client key could be made for {len(missing)} pseudonym(s); try again")

    def _unwrap(self, row: asyncpg.Record) -> bytes | None:
        """The row's key; None when its KEK was rotated away between the read and now (read again)."""
        current = self._kek
        try:
            kek = current[1] if current is not None and current[0] == row["kek_id"] else self.secrets.kek(row["kek_id"])
        except SecretsMissing:
            self._kek = None
            return None
        try:
            return unwrap_key(kek, row["kek_id"], row["key_id"], bytes(row["wrapped"]))
        except SealError as why:
            raise KeyStoreUnavailable(f"{why}: the secrets directory does not match the key table") from None


async def key_id_of(conn: asyncpg.Connection, pepper: bytes, client_ref: str) -> str | None:
    """The id of the client's key, or None (never sealed, or erased). Needs only the pepper, not the KEK."""
    return await conn.fetchval(
        "SELECT key_id FROM client_keys WHERE client_digest = $1", client_digest(pepper, client_ref)
    )


async def key_of(conn: asyncpg.Connection, secrets: Secrets, client_ref: str) -> ClientKey | None:
    """The client's key, unwrapped, or None (never sealed, or erased). Creates nothing."""
    pepper = await verified_pepper(conn, secrets)
    row = await conn.fetchrow(
        "SELECT key_id, wrapped, kek_id FROM client_keys WHERE client_digest = $1", client_digest(pepper, client_ref)
    )
    return None if row is None else _opened(secrets, row)


async def keys_by_id(conn: asyncpg.Connection, secrets: Secrets, key_ids: list[str]) -> dict[str, ClientKey]:
    """The keys that still exist among ``key_ids`` (to open sealed values, e.g. in a test or an audit)."""
    rows = await conn.fetch("SELECT key_id, wrapped, kek_id FROM client_keys WHERE key_id = ANY($1::text[])", key_ids)
    return {r["key_id"]: _opened(secrets, r) for r in rows}


def _opened(secrets: Secrets, row: asyncpg.Record) -> ClientKey:
    try:
        key = unwrap_key(secrets.kek(row["kek_id"]), row["kek_id"], row["key_id"], bytes(row["wrapped"]))
    except SealError as why:
        raise SecretsMissing(f"{why}; the secrets directory does not match the database") from None
    return ClientKey.of(row["key_id"], key)
