"""Database roles through the real PostgreSQL: each component's login may do its job and nothing more.

The lane's components log in as ``kim_<role>_login`` (``infra/db_roles.py``), members of the group roles
whose privileges ``projections/grants.py`` declares. Every forbidden action is refused by the server, and
where a CLI user could hit one it is one ``error:`` line.
"""

from __future__ import annotations

import asyncio
import subprocess
from dataclasses import replace
from urllib.parse import urlsplit

import asyncpg
import pytest
from aiohttp.test_utils import TestClient, TestServer

from infra import agencies, db_roles
from infra.audit import record
from projections.grants import apply_grants
from tests.integration.analytics_lane import Server
from tests.integration.conftest import Lane
from tests.integration.helpers import caught_up, run_kim, send_raw
from web.gateway import GatewayConfig, make_app

pytestmark = pytest.mark.integration

CASE_LEVEL = ("caseload_cases", "referral_cases", "referrals", "backlog_applications", "backlog_intervals")
KEYS = ("signing_keys", "client_keys", "key_encryption_keys", "secret_fingerprints", "erased_clients", "agencies")

FORBIDDEN: dict[str, list[tuple[str, str]]] = {
    "worker": [
        ("SELECT * FROM audit_log", "permission denied for table audit_log"),
        ("INSERT INTO audit_log (actor, action, target, outcome) VALUES ('w', 'replay', 'x', 'ok')", "audit_log"),
        ("DROP TABLE caseload_cases", "must be owner of table caseload_cases"),
        ("TRUNCATE caseload_cases", "permission denied for table caseload_cases"),
        ("ALTER TABLE caseload_cases ADD COLUMN extra text", "must be owner of table caseload_cases"),
        ("CREATE TABLE sneaky (a int)", "permission denied for schema public"),
        ("CREATE SCHEMA sneaky", "permission denied for database"),
        *((f"SELECT * FROM {t}", f"permission denied for table {t}") for t in KEYS if t != "signing_keys"),
        ("SELECT * FROM agencies", "permission denied for table agencies"),
        ("UPDATE signing_keys SET retired_at = now()", "permission denied for table signing_keys"),
        ("DELETE FROM append_time_cutoffs", "permission denied for table append_time_cutoffs"),
        ("SELECT * FROM gateway_idempotency", "permission denied for table gateway_idempotency"),
    ],
    "analyst": [
        *((f"SELECT * FROM {t}", f"permission denied for table {t}") for t in (*CASE_LEVEL, "audit_log", *KEYS)),
        ("SELECT * FROM projection_checkpoints", "permission denied for table projection_checkpoints"),
        ("SELECT * FROM caseload_by_agency", "permission denied for view caseload_by_agency"),
        # the switch of figures per case manager (migration 0100): only `kim up`, as the owner, writes it
        ("UPDATE platform_settings SET case_manager_figures = true", "permission denied for table platform_settings"),
        ("SELECT * FROM platform_settings", "permission denied for table platform_settings"),
        ("CREATE VIEW analytics.sneaky AS SELECT 1", "permission denied for schema analytics"),
        ("CREATE TABLE sneaky (a int)", "permission denied for schema public"),
    ],
    "operations": [
        ("UPDATE audit_log SET actor = 'eve'", "permission denied for table audit_log"),
        ("DELETE FROM audit_log", "permission denied for table audit_log"),
        ("TRUNCATE audit_log", "permission denied for table audit_log"),
        ("ALTER TABLE audit_log DISABLE TRIGGER audit_log_no_update", "must be owner of table audit_log"),
        ("DROP TABLE caseload_cases", "must be owner of table caseload_cases"),
        ("TRUNCATE caseload_cases", "permission denied for table caseload_cases"),
        ("CREATE TABLE public.sneaky (a int)", "permission denied for schema public"),
        ("CREATE SCHEMA sneaky", "permission denied for database"),
        ("INSERT INTO audit_log (actor, action, target, outcome) VALUES ('eve', 'replay', 'x', 'ok')", "audit_log"),
        ("SELECT kim_copy_drop('analytics')", "not a name for a copy"),
        ("SELECT kim_copy_drop('partner')", "not a name for a copy"),
        ("UPDATE client_keys SET key_id = 'k-x'", "permission denied for table client_keys"),  # re-wrap only
        ("UPDATE key_encryption_keys SET kek_id = kek_id", "permission denied for table key_encryption_keys"),
        ("DELETE FROM secret_fingerprints", "permission denied for table secret_fingerprints"),
    ],
    "gateway": [
        ("SELECT * FROM audit_log", "permission denied for table audit_log"),
        ("DELETE FROM referral_cases", "permission denied for table referral_cases"),
        ("SELECT * FROM caseload_cases", "permission denied for table caseload_cases"),
        ("UPDATE agencies SET removed_at = now()", "permission denied for table agencies"),
        ("DELETE FROM client_keys", "permission denied for table client_keys"),
        ("UPDATE client_keys SET wrapped = wrapped", "permission denied for table client_keys"),
        ("DELETE FROM key_encryption_keys", "permission denied for table key_encryption_keys"),
        ("CREATE TABLE sneaky (a int)", "permission denied for schema public"),
    ],
}

