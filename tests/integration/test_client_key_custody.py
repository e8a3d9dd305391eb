"""The client keys' custody through the real broker, database and gateway (the data-protection officer's findings):

(a) after `kim erase` and `kim keys rotate`, nothing in PostgreSQL's data directory (table files, indexes, WAL) opens
    the erased client's sealed pseudonym on the log: the raw key was never written, and its wrapped copies open
    under no key-encryption key left in the secrets directory;
(b) no column of `client_keys` (nor of `gateway_idempotency`) holds a pseudonym;
(c) a running gateway forgets an erased key at once: a new CaseOpened for the same pseudonym gets a new key;
(d) a dictionary of request bodies (SHA-256, as an attacker computes it) finds nothing in `gateway_idempotency`.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import sys
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from aiohttp.test_utils import TestClient, TestServer

from infra import bringup, postgres_server
from infra.client_keys import key_of
from infra.key_custody import idempotency_digest
from infra.platform_secrets import Secrets
from infra.settings import Settings
from projections.migrate import load_migrations
from schemas import Codec
from schemas.samples import sample_payload
from schemas.sealing import ClientKey, SealError, new_key, unseal, unwrap_key
from streams.usecases.erasure import digest, previous_erasure
from tests.integration.conftest import REPO, Lane
from tests.integration.helpers import agency_headers, read_all, run_kim
from web.gateway import GatewayConfig, make_app

pytestmark = pytest.mark.integration

AGENCY = "KIM_CASE_MANAGEMENT"


def opened(case_id: str, client_ref: str) -> dict[str, Any]:
    return {
        "event_type": "CaseOpened",
        "payload": {**sample_payload("CaseOpened"), "case_id": case_id, "client_ref": client_ref},
    }


def config(lane: Lane) -> GatewayConfig:
    return GatewayConfig(
        lane.kafka, lane.prefix, database_url=lane.role_urls.get("gateway", lane.database_url), secrets=lane.secrets
    )


async def with_gateway(lane: Lane, scenario: Callable[[TestClient, dict[str, str]], Awaitable[None]]) -> None:
    headers = await agency_headers(lane, AGENCY)
    async with TestClient(TestServer(make_app(config(lane)), host="127.0.0.1")) as client:
        await scenario(client, headers)


async def post(client: TestClient, headers: dict[str, str], body: Any, path: str = "/v1/events", **extra: str) -> Any:
    answer = await client.post(path, json=body, headers={**headers, **extra})
    assert answer.status == 202, await answer.text()
    return await answer.json()


async def sealed_openings(lane: Lane) -> dict[str, Any]:
    """Every CaseOpened on the lane's log, decoded, by case id."""
    codec = Codec()
    events = [codec.decode(r.value) for r in await read_all(lane, "kim.cases")]
    return {e.payload["case_id"]: e for e in events if e.event_type == "CaseOpened"}


def opens(key: bytes, key_id: str, event: Any) -> bool:
    try:
        unseal(ClientKey.of(key_id, key), event.payload["client_sealed"], "CaseOpened", event.payload["case_id"])
    except SealError:
        return False
    return True


def scan(directory: Path, needles: dict[str, bytes]) -> dict[str, list[str]]:
    """Every file under ``directory`` (read as root: the cluster's files are the postgres user's) that holds each
    needle, as ``path@offset``."""
    found: dict[str, list[str]] = {name: [] for name in needles}
    for root, _dirs, files in os.walk(directory):
        for name in files:
            path = Path(root, name)
            try:
                data = path.read_bytes()
            except (FileNotFoundError, PermissionError, IsADirectoryError):  # a file gone since the listing
                continue
            for what, needle in needles.items():
                at = data.find(needle)
                while at != -1:
                    found[what].append(f"{path.relative_to(directory)}@{at}")
                    at = data.find(needle, at + 1)
    return found


