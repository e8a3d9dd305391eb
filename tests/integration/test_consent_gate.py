"""Consent-gated sharing through the real broker and database: the gateway and the SDK refuse a referral or
hand-over that no consent of the case lets pass, judged against the referrals projection once it has caught up."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from infra.client_keys import ClientKeyStore
from schemas import EncodeError
from streams.sdk.draft import EventDraft
from streams.sdk.publisher import Publisher
from streams.usecases.case_gate import CaseGate
from tests.integration.conftest import Lane
from tests.integration.helpers import agency_headers, read_all
from web.gateway import GatewayConfig, make_app

pytestmark = pytest.mark.integration

CASE = "DO-2025-000777"
JSON = {"Content-Type": "application/json"}


def event(event_type: str, day: int, **payload: Any) -> dict[str, Any]:
    return {
        "event_type": event_type,
        "occurred_at": f"2025-03-{day:02d}T10:00:00Z",
        "payload": {"case_id": CASE, **payload},
    }


OPENED = event(
    "CaseOpened",
    1,
    client_ref="P-77aa31",
    district="EVING",
    access_route="SELF",
    target_group="NEWCOMER",
    rechtskreise=["SGB_II"],
)
GRANTED = event(
    "ConsentGranted",
    2,
    consent_id="C-1",
    recipients=["JOBCENTER"],
    data_categories=["CASE_PLAN", "EMPLOYMENT"],
    valid_until="2025-12-31",
)


def referral(to: str, day: int, number: int) -> dict[str, Any]:
    return event(
        "ReferralIssued",
        day,
        referral_id=f"{CASE}-R{number}",
        from_agency="KIM_CASE_MANAGEMENT",
        to_agency=to,
        lebenslage="WORK",
        due_by="2025-04-30",
        consent_id="C-1",
    )


def test_the_gateway_refuses_an_unconsented_referral_and_lets_a_consented_one_pass(lane: Lane) -> None:
    worker = lane.worker("referrals")
    config = GatewayConfig(
        lane.kafka, lane.prefix, database_url=lane.database_url, secrets=lane.secrets, consent_wait_seconds=60.0
    )

    async def scenario() -> None:
        async with TestClient(TestServer(make_app(config), host="127.0.0.1")) as client:
            kim = await agency_headers(lane, "KIM_CASE_MANAGEMENT")
            opened = await client.post("/v1/events:batch", json=[OPENED, GRANTED], headers=kim)
            assert opened.status == 202, await opened.text()

            # Right after the consent's 202: the gate waits until the referrals projection has applied it.
            allowed = await client.post("/v1/events", json=referral("JOBCENTER", 3, 1), headers=kim)
            assert allowed.status == 202, await allowed.text()

            refused = await client.post("/v1/events", json=referral("JUGENDAMT", 3, 2), headers=kim)
            assert refused.status == 422
            body = await refused.json()
            assert body["errors"] == [
                {
                    "field": "payload.consent_id",
                    "reason": "referral to JUGENDAMT refused: consent C-1 does not cover JUGENDAMT",
                }
            ]

            withdrawn = event("ConsentWithdrawn", 4, consent_id="C-1")
            batch = await client.post("/v1/events:batch", json=[withdrawn, referral("JOBCENTER", 5, 3)], headers=kim)
            assert batch.status == 422
            [problem] = (await batch.json())["errors"]
            assert problem["index"] == 1 and "withdrawn on 2025-03-04" in problem["reason"]

    asyncio.run(scenario())
    assert worker.alive()
    published = asyncio.run(read_all(lane, "kim.cases"))
    assert len(published) == 3, "only the case, its consent and the covered referral were published"


def test_without_a_current_referrals_projection_the_gateway_answers_503_and_publishes_nothing(lane: Lane) -> None:
    config = GatewayConfig(
        lane.kafka, lane.prefix, database_url=lane.database_url, secrets=lane.secrets, consent_wait_seconds=1.0
    )

    async def scenario() -> None:
        async with TestClient(TestServer(make_app(config), host="127.0.0.1")) as client:
            kim = await agency_headers(lane, "KIM_CASE_MANAGEMENT")
            assert (await client.post("/v1/events:batch", json=[OPENED, GRANTED], headers=kim)).status == 202
            stalled = await client.post("/v1/events", json=referral("JOBCENTER", 3, 1), headers=kim)
            assert stalled.status == 503
            assert "referrals projection has not caught up" in (await stalled.json())["error"]

    asyncio.run(scenario())  # no referrals worker runs on this lane
    assert len(asyncio.run(read_all(lane, "kim.cases"))) == 2


def test_without_a_database_the_gateway_refuses_to_share_rather_than_skip_the_check(lane: Lane) -> None:
    config = GatewayConfig(lane.kafka, lane.prefix)

    async def scenario() -> None:
        async with TestClient(TestServer(make_app(config), host="127.0.0.1")) as client:
            kim = await agency_headers(lane, "KIM_CASE_MANAGEMENT")
            answer = await client.post("/v1/events", json=referral("JOBCENTER", 3, 1), headers=kim)
            assert answer.status == 503 and "no database" in (await answer.json())["error"]

    asyncio.run(scenario())


def test_the_sdk_with_a_case_gate_raises_the_reason_and_sends_nothing(lane: Lane) -> None:
    worker = lane.worker("referrals")

    async def scenario() -> None:
        gate = CaseGate(lane.kafka, lane.database_url, topic_prefix=lane.prefix, wait_seconds=60.0)
        await gate.start()
        try:
            async with (
                ClientKeyStore(lane.database_url, lane.secrets) as keys,
                Publisher(
                    lane.kafka,
                    "KIM_CASE_MANAGEMENT",
                    signing_key=lane.platform_key,
                    topic_prefix=lane.prefix,
                    case_gate=gate,
                    client_keys=keys,
                ) as kim,
            ):
                await kim.publish_many([EventDraft.from_dict(OPENED), EventDraft.from_dict(GRANTED)])
                await kim.publish(EventDraft.from_dict(referral("JOBCENTER", 3, 1)))
                with pytest.raises(EncodeError) as refused:
                    await kim.publish(EventDraft.from_dict(referral("SOZIALAMT", 3, 2)))
                assert refused.value.errors == [
                    "payload.consent_id: referral to SOZIALAMT refused: consent C-1 does not cover SOZIALAMT"
                ]
        finally:
            await gate.close()

    asyncio.run(scenario())
    assert worker.alive()
    assert len(asyncio.run(read_all(lane, "kim.cases"))) == 3