ALLOWED: dict[str, list[str]] = {
    "worker": [
        "SELECT count(*) FROM caseload_cases",
        "DELETE FROM referrals WHERE false",
        "UPDATE backlog_applications SET procedure = procedure WHERE false",
        "INSERT INTO projection_checkpoints (projection, topic, partition, next_offset) VALUES ('roles', 't', 0, 1)",
        "UPDATE projection_checkpoints SET next_offset = 2 WHERE projection = 'roles'",
        "SELECT count(*) FROM signing_keys",
        "SELECT count(*) FROM signing_cutoffs",
        "SELECT key_id, retired_at FROM signing_keys",  # a retired key verifies only what was appended before
        "SELECT count(*) FROM append_time_cutoffs",
    ],
    "operations": [
        "SELECT count(*) FROM audit_log",
        "DELETE FROM caseload_cases WHERE false",
        "DELETE FROM client_keys WHERE false",
        "UPDATE client_keys SET wrapped = wrapped, kek_id = kek_id WHERE false",  # kim keys rotate
        "SELECT count(*) FROM key_encryption_keys",
        "SELECT count(*) FROM secret_fingerprints",
        "SELECT count(*) FROM projection_rebuilds",
        "SELECT count(*) FROM dlq_redriven",
        "SELECT count(*) FROM append_time_cutoffs",  # dlq redrive verifies signatures
        "SELECT kim_copy_create('roles_copy', ARRAY['caseload_cases'], false)",  # kim replay's copies, by the owner
        "INSERT INTO roles_copy.projection_checkpoints (projection, topic, partition, next_offset)"
        " VALUES ('roles', 't', 0, 1)",
        "SELECT count(*) FROM roles_copy.caseload_cases",
        "SELECT kim_copy_drop('roles_copy')",
        "SELECT audit_append('ops@desk', 'replay', 'caseload', 'ok', '{}'::jsonb)",
    ],
    "gateway": [
        "SELECT count(*) FROM agencies",
        "SELECT count(*) FROM signing_keys",
        "SELECT count(*) FROM referral_cases",
        "SELECT count(*) FROM projection_checkpoints",
        "DELETE FROM gateway_idempotency WHERE false",
        "SELECT count(*) FROM client_keys",
        "SELECT count(*) FROM key_encryption_keys",
    ],
    "analyst": [
        "SELECT projection, topic, partition, next_offset FROM projection_checkpoints",  # the API's min_offsets
    ],
}


async def _as(lane: Lane, role: str) -> asyncpg.Connection:
    return await asyncpg.connect(lane.role_urls[role])


async def _refusals(lane: Lane, role: str) -> list[str]:
    """Each forbidden statement's error, checked to be a privilege refusal naming what was refused."""
    conn = await _as(lane, role)
    messages = []
    try:
        for sql, expected in FORBIDDEN[role]:
            with pytest.raises(asyncpg.InsufficientPrivilegeError) as refused:
                await conn.execute(sql)
            assert expected in str(refused.value), (role, sql, str(refused.value))
            messages.append(db_roles.refusal(refused.value))
    finally:
        await conn.close()
    return messages