def test_after_erase_and_rotation_nothing_in_the_data_directory_opens_the_erased_client(
    lane: Lane, base_settings: Settings
) -> None:
    # The platform's own cluster runs as this user (or, as root, as `postgres` with root able to read it): its files
    # are readable. Against an external server the files are out of reach: that is a failure here, never a skip.
    assert base_settings.local_postgres, (
        "this test searches the local PostgreSQL cluster's files; unset KIM_DATABASE_URL"
    )
    victim, keep = "P-custody0victim", "P-custody0keep"
    worker = lane.worker("caseload")

    async def publish(client: TestClient, headers: dict[str, str]) -> None:
        await post(client, headers, opened("DO-K9-1", victim))
        await post(client, headers, opened("DO-K9-2", keep))

    asyncio.run(with_gateway(lane, publish))
    events = asyncio.run(sealed_openings(lane))
    before = asyncio.run(_stored(lane, victim))
    key: ClientKey = before["key"]
    assert opens(key.key, key.key_id, events["DO-K9-1"])  # the key we look for is the one that seals it
    old_keks = lane.secrets.kek_ids()
    assert old_keks == [before["kek_id"]]

    erased = run_kim(lane, "erase", victim, timeout=180)
    assert erased.returncode == 0, erased.stdout + erased.stderr + worker.log_text()[-2000:]
    assert "client_keys vacuumed" in erased.stdout
    rotated = run_kim(lane, "keys", "rotate")
    assert rotated.returncode == 0, rotated.stdout + rotated.stderr
    assert f"retired: {old_keks[0]}" in rotated.stdout and "1 client key(s) re-wrapped" in rotated.stdout
    assert "client_keys vacuumed" in rotated.stdout

    # The old KEK file is gone; the one left is the new one, and it still opens the kept client's key.
    keks = lane.secrets.kek_ids()
    assert len(keks) == 1 and keks != old_keks
    kept = asyncio.run(_stored(lane, keep))
    assert kept["kek_id"] == keks[0] and opens(kept["key"].key, kept["key"].key_id, events["DO-K9-2"])

    asyncio.run(_checkpoint(lane))  # the table's pages into its files, not only the WAL
    data = base_settings.postgres_dir / "data"
    found = scan(data, {"raw key": key.key, "wrapped key": before["wrapped"]})
    assert found["raw key"] == [], f"the erased client's key in clear: {found['raw key']}"
    # The search works: the wrapped copy written when the key was made is still in the WAL (or a table file).
    assert found["wrapped key"], "the wrapped key was not found anywhere: the search did not see the WAL"
    for kek_id in lane.secrets.kek_ids():  # every KEK present, on every wrapped copy found (all the same bytes)
        with pytest.raises(SealError):
            unwrap_key(lane.secrets.kek(kek_id), before["kek_id"], key.key_id, before["wrapped"])
        with pytest.raises(SealError):
            unwrap_key(lane.secrets.kek(kek_id), kek_id, key.key_id, before["wrapped"])


async def _stored(lane: Lane, client_ref: str) -> dict[str, Any]:
    conn = await asyncpg.connect(lane.database_url)
    try:
        key = await key_of(conn, lane.secrets, client_ref)
        assert key is not None
        row = await conn.fetchrow("SELECT wrapped, kek_id FROM client_keys WHERE key_id = $1", key.key_id)
    finally:
        await conn.close()
    return {"key": key, "wrapped": bytes(row["wrapped"]), "kek_id": row["kek_id"]}


async def _checkpoint(lane: Lane) -> None:
    conn = await asyncpg.connect(lane.database_url)  # the owner: a superuser on the local cluster
    try:
        await conn.execute("CHECKPOINT")
    finally:
        await conn.close()


async def _rows(lane: Lane, table: str) -> list[dict[str, Any]]:
    return [dict(r) for r in await lane.fetch(f"SELECT * FROM {table}")]


def holding(rows: list[dict[str, Any]], secret: str) -> list[str]:
    """The columns of the rows in which ``secret`` appears: as text, as bytes, in JSON, or hex-encoded."""
    needles = (secret.encode(), secret.encode().hex().encode())
    hits = []
    for row in rows:
        for column, value in row.items():
            raw = bytes(value) if isinstance(value, bytes | bytearray | memoryview) else str(value).encode()
            if any(n in raw or n in raw.hex().encode() for n in needles):
                hits.append(column)
    return hits


