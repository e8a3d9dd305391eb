"""Custody of the client keys: the secrets directory made and checked (`kim up`), the KEK rotated (`kim keys rotate`).

``provision_secrets`` (every `kim up`, after the migrations): makes the secrets directory on first use — the pepper and
the first key-encryption key (KEK) — records the KEK's id (``key_encryption_keys``) and the pepper's fingerprint
(``secret_fingerprints``), and otherwise checks that the directory belongs to this database and holds the KEK
the keys are wrapped with.

``migration_hooks``: what `kim up` does inside migration 0111's transaction, before that migration drops the clear
columns of an installation from before 0110 — the pepper the database kept (``client_erasure_pepper``) becomes
the pepper file, so earlier erasures are still found; every clear key is wrapped under the KEK and every
pseudonym replaced by its keyed hash; every stored idempotency hash is keyed. Afterwards `kim up` rewrites the two
tables (VACUUM FULL), so their old row versions leave the table files; old WAL and backups keep them until they
age out — a `kim keys rotate` after that leaves nothing they could open (see docs/operations.md).

``rotate``: a new KEK, every live key re-wrapped under it, its id recorded, all in one transaction (with the audit
entry); then every other KEK file is destroyed. A key stored meanwhile under the old KEK makes the transaction
fail on the foreign key (the store retries under the new one, the rotation starts again), so no live key is ever
left under a destroyed KEK.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field

import asyncpg

from infra import audit
from infra.client_keys import CHANNEL, ROTATED, current_kek, verified_pepper
from infra.errors import SetupError
from infra.platform_secrets import Secrets, SecretsMissing
from projections.migrate import Hook
from schemas.sealing import (
    PEPPER_BYTES,
    SealError,
    client_digest,
    keyed_digest,
    new_kek,
    pepper_fingerprint,
    unwrap_key,
    wrap_key,
)

Log = Callable[[str], None]
KEYS_LOCK = 0x4B494D4B  # "KIMK": provision and rotation never run at once (neither destroys the other's new KEK)
KEYED_IN = "0111_client_keys_keyed"  # the migration whose hook converts an installation from before 0110
IDEMPOTENCY = "kim.gateway_idempotency"  # the keyed hash's purpose for idempotency hashes (web/gateway)
ACTION = "keys.rotate"


def idempotency_digest(pepper: bytes, plain: bytes) -> bytes:
    """What ``gateway_idempotency.request_hash`` holds: HMAC-SHA256(pepper) of the request's SHA-256, never the SHA."""
    return keyed_digest(pepper, IDEMPOTENCY, plain)


async def _legacy_pepper(conn: asyncpg.Connection) -> bytes | None:
    if await conn.fetchval("SELECT to_regclass('public.client_erasure_pepper')") is None:
        return None
    found = await conn.fetchval("SELECT pepper FROM client_erasure_pepper")
    return None if found is None else bytes(found)


async def _pepper(conn: asyncpg.Connection, secrets: Secrets, log: Log) -> bytes:
    """The pepper file, made now if needed (from the database's older pepper when there is one), and checked."""
    known = await conn.fetchval("SELECT fingerprint FROM secret_fingerprints WHERE name = 'pepper'")
    legacy = await _legacy_pepper(conn)
    try:
        pepper = secrets.pepper()
    except SecretsMissing:
        if known is not None:
            raise SecretsMissing(
                f"the pepper of this database is missing from {secrets.directory}: restore the secrets directory "
                "from its backup (KIM_SECRETS_DIR names it) — without it no client key is found"
            ) from None
        if legacy is not None and len(legacy) != PEPPER_BYTES:
            raise SetupError(f"client_erasure_pepper holds {len(legacy)} bytes, not {PEPPER_BYTES}") from None
        pepper = secrets.write_pepper(legacy if legacy is not None else os.urandom(PEPPER_BYTES))
        log(f"secrets: made the pepper in {secrets.directory}" + (" (the database's, moved out)" if legacy else ""))
    if known is None:
        if legacy is not None and legacy != pepper:
            raise SecretsMissing(
                f"the pepper in {secrets.directory} is not the one this database used for erasures; set "
                "KIM_SECRETS_DIR to this installation's directory (or move the wrong one away)"
            )
        await conn.execute(
            "INSERT INTO secret_fingerprints (name, fingerprint) VALUES ('pepper', $1)", pepper_fingerprint(pepper)
        )
    elif bytes(known) != pepper_fingerprint(pepper):
        raise SecretsMissing(
            f"the secrets directory {secrets.directory} belongs to another installation (its pepper is not this "
            "database's); set KIM_SECRETS_DIR to this installation's directory"
        )
    return pepper


