"""Who may act on which case, through the real gateway, SDK, broker, workers and database (projections/authority.py).

The attack a data-protection officer tried: with the Jugendamt's credentials, on a case the Jobcenter opened with a
consent covering only the Ausländerbehörde — record a consent naming the Schulamt and the Jugendamt, refer the case
to the Schulamt citing it, hand it over to the Schulamt, withdraw the Jobcenter's consent, close the case. Refused
at every door: the gateway answers 403 naming the rule, the SDK with the case gate raises before sending, and
records that skip both — written with the most privileged login there is (the platform's) and signed with the
Jugendamt's own key — are dead-lettered by the workers with the rule's reason, none applied. The Schulamt sees
nothing of the case; the Jobcenter, holding it, still may act on it. On an application only the office that filed
it may act. The gateway runs under its own database login, as `kim gateway` does.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace
from typing import Any

import asyncpg
import pytest
from aiohttp.test_utils import TestClient, TestServer
from aiokafka import AIOKafkaProducer

from cli.catchup import wait_caught_up
from infra import agencies
from projections.records import TopicPartition as TP
from schemas import EncodeError
from schemas.sealing import KeyRing
from streams.sdk.draft import EventDraft
from streams.sdk.errors import InvalidBatch
from streams.sdk.prepare import Preparer
from streams.sdk.publisher import Publisher
from streams.usecases.case_gate import CaseGate
from tests.integration.conftest import Lane
from tests.integration.helpers import agency_headers, read_all
from web.gateway import GatewayConfig, make_app

pytestmark = pytest.mark.integration

CASE, APPLICATION = "DO-2025-000631", "ABH-2025-000631"
JC, JA, SA = "JOBCENTER", "JUGENDAMT", "SCHULAMT"
ABH, EBH = "AUSLAENDERBEHOERDE", "EINBUERGERUNGSBEHOERDE"


def event(event_type: str, day: int, **payload: Any) -> dict[str, Any]:
    return {
        "event_type": event_type,
        "occurred_at": f"2025-03-{day:02d}T10:00:00Z",
        "payload": {"case_id": CASE, **payload},
    }


OPENING = [
    event(
        "CaseOpened",
        1,
        client_ref="P-631aa1",
        district="EVING",
        access_route="SELF",
        target_group="NEWCOMER",
        rechtskreise=["SGB_II", "AUFENTHG"],
    ),
    event(
        "ConsentGranted",
        1,
        consent_id="C-1",
        recipients=["AUSLAENDERBEHOERDE"],
        data_categories=["IDENTITY_AND_CONTACT"],
        valid_until=None,
    ),
]
ATTACK = [
    event(
        "ConsentGranted",
        2,
        consent_id="C-9",
        recipients=[JA, SA],
        data_categories=["IDENTITY_AND_CONTACT", "CASE_PLAN"],
        valid_until=None,
    ),
    event(
        "ReferralIssued",
        3,
        referral_id=f"{CASE}-R1",
        from_agency=JA,
        to_agency=SA,
        lebenslage="EDUCATION",
        due_by="2025-04-30",
        consent_id="C-9",
    ),
    event("CaseHandedOver", 4, from_agency=JA, to_agency=SA, consent_id="C-9"),
    event("ConsentWithdrawn", 5, consent_id="C-1"),
    event("CaseClosed", 6, reason="MOVED_AWAY"),
]
TYPES = [e["event_type"] for e in ATTACK]
FILED = {
    "event_type": "ApplicationFiled",
    "occurred_at": "2025-03-02T10:00:00Z",
    "payload": {
        "application_id": APPLICATION,
        "client_ref": "P-631aa1",
        "procedure": "EXTENSION",
        "channel": "ONLINE",
        "case_id": CASE,
    },
}
REQUESTED = {
    "event_type": "DocumentsRequested",
    "occurred_at": "2025-03-03T10:00:00Z",
    "payload": {"application_id": APPLICATION, "documents": ["PASSPORT"], "due_by": "2025-03-31"},
}


def no_part(event_type: str) -> str:
    """The start of the reason every door gives."""
    return f"JUGENDAMT has no part in case {CASE}: {event_type} is published by "


def test_an_agency_with_no_part_in_a_case_is_refused_by_the_gateway_the_sdk_and_the_workers(lane: Lane) -> None:
    workers = [lane.worker("referrals"), lane.worker("caseload"), lane.worker("backlog")]
    jugendamt = agencies.AgencyCredentials.new(JA)
    config = GatewayConfig(  # under the gateway's own database login, as `kim gateway` runs
        lane.kafka, lane.prefix, database_url=lane.role_urls["gateway"], secrets=lane.secrets, consent_wait_seconds=60.0
    )

    async def register_jugendamt() -> None:  # its signing key kept, to write past the gateway below
        conn = await asyncpg.connect(lane.database_url)
        try:
            await agencies.register(conn, replace(jugendamt, token=f"kimgw_test-{JA.lower()}"))
        finally:
            await conn.close()

    async def gateway() -> None:
        async with TestClient(TestServer(make_app(config), host="127.0.0.1")) as client:
            jobcenter, ja, sa, abh, ebh = [await agency_headers(lane, a) for a in (JC, JA, SA, ABH, EBH)]
            opened = await client.post("/v1/events:batch", json=OPENING, headers=jobcenter)
            assert opened.status == 202, await opened.text()

            for attempt in ATTACK:
                answer = await client.post("/v1/events", json=attempt, headers=ja)
                assert answer.status == 403, await answer.text()
                body = await answer.json()
                assert "may not be published by JUGENDAMT: it has no part in the case" in body["error"]
                [problem] = body["errors"]
                assert problem["field"] == "source_agency"
                assert problem["reason"].startswith(no_part(attempt["event_type"])), problem["reason"]
                assert problem["reason"].endswith("(JOBCENTER)"), problem["reason"]

            batch = await client.post("/v1/events:batch", json=ATTACK, headers=ja)
            assert batch.status == 403
            assert [(p["index"], p["field"]) for p in (await batch.json())["errors"]] == [
                (i, "source_agency") for i in range(len(ATTACK))
            ]

            # The Schulamt sees nothing; the Jobcenter, holding the case, still may act on it: the same gate lets the
            # right agency through.
            seen = await client.get("/v1/referrals/received", headers=sa)
            assert seen.status == 200
            assert (await seen.json())["referrals"] == [] and (await seen.json())["handovers"] == []
            pause = event("CasePaused", 7, reason="OTHER", resume_by=None)
            paused = await client.post("/v1/events", json=pause, headers=jobcenter)
            assert paused.status == 202, await paused.text()

            # An application: only the office that filed it acts on it, not the other immigration office.
            filed = await client.post("/v1/events", json=FILED, headers=abh)
            assert filed.status == 202, await filed.text()
            meddling = await client.post("/v1/events", json=REQUESTED, headers=ebh)
            assert meddling.status == 403, await meddling.text()
            [problem] = (await meddling.json())["errors"]
            assert problem["reason"] == (
                f"EINBUERGERUNGSBEHOERDE has no part in application {APPLICATION}: DocumentsRequested is published by "
                "the office that filed the application (AUSLAENDERBEHOERDE)"
            )
            requested = await client.post("/v1/events", json=REQUESTED, headers=abh)
            assert requested.status == 202, await requested.text()

    async def sdk() -> None:
        gate = CaseGate(lane.kafka, lane.database_url, topic_prefix=lane.prefix, wait_seconds=60.0)
        await gate.start()
        try:
            async with Publisher(
                lane.kafka, JA, signing_key=jugendamt.signing_key, topic_prefix=lane.prefix, case_gate=gate
            ) as publisher:
                drafts = [EventDraft.from_dict(e) for e in ATTACK]
                with pytest.raises(EncodeError) as one:
                    await publisher.publish(drafts[-1])
                [error] = one.value.errors
                assert error.startswith("source_agency: " + no_part("CaseClosed")), error
                with pytest.raises(InvalidBatch) as many:
                    await publisher.publish_many(drafts)
                assert sorted(many.value.items) == list(range(len(ATTACK)))
        finally:
            await gate.close()

    async def past_the_gates() -> None:
        """The five events as records, straight to Kafka: signed by the Jugendamt, sent with the platform's login."""
        producer = AIOKafkaProducer(**lane.kafka.options(), enable_idempotence=True, acks="all")
        preparer = Preparer(JA, topic_prefix=lane.prefix, keys=KeyRing())
        targets: dict[TP, int] = {}
        await producer.start()
        try:
            for attempt in ATTACK:
                item = preparer.prepare(EventDraft.from_dict(attempt))
                sent = await producer.send_and_wait(
                    item.topic, item.value, key=item.key, headers=jugendamt.signing_key.headers(item.key, item.value)
                )
                targets[(sent.topic, sent.partition)] = sent.offset + 1
        finally:
            await producer.stop()
        for worker, projection in zip(workers[:2], ("referrals", "caseload"), strict=True):
            await wait_caught_up(lane.database_url, projection, targets, 120, still_running=worker.alive)

    asyncio.run(register_jugendamt())
    asyncio.run(gateway())
    asyncio.run(sdk())
    asyncio.run(past_the_gates())
    assert all(w.alive() for w in workers)

    # Nothing of the attack was applied: the Jobcenter holds the open case, its consent stands, no referral exists.
    [case] = asyncio.run(lane.fetch("SELECT agency, status, paused_since, consents FROM caseload_cases"))
    assert (case["agency"], case["status"]) == (JC, "open") and case["paused_since"] is not None
    assert json.loads(case["consents"]) == {"C-1": {"to": ["AUSLAENDERBEHOERDE"], "until": None, "withdrawn": None}}
    [parties] = asyncio.run(lane.fetch("SELECT holder, manager_agency, receivers, status FROM referral_cases"))
    assert tuple(parties) == (JC, None, [], "open")
    assert asyncio.run(lane.fetch("SELECT 1 FROM referrals")) == []

    # Each record is dead-lettered by each projection that judges it, with the rule as the reason.
    letters = [
        {k: v.decode() for k, v in r.headers} for r in asyncio.run(read_all(lane, "kim.dlq")) if r.key == CASE.encode()
    ]
    judged = sorted((x["kim.projection"], x["kim.event_type"]) for x in letters)
    expected = [("caseload", t) for t in TYPES if t != "ReferralIssued"] + [("referrals", t) for t in TYPES]
    assert judged == sorted(expected)
    for letter in letters:
        assert letter["kim.reason"].startswith(no_part(letter["kim.event_type"])), letter["kim.reason"]

    # Everything published came from the doors that let it through: the opening, its consent, the Jobcenter's
    # pause, and the five records written past the gates.
    assert len(asyncio.run(read_all(lane, "kim.cases"))) == len(OPENING) + 1 + len(ATTACK)