def test_no_column_of_the_key_table_or_the_idempotency_keys_holds_a_pseudonym(lane: Lane) -> None:
    ref = "P-custody0plain"

    async def scenario(client: TestClient, headers: dict[str, str]) -> None:
        await post(client, headers, opened("DO-P9-1", ref), **{"Idempotency-Key": "plain-1"})
        await post(client, headers, [opened("DO-P9-2", ref)], "/v1/events:batch", **{"Idempotency-Key": "plain-2"})

    asyncio.run(with_gateway(lane, scenario))
    keys = asyncio.run(_rows(lane, "client_keys"))
    idempotency = asyncio.run(_rows(lane, "gateway_idempotency"))
    assert len(keys) == 1 and len(idempotency) == 2
    assert set(keys[0]) == {"key_id", "created_at", "client_digest", "wrapped", "kek_id"}  # no client_ref, no key
    assert holding(keys, ref) == [] and holding(idempotency, ref) == []
    assert keys[0]["client_digest"] != hashlib.sha256(ref.encode()).digest()


def test_a_running_gateway_forgets_an_erased_key_at_once_and_seals_the_next_case_with_a_new_one(lane: Lane) -> None:
    ref = "P-custody0again"
    lane.worker("caseload")

    async def scenario(client: TestClient, headers: dict[str, str]) -> None:
        await post(client, headers, opened("DO-A9-1", ref))  # the gateway's store now caches the key
        erase = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "cli.main", "erase", ref,
            env=lane.env(), cwd=REPO, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        out, err = await asyncio.wait_for(erase.communicate(), 180)  # the app's loop runs on meanwhile
        assert erase.returncode == 0, out.decode() + err.decode()
        await post(client, headers, opened("DO-A9-2", ref))  # the same pseudonym, a new case

    asyncio.run(with_gateway(lane, scenario))
    events = asyncio.run(sealed_openings(lane))
    first, second = (events[c].payload["client_sealed"]["key_id"] for c in ("DO-A9-1", "DO-A9-2"))
    assert first != second, "the new case was sealed with the destroyed key: it could never be erased"
    now = asyncio.run(_stored(lane, ref))["key"]
    assert now.key_id == second and opens(now.key, now.key_id, events["DO-A9-2"])
    again = run_kim(lane, "erase", ref, timeout=180)  # the new case can be erased in turn
    assert again.returncode == 0 and "cases: 1" in again.stdout, again.stdout + again.stderr


def test_a_dictionary_of_request_bodies_finds_nothing_in_the_idempotency_keys(lane: Lane) -> None:
    ref = "P-custody0dict"
    body = opened("DO-D9-1", ref)

    async def scenario(client: TestClient, headers: dict[str, str]) -> None:
        await post(client, headers, body, **{"Idempotency-Key": "dict-1"})
        await post(client, headers, [body], "/v1/events:batch", **{"Idempotency-Key": "dict-2"})

    asyncio.run(with_gateway(lane, scenario))
    stored = {bytes(r["request_hash"]) for r in asyncio.run(lane.fetch("SELECT request_hash FROM gateway_idempotency"))}
    assert len(stored) == 2
    candidates = [f"P-custody0{word}" for word in ("anna", "dict", "emil", "zora")]  # the attacker's list, with ref
    tried = 0
    for candidate in candidates:
        guess = opened("DO-D9-1", candidate)
        for sent in (guess, [guess]):
            for text in (
                json.dumps(sent, sort_keys=True, separators=(",", ":"), ensure_ascii=False),
                json.dumps(sent),
                json.dumps(sent, sort_keys=True),
            ):
                for endpoint in ("/v1/events", "/v1/events:batch"):
                    for form in (f"{endpoint}\n{text}", text):
                        tried += 1
                        assert hashlib.sha256(form.encode()).digest() not in stored, (candidate, form[:60])
    assert tried == len(candidates) * 2 * 3 * 2 * 2


