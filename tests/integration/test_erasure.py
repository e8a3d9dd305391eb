"""`kim erase` through the real broker and database: a history of several clients published through the platform
(sealed), one client erased — its key is gone, no record carries its pseudonym in clear nor one that opens, no
projection row names its cases or applications, every total is the same — and all of it again after `kim replay`
of the three projections; the receipt is in `kim audit`; erasing twice and an unknown client answer clearly."""

from __future__ import annotations

import asyncio
import dataclasses
import subprocess
import sys
from datetime import UTC, datetime
from typing import Any

import asyncpg
import pytest
from aiohttp.test_utils import TestClient, TestServer

from cli.catchup import wait_caught_up
from infra.client_keys import ClientKeyStore, key_of, keys_by_id
from projections.registry import PROJECTIONS
from schemas import Codec
from schemas.samples import sample_payload
from schemas.sealing import SEALED, SealError, unseal
from streams.kafka.topics import end_offsets
from streams.sdk.draft import EventDraft
from streams.usecases.publish_in_order import publish_in_order
from tests.integration.conftest import REPO, Lane, Worker
from tests.integration.helpers import agency_headers, read_all
from tests.oracles import compare
from tests.oracles.history import HistoryEvent, generate
from web.gateway import GatewayConfig, make_app

pytestmark = pytest.mark.integration

VICTIM = "P-erase0victim1"
KEEP = "P-keep00client"
TABLES = tuple(compare.TABLE_KEYS)
AS_OF = datetime(2025, 12, 31, tzinfo=UTC)
PERSONAL_VIEWS = ("caseload_open_by_manager", "caseload_manager_load")  # per case manager: an erased case leaves


def history() -> list[HistoryEvent]:
    """A generated year; the victim is the client of two cases and one application, KEEP of one case."""
    events = generate(seed=31, cases=60, applications=30)
    opened = [e for e in events if e.draft.event_type == "CaseOpened"]
    filed = [e for e in events if e.draft.event_type == "ApplicationFiled"]
    clients = {id(opened[0]): VICTIM, id(opened[5]): VICTIM, id(filed[0]): VICTIM, id(opened[1]): KEEP}
    return [
        dataclasses.replace(e, draft=dataclasses.replace(e.draft, payload={**e.draft.payload, "client_ref": ref}))
        if (ref := clients.get(id(e)))
        else e
        for e in events
    ]


