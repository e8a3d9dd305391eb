"""The receiving agency's case-level view (issue 8, part 2): GET /v1/referrals/received and
``partner.referrals_for``, through the real gateway, referrals worker and database.

A referral is visible to the agency it was sent to, never to a third one, and only while its consent lets the
data pass: after a ConsentWithdrawn the case is gone, and past the consent's last day it is gone too.
"""

from __future__ import annotations

import asyncio
import time
from datetime import datetime
from typing import Any

import asyncpg
import pytest
from aiohttp.test_utils import TestClient, TestServer

from tests.integration.conftest import Lane
from tests.integration.helpers import agency_headers
from web.gateway import GatewayConfig, make_app

pytestmark = pytest.mark.integration

WITHDRAWN, LASTING = "DO-2025-000901", "DO-2025-000902"


def event(event_type: str, case_id: str, day: int, **payload: Any) -> dict[str, Any]:
    return {
        "event_type": event_type,
        "occurred_at": f"2025-03-{day:02d}T10:00:00Z",
        "payload": {"case_id": case_id, **payload},
    }


def case_history(case_id: str, until: str) -> list[dict[str, Any]]:
    """Opened, a consent for the Jobcenter until ``until``, a referral to it under that consent."""
    return [
        event(
            "CaseOpened",
            case_id,
            1,
            client_ref=f"P-{case_id[-3:]}aa31",
            district="EVING",
            access_route="SELF",
            target_group="NEWCOMER",
            rechtskreise=["SGB_II"],
        ),
        event(
            "ConsentGranted",
            case_id,
            2,
            consent_id="C-1",
            recipients=["JOBCENTER"],
            data_categories=["CASE_PLAN", "EMPLOYMENT"],
            valid_until=until,
        ),
        event(
            "ReferralIssued",
            case_id,
            3,
            referral_id=f"{case_id}-R1",
            from_agency="KIM_CASE_MANAGEMENT",
            to_agency="JOBCENTER",
            lebenslage="WORK",
            due_by="2025-04-30",
            consent_id="C-1",
        ),
    ]