def test_an_installation_from_before_gets_its_keys_wrapped_and_pseudonyms_keyed_on_kim_up(
    base_settings: Settings, tmp_path: Path
) -> None:
    """A database migrated up to 0097 (clear keys, pseudonyms, the pepper inside, plain idempotency hashes): `kim up`'s
    migration moves the pepper out (earlier erasures still found), wraps each key, keys each hash, drops the rest."""
    name = f"kim_test_upgrade_{uuid.uuid4().hex[:10]}"
    url = postgres_server.create_database(base_settings, name)
    secrets = Secrets(tmp_path / "secrets")
    key_id, key = new_key()
    plain = hashlib.sha256(b"/v1/events\n{}").digest()

    async def scenario() -> None:
        conn = await asyncpg.connect(url)
        try:
            await _migrated_as_before(conn)
            await conn.execute(
                "INSERT INTO client_keys (client_ref, key_id, key) VALUES ('P-upgrade0old', $1, $2)", key_id, key
            )
            pepper = bytes(await conn.fetchval("SELECT pepper FROM client_erasure_pepper"))
            await conn.execute(
                "INSERT INTO erased_clients (digest, key_id, erasure_id) VALUES ($1, 'k-gone', 'ER-E9')",
                digest(pepper, "P-upgrade0gone"),
            )
            await conn.execute(
                "INSERT INTO gateway_idempotency (agency, key, request_hash, lease_until)"
                " VALUES ('JOBCENTER', 'i-1', $1, now())",
                plain,
            )
            applied = await bringup.migrate_database(url, secrets, log=lambda _: None)
            assert "0110_client_keys_wrapped" in applied and "0111_client_keys_keyed" in applied
            assert secrets.pepper() == pepper  # the database's pepper, moved out
            assert await conn.fetchval("SELECT to_regclass('public.client_erasure_pepper')") is None
            columns = {r[0] for r in await conn.fetch(
                "SELECT column_name FROM information_schema.columns WHERE table_name = 'client_keys'"
            )}  # fmt: skip
            assert columns == {"key_id", "created_at", "client_digest", "wrapped", "kek_id"}
            assert (await key_of(conn, secrets, "P-upgrade0old")) == ClientKey.of(key_id, key)
            assert (await previous_erasure(conn, pepper, "P-upgrade0gone")).erasure_id == "ER-E9"
            stored = bytes(await conn.fetchval("SELECT request_hash FROM gateway_idempotency"))
            assert stored == idempotency_digest(pepper, plain) != plain
            assert await bringup.migrate_database(url, secrets, log=lambda _: None) == []  # twice is harmless
            # the rewritten table's files hold no clear key (the local cluster's files: never skipped)
            assert base_settings.local_postgres, "this test reads the local cluster's files; unset KIM_DATABASE_URL"
            await conn.execute("CHECKPOINT")
            files = [r[0] for r in await conn.fetch(
                "SELECT pg_relation_filepath(c.oid) FROM pg_class c"
                " WHERE c.oid = 'client_keys'::regclass OR c.oid IN"
                " (SELECT indexrelid FROM pg_index WHERE indrelid = 'client_keys'::regclass)"
            )]  # fmt: skip
            data = base_settings.postgres_dir / "data"
            assert files and not [f for f in files if key in (data / f).read_bytes()]
        finally:
            await conn.close()

    try:
        asyncio.run(scenario())
    finally:
        postgres_server.drop_database(base_settings.database_url, name)


async def _migrated_as_before(conn: asyncpg.Connection) -> None:
    """The migrations up to 0097, recorded as `kim up` of that version did (its grants need not be replayed)."""
    await conn.execute(
        "CREATE TABLE schema_migrations ("
        " version text PRIMARY KEY, checksum text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())"
    )
    for migration in load_migrations():
        if migration.version < "0110":
            await conn.execute(migration.sql)
            await conn.execute(
                "INSERT INTO schema_migrations (version, checksum) VALUES ($1, $2)",
                migration.version,
                migration.checksum,
            )