async def _allowed(lane: Lane, role: str) -> None:
    conn = await _as(lane, role)
    try:
        for sql in ALLOWED[role]:
            await conn.execute(sql)
    finally:
        await conn.close()


@pytest.mark.parametrize("role", sorted(FORBIDDEN))
def test_each_role_may_do_its_job_and_each_forbidden_action_is_refused(lane: Lane, role: str) -> None:
    asyncio.run(_allowed(lane, role))
    messages = asyncio.run(_refusals(lane, role))
    for message in messages:
        assert message is not None and "\n" not in message
        assert message.startswith("the database refused: ") and "may not do that" in message


def test_the_analyst_reads_every_analytics_view_and_function_and_nothing_else(lane: Lane) -> None:
    async def scenario() -> None:
        views = [
            r["viewname"] for r in await lane.fetch("SELECT viewname FROM pg_views WHERE schemaname = 'analytics'")
        ]
        assert len(views) >= 5
        conn = await _as(lane, "analyst")
        try:
            assert await conn.fetchval("SELECT current_user") == "kim_analyst_login"
            for view in views:
                if view == "caseload_by_case_manager":  # staff data: refused while KIM_CASE_MANAGER_FIGURES is off
                    with pytest.raises(asyncpg.PostgresError, match="KIM_CASE_MANAGER_FIGURES"):
                        await conn.fetch(f"SELECT * FROM analytics.{view}")
                    continue
                await conn.fetch(f"SELECT * FROM analytics.{view}")
            await conn.fetch("SELECT * FROM analytics.caseloads(now())")
            await conn.fetch("SELECT * FROM analytics.backlog(now())")
            await conn.fetch("SELECT * FROM analytics.referral_flow()")
            await conn.execute("SET ROLE kim_analyst")  # what the API does: allowed for its own login
        finally:
            await conn.close()

    asyncio.run(scenario())


def test_operations_append_to_the_audit_log_but_never_rewrite_it(lane: Lane) -> None:
    async def scenario() -> None:
        conn = await _as(lane, "operations")
        try:
            await record(conn, "ops@desk", "replay", "caseload", "ok", {"why": "roles test"})
            assert await conn.fetchval("SELECT count(*) FROM audit_log WHERE actor = 'ops@desk'") == 1
            # the actor is what the caller claims; the login is what the database knows (session_user)
            login = await conn.fetchval("SELECT db_login FROM audit_log WHERE actor = 'ops@desk'")
            assert login == await conn.fetchval("SELECT session_user") and login.startswith("kim_operations")
        finally:
            await conn.close()
        owner = await asyncpg.connect(lane.database_url)  # even the owner is stopped by the 0080 triggers
        try:
            with pytest.raises(asyncpg.InsufficientPrivilegeError, match="append-only"):
                await owner.execute("DELETE FROM audit_log")
        finally:
            await owner.close()

    asyncio.run(scenario())


def test_every_table_has_its_grants_declared(lane: Lane) -> None:
    async def unclassified() -> list[str]:
        conn = await asyncpg.connect(lane.database_url)
        try:
            return await apply_grants(conn)
        finally:
            await conn.close()

    assert asyncio.run(unclassified()) == [], "add these tables to projections/grants.py"


def test_the_worker_process_logs_in_as_kim_worker_and_moves_its_checkpoint(lane: Lane) -> None:
    worker = lane.worker()

    async def scenario() -> None:
        partition, offset = await send_raw(lane, "kim.cases", b"DO-x", b"not an event")  # dead-lettered, skipped
        await caught_up(lane, worker, {(lane.topic("kim.cases"), partition): offset + 1})
        logins = await lane.fetch(
            "SELECT DISTINCT usename FROM pg_stat_activity WHERE datname = current_database()"
            " AND application_name LIKE 'kim-worker-%'"
        )
        assert [r["usename"] for r in logins] == ["kim_worker_login"]

    asyncio.run(scenario())