def test_a_receiving_agency_sees_its_referrals_only_while_their_consent_lets_the_data_pass(lane: Lane) -> None:
    workers = [lane.worker("referrals"), lane.worker("caseload")]
    config = GatewayConfig(
        lane.kafka, lane.prefix, database_url=lane.database_url, secrets=lane.secrets, consent_wait_seconds=60.0
    )

    async def scenario() -> None:
        async with TestClient(TestServer(make_app(config), host="127.0.0.1")) as client:
            kim = await agency_headers(lane, "KIM_CASE_MANAGEMENT")
            jobcenter = await agency_headers(lane, "JOBCENTER")
            jugendamt = await agency_headers(lane, "JUGENDAMT")

            async def received(headers: dict[str, str]) -> tuple[list[str], list[str]]:
                """The case ids of the referrals and of the hand-overs the caller sees."""
                response = await client.get("/v1/referrals/received", headers=headers)
                body = await response.json()
                assert response.status == 200, body
                return [r["case_id"] for r in body["referrals"]], [h["case_id"] for h in body["handovers"]]

            async def until_received(headers: dict[str, str], referrals: list[str], handovers: list[str]) -> None:
                deadline = time.monotonic() + 120
                while (seen := await received(headers)) != (referrals, handovers):
                    alive = [w.alive() for w in workers]
                    assert time.monotonic() < deadline, f"still {seen}, expected {referrals, handovers}; alive {alive}"
                    await asyncio.sleep(0.2)

            for case_id, until in ((WITHDRAWN, "2099-12-31"), (LASTING, "2099-06-30")):
                for item in case_history(case_id, until):  # one by one: the referral's case gate waits
                    sent = await client.post("/v1/events", json=item, headers=kim)
                    assert sent.status == 202, await sent.text()
            accepted = event("ReferralAccepted", LASTING, 5, referral_id=f"{LASTING}-R1")
            assert (await client.post("/v1/events", json=accepted, headers=jobcenter)).status == 202
            handover = event(
                "CaseHandedOver",
                WITHDRAWN,
                6,
                from_agency="KIM_CASE_MANAGEMENT",
                to_agency="JOBCENTER",
                consent_id="C-1",
            )
            assert (await client.post("/v1/events", json=handover, headers=kim)).status == 202

            await until_received(jobcenter, [WITHDRAWN, LASTING], [WITHDRAWN])
            response = await client.get("/v1/referrals/received", headers=jobcenter)
            body = await response.json()
            assert body["agency"] == "JOBCENTER"
            lasting = body["referrals"][1]
            assert lasting["referral_id"] == f"{LASTING}-R1" and lasting["from_agency"] == "KIM_CASE_MANAGEMENT"
            assert lasting["status"] == "accepted" and lasting["consent_valid_until"] == "2099-06-30"
            assert "client_ref" not in lasting  # the referral, not the client
            (handed,) = body["handovers"]
            assert handed["consent_ids"] == ["C-1"] and handed["case_status"] == "open"
            assert set(handed) == {"case_id", "opened_at", "handed_over_at", "case_status", "consent_ids"}
            assert await received(jugendamt) == ([], [])  # a third agency sees nothing of it
            assert await received(kim) == ([], [])  # nor does the sender: this view is what an agency received

            # The caller is the token: no parameter, no header names another agency.
            other = await client.get("/v1/referrals/received?agency=JUGENDAMT", headers=jobcenter)
            assert other.status == 400
            assert (await other.json())["error"].startswith("GET /v1/referrals/received takes no parameters")
            claim = await client.get("/v1/referrals/received", headers={**jobcenter, "X-KIM-Agency": "JUGENDAMT"})
            assert claim.status == 403
            assert (await client.get("/v1/referrals/received")).status == 401

            withdrawal = event("ConsentWithdrawn", WITHDRAWN, 10, consent_id="C-1")  # by the case's holder now
            assert (await client.post("/v1/events", json=withdrawal, headers=jobcenter)).status == 202
            await until_received(jobcenter, [LASTING], [])

        # As of a time: answers given later are not yet there; a withdrawal hides the case at any time;
        # after the consent's last day (Dortmund's calendar) the case is gone.
        async def as_of(at: str) -> dict[str, str]:
            rows = await lane.fetch(
                "SELECT case_id, status FROM partner.referrals_for('JOBCENTER', $1)", datetime.fromisoformat(at)
            )
            return {r["case_id"]: r["status"] for r in rows}

        assert await as_of("2025-03-04T10:00:00Z") == {LASTING: "issued"}
        assert await as_of("2025-03-02T10:00:00Z") == {}  # nothing issued yet
        assert await as_of("2099-06-30T23:30:00+02:00") == {LASTING: "accepted"}
        assert await as_of("2099-06-30T22:30:00Z") == {}  # 00:30 on 1 July in Dortmund
        assert await as_of("2099-07-01T10:00:00+02:00") == {}

    asyncio.run(scenario())
    assert all(w.alive() for w in workers)


def test_only_the_gateway_role_may_read_the_view_and_it_serves_it_under_that_role(lane: Lane) -> None:
    config = GatewayConfig(lane.kafka, lane.prefix, database_url=lane.role_urls["gateway"], secrets=lane.secrets)

    async def scenario() -> None:
        jobcenter = await agency_headers(lane, "JOBCENTER")  # registered as the lane's owner
        async with TestClient(TestServer(make_app(config), host="127.0.0.1")) as client:
            response = await client.get("/v1/referrals/received", headers=jobcenter)
            body = await response.json()
            assert response.status == 200, body
            assert body["agency"] == "JOBCENTER" and body["referrals"] == [] and body["handovers"] == []
        for role in ("analyst", "worker", "operations"):
            conn = await asyncpg.connect(lane.role_urls[role])
            try:
                with pytest.raises(asyncpg.InsufficientPrivilegeError) as refused:
                    await conn.fetch("SELECT * FROM partner.handovers_for('JOBCENTER', now())")
                assert "permission denied for schema partner" in str(refused.value), role
            finally:
                await conn.close()

    asyncio.run(scenario())