def kim(lane: Lane, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cli.main", *args],
        env={**lane.env(), "KIM_ACTOR": "dpo-test"},
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def settle(lane: Lane, workers: dict[str, Worker]) -> None:
    """Wait until every projection has applied everything on its topics."""
    ends = asyncio.run(end_offsets(lane.kafka, [lane.topic("kim.cases"), lane.topic("kim.immigration")]))
    for name, worker in workers.items():
        sources = {lane.topic(t) for t in PROJECTIONS[name].source_topics}
        targets = {tp: end for tp, end in ends.items() if end and tp[0] in sources}
        asyncio.run(wait_caught_up(lane.database_url, name, targets, 180.0, still_running=worker.alive))
        assert worker.alive(), worker.log_text()[-2000:]


async def snapshot(lane: Lane) -> tuple[dict[str, dict], dict[str, dict]]:
    """Every projection row, and every analyst view and function, as the oracle comparisons read them."""
    conn = await asyncpg.connect(lane.database_url)
    try:
        rows = await compare.db_tables(conn)
        views = await compare.db_views(conn, AS_OF, 8, (datetime(2025, 1, 1).date(), datetime(2025, 12, 31).date()))
    finally:
        await conn.close()
    return rows, {k: v for k, v in views.items() if k not in PERSONAL_VIEWS}


def carrying(rows: dict[str, dict], ids: set[str]) -> list[str]:
    """Rows in which any of ``ids`` still appears (in any column)."""
    return [f"{t}: {row}" for t, table in rows.items() for row in table.values() if any(i in str(row) for i in ids)]


def counts(rows: dict[str, dict]) -> dict[str, int]:
    return {t: len(table) for t, table in rows.items()}


async def copy_rows(lane: Lane, schema: str) -> dict[str, dict]:
    """The rows of a copy's tables (those it has), as ``snapshot`` reads the live ones."""
    conn = await asyncpg.connect(lane.database_url, server_settings={"search_path": f"{schema}, public"})
    try:
        present = {r[0] for r in await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname = $1", schema)}
        return await compare.db_tables(conn, tuple(t for t in TABLES if t in present))
    finally:
        await conn.close()


async def sealed_records(lane: Lane) -> list[tuple[bytes, Any]]:
    codec = Codec()
    out = []
    for topic in ("kim.cases", "kim.immigration"):
        for record in await read_all(lane, topic):
            out.append((record.value, codec.decode(record.value)))
    return out


def test_an_erased_client_leaves_no_readable_trace_and_every_total_stays(lane: Lane) -> None:
    workers = {name: lane.worker(name) for name in PROJECTIONS}
    asyncio.run(publish(lane, history()))
    settle(lane, workers)
    victim_key = asyncio.run(key(lane, VICTIM))
    keep_key = asyncio.run(key(lane, KEEP))
    assert victim_key is not None and keep_key is not None
    before_rows, before_views = asyncio.run(snapshot(lane))
    cases = {r["case_id"] for r in before_rows["caseload_cases"].values() if r["client_key_id"] == victim_key.key_id}
    applications = {
        r["application_id"]
        for r in before_rows["backlog_applications"].values()
        if r["client_key_id"] == victim_key.key_id
    }
    assert len(cases) == 2 and len(applications) == 1
    erased_ids = cases | applications

    # Nothing in clear on the log even before: the platform sealed every CaseOpened/ApplicationFiled.
    records = asyncio.run(sealed_records(lane))
    assert not [v for v, _ in records if VICTIM.encode() in v or KEEP.encode() in v]

    # As-of copies made before the erasure hold the client's cases too: the erasure must reach them.
    for name in PROJECTIONS:
        made = kim(lane, "replay", name, "--until", "2026-06-30")
        assert made.returncode == 0, made.stdout + made.stderr
    copies = {name: f"asof_{name}_2026_06_30" for name in PROJECTIONS}
    copied = {name: asyncio.run(copy_rows(lane, schema)) for name, schema in copies.items()}
    assert carrying(copied["caseload"], erased_ids) and carrying(copied["backlog"], erased_ids)

    done = kim(lane, "erase", VICTIM)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "cases: 2, applications: 1" in done.stdout
    for schema in copies.values():
        assert f"copy {schema}: rows made anonymous" in done.stdout, done.stdout
    for name, schema in copies.items():  # no copy names the erased cases or applications any more
        rows = asyncio.run(copy_rows(lane, schema))
        assert carrying(rows, erased_ids) == [], (schema, carrying(rows, erased_ids))
        assert counts(rows) == counts(copied[name])  # anonymous, still counted, as in the live read models
        assert not any(victim_key.key_id in str(row) for table in rows.values() for row in table.values())
    assert "applied by every projection" in done.stdout
    assert "by dpo-test" in done.stdout and VICTIM not in done.stdout
    erasure_id = done.stdout.split()[1]

    # (a) the key is gone; the other client's is not
    assert asyncio.run(key(lane, VICTIM)) is None
    assert asyncio.run(keys(lane, [victim_key.key_id, keep_key.key_id])) == [keep_key.key_id]

    # (b) no record carries the pseudonym in clear, and its sealed copies no longer open (the other's still do)
    records = asyncio.run(sealed_records(lane))
    assert not [v for v, _ in records if VICTIM.encode() in v]
    victims = [e for _, e in records if (e.payload.get("client_sealed") or {}).get("key_id") == victim_key.key_id]
    assert len(victims) == 3
    for event in victims:  # only the destroyed key opened them: nothing the platform holds does now
        with pytest.raises(SealError):
            unseal(keep_key, event.payload["client_sealed"], event.event_type, event.payload[SEALED[event.event_type]])
    kept = [e for _, e in records if (e.payload.get("client_sealed") or {}).get("key_id") == keep_key.key_id]
    assert [unseal(keep_key, e.payload["client_sealed"], e.event_type, e.payload["case_id"]) for e in kept] == [KEEP]
    erasures = [e for _, e in records if e.event_type in ("CaseErased", "ApplicationErased")]
    assert sorted(e.event_type for e in erasures) == ["ApplicationErased", "CaseErased", "CaseErased"]

    # (c) no projection row names the erased cases or applications; (d) the totals are unchanged
    after_rows, after_views = asyncio.run(snapshot(lane))
    assert carrying(after_rows, erased_ids) == []
    assert counts(after_rows) == counts(before_rows)
    assert compare.differences(after_views, before_views) == []
    letters = asyncio.run(read_all(lane, "kim.dlq", timeout=5.0))  # the history has refused events of its own
    assert not [r for r in letters if dict(r.headers).get("kim.event_type", b"").endswith(b"Erased")]

    # (e) a rebuild of every projection from the log gives the same: still anonymous, same totals
    for name in PROJECTIONS:
        rebuilt = kim(lane, "replay", name)
        assert rebuilt.returncode == 0, rebuilt.stdout + rebuilt.stderr
    rebuilt_rows, rebuilt_views = asyncio.run(snapshot(lane))
    assert carrying(rebuilt_rows, erased_ids) == []
    assert rebuilt_rows == after_rows
    assert compare.differences(rebuilt_views, before_views) == []

    # (f) the receipt is in the audit log, without the pseudonym
    audit = kim(lane, "audit", "--action", "client.erase", "--format", "json")
    assert audit.returncode == 0, audit.stderr
    assert erasure_id in audit.stdout and "dpo-test" in audit.stdout and VICTIM not in audit.stdout

    again = kim(lane, "erase", VICTIM)
    assert again.returncode == 0 and "already erased" in again.stdout and erasure_id in again.stdout
    unknown = kim(lane, "erase", "P-nobody0here")
    assert unknown.returncode == 1 and unknown.stdout == ""
    assert unknown.stderr.startswith("error: no client with this pseudonym") and unknown.stderr.count("\n") == 1
    named = kim(lane, "erase", "Erika Mustermann")
    assert named.returncode == 1 and named.stderr.startswith("error: CLIENT_REF must be a pseudonym")
    assert "Erika" not in named.stderr
    assert all(w.alive() for w in workers.values())

    # A projection behind the log: the client's newest case could be missed, so nothing is erased.
    workers["caseload"].stop()
    late = [e for e in history() if e.draft.event_type == "CaseOpened"][:1]
    late = [dataclasses.replace(late[0], draft=dataclasses.replace(late[0].draft, payload=late_case(late[0])))]
    asyncio.run(publish(lane, late))
    behind = kim(lane, "erase", "P-late00client", "--wait", "2")
    assert behind.returncode == 1 and behind.stderr.count("\n") == 1, behind.stderr
    assert "caseload lacks 1 event(s)" in behind.stderr and "nothing was erased" in behind.stderr
    assert asyncio.run(key(lane, "P-late00client")) is not None
    attempts = kim(lane, "audit", "--action", "client.erase", "--format", "json")
    assert attempts.stdout.count('"outcome": "failed"') == 1 and "P-late00client" not in attempts.stdout


def late_case(opening: HistoryEvent) -> dict[str, Any]:
    return {**opening.draft.payload, "case_id": "DO-L9-1", "client_ref": "P-late00client"}


def test_the_gateway_seals_the_client_and_refuses_erasure_events_from_partners(lane: Lane) -> None:
    config = GatewayConfig(lane.kafka, lane.prefix, database_url=lane.database_url, secrets=lane.secrets)
    opening = EventDraft("CaseOpened", sample_payload("CaseOpened")).to_dict()
    erasing = EventDraft("CaseErased", sample_payload("CaseErased")).to_dict()

    async def scenario() -> None:
        async with TestClient(TestServer(make_app(config), host="127.0.0.1")) as client:
            headers = await agency_headers(lane, "KIM_CASE_MANAGEMENT")
            answer = await client.post("/v1/events", json=opening, headers=headers)
            assert answer.status == 202, await answer.text()
            refused = await client.post("/v1/events", json=erasing, headers=headers)
            assert refused.status == 422
            assert "published by `kim erase` only" in (await refused.json())["errors"][0]["reason"]

    asyncio.run(scenario())
    (record,) = asyncio.run(read_all(lane, "kim.cases"))
    ref = opening["payload"]["client_ref"]
    assert ref.encode() not in record.value
    event = Codec().decode(record.value)
    key = asyncio.run(keys_of(lane, ref))
    assert unseal(key, event.payload["client_sealed"], "CaseOpened", event.payload["case_id"]) == ref


async def publish(lane: Lane, events: list[HistoryEvent]) -> None:
    async with ClientKeyStore(lane.database_url, lane.secrets) as store:
        await publish_in_order(
            lane.kafka, events, topic_prefix=lane.prefix, client_keys=store, platform_key=lane.platform_key
        )


async def key(lane: Lane, client_ref: str):
    conn = await asyncpg.connect(lane.database_url)
    try:
        return await key_of(conn, lane.secrets, client_ref)
    finally:
        await conn.close()


async def keys_of(lane: Lane, client_ref: str):
    found = await key(lane, client_ref)
    assert found is not None
    return found


async def keys(lane: Lane, key_ids: list[str]) -> list[str]:
    conn = await asyncpg.connect(lane.database_url)
    try:
        return sorted(await keys_by_id(conn, lane.secrets, key_ids))
    finally:
        await conn.close()