async def _kek(conn: asyncpg.Connection, secrets: Secrets, log: Log) -> tuple[str, bytes]:
    """The current KEK, made now (file first, then its id in the database) when there is none; checked."""
    if not await conn.fetchval("SELECT count(*) FROM key_encryption_keys"):
        kek_id, kek = new_kek()
        secrets.write_kek(kek_id, kek)
        await conn.execute("INSERT INTO key_encryption_keys (kek_id) VALUES ($1)", kek_id)
        log(f"secrets: made the key-encryption key {kek_id} in {secrets.directory}")
        return kek_id, kek
    try:
        kek_id, kek = await current_kek(conn, secrets)
    except SecretsMissing as why:
        raise SecretsMissing(
            f"{why} — it wraps every client key; restore it from the backup of the secrets directory"
        ) from None
    sample = await conn.fetchrow("SELECT key_id, wrapped FROM client_keys WHERE kek_id = $1 LIMIT 1", kek_id)
    if sample is not None:
        try:
            unwrap_key(kek, kek_id, sample["key_id"], bytes(sample["wrapped"]))
        except SealError as why:
            raise SecretsMissing(f"{why}: the file in {secrets.directory} is not the key the database used") from None
    return kek_id, kek


async def provision_secrets(
    conn: asyncpg.Connection, secrets: Secrets, log: Log = print
) -> tuple[bytes, tuple[str, bytes]]:
    """Make or check the secrets directory and what the database records of it; the pepper and the current KEK."""
    secrets.ensure_directory()
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", KEYS_LOCK)
        pepper = await _pepper(conn, secrets, log)
        kek = await _kek(conn, secrets, log)
    stale = [k for k in secrets.kek_ids() if k != kek[0]]
    if stale:
        log(f"secrets: key-encryption key file(s) {', '.join(stale)} wrap nothing now; `kim keys rotate` destroys them")
    return pepper, kek


def migration_hooks(secrets: Secrets, log: Log = print) -> dict[str, Hook]:
    """The work `kim up` does in migration transactions (projections/migrate.py ``hooks``)."""

    async def keyed_and_wrapped(conn: asyncpg.Connection) -> None:
        pepper, (kek_id, kek) = await provision_secrets(conn, secrets, log)
        clear = await conn.fetch("SELECT client_ref, key_id, key FROM client_keys WHERE key IS NOT NULL")
        if clear:
            await conn.execute(
                "UPDATE client_keys k SET client_digest = w.digest, wrapped = w.wrapped, kek_id = $4,"
                " client_ref = NULL, key = NULL"
                " FROM unnest($1::text[], $2::bytea[], $3::bytea[]) AS w(key_id, digest, wrapped)"
                " WHERE k.key_id = w.key_id",
                [r["key_id"] for r in clear],
                [client_digest(pepper, r["client_ref"]) for r in clear],
                [wrap_key(kek, kek_id, r["key_id"], bytes(r["key"])) for r in clear],
                kek_id,
            )
            log(f"client keys: {len(clear)} wrapped under {kek_id}, their pseudonyms replaced by keyed hashes")
        plain = await conn.fetch("SELECT agency, key, request_hash FROM gateway_idempotency")
        if plain:
            await conn.execute(
                "UPDATE gateway_idempotency g SET request_hash = w.keyed"
                " FROM unnest($1::text[], $2::text[], $3::bytea[]) AS w(agency, key, keyed)"
                " WHERE g.agency = w.agency AND g.key = w.key",
                [r["agency"] for r in plain],
                [r["key"] for r in plain],
                [idempotency_digest(pepper, bytes(r["request_hash"])) for r in plain],
            )
            log(f"gateway idempotency keys: {len(plain)} request hashes keyed with the pepper")

    return {KEYED_IN: keyed_and_wrapped}


async def rewrite_after_upgrade(owner_url: str) -> None:
    """After 0111 converted an older installation: rewrite the two tables, so the row versions that held clear
    keys, pseudonyms and plain hashes leave the table files (VACUUM FULL writes new files and drops the old)."""
    conn = await asyncpg.connect(owner_url, timeout=10)
    try:
        await conn.execute("VACUUM FULL client_keys")
        await conn.execute("VACUUM FULL gateway_idempotency")
    finally:
        await conn.close()


