"""Every event type of the catalog goes through each way in — the HTTP gateway, `kim publish` and the SDK — is read
back from its topic, and is applied by the workers without a single dead letter (the samples tell one coherent case
and application story)."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from cli.catchup import wait_caught_up
from infra.client_keys import ClientKeyStore
from projections.registry import PROJECTIONS
from schemas import Codec, load_catalog
from schemas.samples import APPLICATION_ID, CASE_ID, SAMPLE_AT, SOURCE_AGENCY, sample_payload
from schemas.sealing import ERASURES
from streams.kafka.topics import end_offsets
from streams.sdk.draft import EventDraft
from streams.usecases.publish_in_order import publish_in_order
from tests.integration.conftest import REPO, Lane, Worker
from tests.integration.helpers import agency_headers, read_all
from web.gateway import GatewayConfig, make_app

pytestmark = pytest.mark.integration

# The samples' story in the order it happens; the second referral and application exist so that the
# decline and the withdrawal answer something that was issued or filed.
STORY = [
    ("CaseOpened", {}),
    ("ConsentGranted", {}),
    ("CaseManagerAssigned", {}),
    ("NeedsAssessed", {}),
    ("GoalAgreed", {}),
    ("GoalAgreed", {"goal_id": f"{CASE_ID}-G2"}),
    ("GoalAbandoned", {}),
    ("ReferralIssued", {}),
    ("ReferralAccepted", {}),
    ("ReferralIssued", {"referral_id": f"{CASE_ID}-R2"}),
    ("ReferralDeclined", {}),
    ("ReferralCompleted", {}),
    ("GoalAchieved", {}),
    ("CasePaused", {}),
    ("CaseResumed", {}),
    ("ApplicationFiled", {}),
    ("DocumentsRequested", {}),
    ("DocumentsReceived", {}),
    ("ApplicationCompleted", {}),
    ("AppointmentScheduled", {}),
    ("DecisionIssued", {}),
    ("PermitHandedOver", {}),
    ("ApplicationFiled", {"application_id": f"{APPLICATION_ID}-2", "procedure": "SETTLEMENT_PERMIT"}),
    ("ApplicationWithdrawn", {"application_id": f"{APPLICATION_ID}-2"}),
    ("CaseHandedOver", {}),
    ("ConsentWithdrawn", {}),
    ("CaseClosed", {}),
]


def story() -> list[tuple[str, dict[str, Any]]]:
    """(agency, gateway JSON) per step, a day apart."""
    out = []
    for day, (event_type, changes) in enumerate(STORY):
        at = SAMPLE_AT + timedelta(days=day)
        payload = {**sample_payload(event_type, at), **changes}
        out.append((SOURCE_AGENCY[event_type], EventDraft(event_type, payload, occurred_at=at).to_dict()))
    return out


def test_every_catalog_type_goes_through_the_gateway_and_reaches_the_projections_cleanly(lane: Lane) -> None:
    workers = start_workers(lane)
    config = GatewayConfig(
        lane.kafka, lane.prefix, database_url=lane.database_url, secrets=lane.secrets, consent_wait_seconds=120.0
    )

    async def publish() -> None:
        async with TestClient(TestServer(make_app(config), host="127.0.0.1")) as client:
            for index, (agency, body) in enumerate(story()):
                answer = await client.post("/v1/events", json=body, headers=await agency_headers(lane, agency))
                assert answer.status == 202, (index, body["event_type"], await answer.text())

    asyncio.run(publish())
    assert_applied_cleanly(lane, workers)


def test_every_catalog_type_goes_through_kim_publish_and_the_sdk(lane: Lane, tmp_path: Path) -> None:
    workers = start_workers(lane)
    lines = story()
    half = len(lines) // 2  # the first half of the story from a file, the rest through the SDK
    path = tmp_path / "story.jsonl"
    path.write_text("".join(json.dumps({"agency": agency, **body}) + "\n" for agency, body in lines[:half]))
    published = subprocess.run(
        [sys.executable, "-m", "cli.main", "publish", str(path)],
        env=lane.env(),
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert published.returncode == 0, published.stdout + published.stderr
    rest = [SimpleNamespace(agency=agency, draft=EventDraft.from_dict(body)) for agency, body in lines[half:]]
    asyncio.run(publish_sealed(lane, rest))
    assert_applied_cleanly(lane, workers)


async def publish_sealed(lane: Lane, events: list[SimpleNamespace]) -> None:
    async with ClientKeyStore(lane.database_url, lane.secrets) as keys:  # the platform's SDK path seals the client
        await publish_in_order(
            lane.kafka, events, topic_prefix=lane.prefix, client_keys=keys, platform_key=lane.platform_key
        )


def start_workers(lane: Lane) -> dict[str, Worker]:
    partners = set(load_catalog().event_types()) - set(ERASURES)  # erasures: `kim erase` only (test_erasure.py)
    assert {t for t, _ in STORY} == partners, "the story must use every type a partner publishes"
    return {name: lane.worker(name) for name in PROJECTIONS}


def assert_applied_cleanly(lane: Lane, workers: dict[str, Worker]) -> None:
    """Every event read back from its topic, applied by every projection that reads it, no dead letter."""
    topics = [lane.topic(t) for t in sorted(load_catalog().topics())]
    ends = asyncio.run(end_offsets(lane.kafka, topics))
    for name, worker in workers.items():
        sources = {lane.topic(t) for t in PROJECTIONS[name].source_topics}
        targets = {tp: end for tp, end in ends.items() if end and tp[0] in sources}
        asyncio.run(wait_caught_up(lane.database_url, name, targets, 120.0, still_running=worker.alive))
        assert worker.alive(), worker.log_text()[-2000:]

    codec = Codec()
    read_back = [
        codec.decode(r.value).event_type
        for t in ("kim.cases", "kim.immigration")
        for r in asyncio.run(read_all(lane, t))
    ]
    assert sorted(read_back) == sorted(t for t, _ in STORY)
    letters = asyncio.run(read_all(lane, "kim.dlq", timeout=5.0))
    assert [dict(r.headers).get("kim.reason") for r in letters] == []

    cases = asyncio.run(lane.fetch("SELECT status, closure_reason, handovers FROM caseload_cases"))
    assert [tuple(r) for r in cases] == [("closed", "HANDED_OVER_TO_REGELSYSTEM", 1)]
    referrals = asyncio.run(lane.fetch("SELECT referral_id, status FROM referrals ORDER BY referral_id"))
    assert [tuple(r) for r in referrals] == [(f"{CASE_ID}-R1", "completed"), (f"{CASE_ID}-R2", "declined")]
    applications = asyncio.run(lane.fetch("SELECT application_id, state FROM backlog_applications ORDER BY 1"))
    assert [tuple(r) for r in applications] == [
        (APPLICATION_ID, "permit_handed_over"),
        (f"{APPLICATION_ID}-2", "withdrawn"),
    ]