def kim(lane: Lane, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return run_kim(lane, *args, **env)


def test_a_command_whose_login_lacks_the_privilege_is_one_error_line(lane: Lane) -> None:
    assert kim(lane, "audit").returncode == 0  # as operations: allowed

    # An operator who handed `kim audit` the analysts' login: refused, one line naming what and how to fix.
    wrong = kim(lane, "audit", KIM_OPERATIONS_DATABASE_URL=lane.role_urls["analyst"])
    assert wrong.returncode == 1
    assert wrong.stderr.count("\n") == 1 and "Traceback" not in wrong.stderr
    assert wrong.stderr.startswith("error: the database refused: permission denied for table audit_log;")
    assert "KIM_<ROLE>_DATABASE_URL" in wrong.stderr

    bad_password = lane.role_urls["analyst"].replace("kim_analyst_login:", "kim_analyst_login:wrong", 1)
    refused = kim(lane, "audit", KIM_OPERATIONS_DATABASE_URL=bad_password)
    assert refused.returncode == 1 and refused.stderr.count("\n") == 1, refused.stderr
    assert refused.stderr.startswith("error: "), refused.stderr
    assert urlsplit(bad_password).password not in refused.stderr  # the password is never shown


TOKEN = "kimgw_roles-test-token"
OPENED = {
    "event_type": "CaseOpened",
    "occurred_at": "2025-03-01T10:00:00Z",
    "payload": {
        "case_id": "DO-2025-ROLES1",
        "client_ref": "P-roles01",
        "district": "EVING",
        "access_route": "SELF",
        "target_group": "NEWCOMER",
        "rechtskreise": ["SGB_II"],
    },
}


async def _register_jobcenter(url: str) -> None:
    conn = await asyncpg.connect(url)
    try:
        await agencies.register(conn, replace(agencies.AgencyCredentials.new("JOBCENTER"), token=TOKEN))
    finally:
        await conn.close()


def test_the_gateway_serves_a_partner_as_kim_gateway(lane: Lane) -> None:
    asyncio.run(_register_jobcenter(lane.role_urls["operations"]))  # what `kim agency add` writes, as operations
    config = GatewayConfig(lane.kafka, lane.prefix, database_url=lane.role_urls["gateway"], secrets=lane.secrets)

    async def scenario() -> None:
        async with TestClient(TestServer(make_app(config), host="127.0.0.1")) as client:
            headers = {"Authorization": f"Bearer {TOKEN}", "Idempotency-Key": "roles-1"}
            first = await client.post("/v1/events", json=OPENED, headers=headers)
            assert first.status == 202, await first.text()  # token, signing key, client key, idempotency key
            again = await client.post("/v1/events", json=OPENED, headers=headers)
            assert again.status == 202, await again.text()
            assert (await again.json())["event_id"] == (await first.json())["event_id"]

    asyncio.run(scenario())


def test_the_api_answers_as_kim_analyst_including_read_your_writes(lane: Lane) -> None:
    server = Server(lane)  # `kim serve` on the lane: the analysts' login
    try:
        status, body = server.json("/v1/freshness")
        assert status == 200, body
        token = f"{lane.topic('kim.cases')}:0:5"  # nothing applied yet: the wait reads the checkpoints, then 503
        status, body = server.json(f"/v1/caseloads?min_offsets={token}&wait=0.2")
        assert status == 503 and token in body["error"], body
    finally:
        server.stop()


def test_status_says_which_roles_fall_back_to_the_owners_login(lane: Lane) -> None:
    separated = kim(lane, "status")
    assert separated.returncode == 0, separated.stderr
    assert "no separation" not in separated.stdout
    shared = kim(lane, "status", KIM_GATEWAY_DATABASE_URL="")
    assert shared.returncode == 0, shared.stderr
    assert "note: database roles gateway use KIM_DATABASE_URL (no separation)" in shared.stdout, shared.stdout