async def vacuum(owner_url: str | None) -> str | None:
    """VACUUM client_keys (outside any transaction; PostgreSQL before 17 lets only the owner): None, or why not."""
    if owner_url is None:
        return "no owner login given"
    try:
        conn = await asyncpg.connect(owner_url, timeout=10)
    except (OSError, asyncpg.PostgresError) as why:
        return f"cannot log in as the owner ({type(why).__name__})"
    try:
        await conn.execute("VACUUM client_keys")
    except asyncpg.PostgresError as why:
        return str(why)
    finally:
        await conn.close()
    return None


@dataclass
class Rotation:
    kek_id: str
    retired: list[str]  # the KEK ids the database named before
    rewrapped: int
    destroyed: list[str] = field(default_factory=list)  # KEK files overwritten and unlinked
    vacuum_problem: str | None = None


async def rotate(conn: asyncpg.Connection, secrets: Secrets, actor: str, owner_url: str | None = None) -> Rotation:
    """`kim keys rotate`: new KEK, every live key re-wrapped under it, the old KEK files destroyed. Audited."""
    await verified_pepper(conn, secrets)  # the directory is this database's: never destroy another's KEK
    await conn.execute("SELECT pg_advisory_lock($1)", KEYS_LOCK)
    try:
        rotation = None
        for _ in range(5):
            rotation = await _rotate_once(conn, secrets, actor)
            if rotation is not None:
                break
        if rotation is None:
            raise SetupError("client keys kept being made under the old key-encryption key; run kim keys rotate again")
        for kek_id in secrets.kek_ids():
            if kek_id != rotation.kek_id and secrets.destroy_kek(kek_id):
                rotation.destroyed.append(kek_id)
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", KEYS_LOCK)
    rotation.vacuum_problem = await vacuum(owner_url)
    return rotation


async def _rotate_once(conn: asyncpg.Connection, secrets: Secrets, actor: str) -> Rotation | None:
    """One attempt in one transaction; None when a key was stored under the old KEK meanwhile (try again)."""
    kek_id, kek = new_kek()
    secrets.write_kek(kek_id, kek)  # first on disk, durably: the database names it only once it exists
    try:
        async with conn.transaction():
            retired = [r["kek_id"] for r in await conn.fetch("SELECT kek_id FROM key_encryption_keys")]
            await conn.execute("INSERT INTO key_encryption_keys (kek_id) VALUES ($1)", kek_id)
            rows = await conn.fetch("SELECT key_id, wrapped, kek_id FROM client_keys FOR UPDATE")
            keks = {old: secrets.kek(old) for old in {r["kek_id"] for r in rows}}
            opened = [unwrap_key(keks[r["kek_id"]], r["kek_id"], r["key_id"], bytes(r["wrapped"])) for r in rows]
            rewrapped = [wrap_key(kek, kek_id, r["key_id"], key) for r, key in zip(rows, opened, strict=True)]
            await conn.execute(
                "UPDATE client_keys k SET wrapped = w.wrapped, kek_id = $3"
                " FROM unnest($1::text[], $2::bytea[]) AS w(key_id, wrapped) WHERE k.key_id = w.key_id",
                [r["key_id"] for r in rows],
                rewrapped,
                kek_id,
            )
            # Refused by the foreign key if a key was stored under a retired KEK since the read above.
            await conn.execute("DELETE FROM key_encryption_keys WHERE kek_id <> $1", kek_id)
            await conn.execute("SELECT pg_notify($1, $2)", CHANNEL, f"{ROTATED} {kek_id}")
            details = {"kek_id": kek_id, "retired": retired, "rewrapped": len(rows)}
            await audit.record(conn, actor, ACTION, kek_id, "ok", details)
    except asyncpg.ForeignKeyViolationError:
        secrets.destroy_kek(kek_id)
        return None
    except BaseException:
        secrets.destroy_kek(kek_id)  # it wraps nothing: the database never named it
        raise
    return Rotation(kek_id, retired, len(rows))


def render(rotation: Rotation) -> str:
    """What `kim keys rotate` prints. Pure."""
    lines = [
        f"new key-encryption key {rotation.kek_id}: {rotation.rewrapped} client key(s) re-wrapped under it",
        f"  retired: {', '.join(rotation.retired) or 'none'}; files destroyed (overwritten, unlinked): "
        f"{', '.join(rotation.destroyed) or 'none'}",
        "  wrapped keys left in old table files, WAL or backups can no longer be unwrapped",
    ]
    if rotation.vacuum_problem is None:
        lines.append("  client_keys vacuumed")
    else:
        lines.append(f"  client_keys not vacuumed ({rotation.vacuum_problem}); autovacuum will")
    lines.append(f"  recorded in the audit log: kim audit --action {ACTION}")
    return "\n".join(lines)
