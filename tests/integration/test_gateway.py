"""The HTTP gateway in front of the real broker: 202 only after Kafka acknowledged, 4xx for every mistake."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace
from typing import Any

import asyncpg
import pytest
from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient

from infra import agencies
from infra.processes import free_port, run_sync
from schemas import Codec, load_catalog
from schemas.sealing import ERASURES, SEALED, unseal
from streams.kafka.connection import KafkaConnection
from streams.kafka.topics import end_offsets
from streams.sdk.pool import PublisherPool
from tests.integration.conftest import Lane
from tests.integration.helpers import client_keys, read_all
from tests.integration.https import https_client
from web.gateway import GatewayConfig, make_app
from web.gateway.app import POOL

pytestmark = pytest.mark.integration

TOKEN = "kimgw_test-token-of-jobcenter"
AGENCY = {"Authorization": f"Bearer {TOKEN}"}
JSON = {"Content-Type": "application/json"}
OPENED = {
    "event_type": "CaseOpened",
    "occurred_at": "2025-03-01T10:00:00Z",
    "payload": {
        "case_id": "DO-2025-000123",
        "client_ref": "P-7f3a9c",
        "district": "INNENSTADT_NORD",
        "access_route": "REFERRAL",
        "target_group": "NEWCOMER",
        "rechtskreise": ["SGB_II", "AUFENTHG"],
    },
}
CLOSED = {
    "event_type": "CaseClosed",
    "occurred_at": "2025-04-01T10:00:00+02:00",
    "payload": {"case_id": "DO-2025-000123", "reason": "GOALS_ACHIEVED"},
}

Scenario = Callable[[TestClient], Awaitable[None]]


def with_gateway(config: GatewayConfig, scenario: Scenario, lane: Lane) -> None:
    """Run ``scenario`` against a real HTTPS server on a loopback port; the app (and its producers) close after."""

    async def main() -> None:
        async with https_client(make_app(config), lane.env(), lane.home) as client:
            await scenario(client)

    asyncio.run(main())


def lane_config(lane: Lane, prefix: str | None = None, bootstrap: str | None = None, **limits: Any) -> GatewayConfig:
    """The gateway on the lane, with JOBCENTER's identity (token ``TOKEN``) in the lane's database."""
    run_sync(_register(lane.database_url, "JOBCENTER", TOKEN))
    prefix = lane.prefix if prefix is None else prefix
    kafka = replace(lane.kafka, bootstrap=bootstrap) if bootstrap else lane.kafka
    return GatewayConfig(kafka, prefix, database_url=lane.database_url, secrets=lane.secrets, **limits)


async def _register(url: str, agency: str, token: str) -> None:
    conn = await asyncpg.connect(url)
    try:
        if not await agencies.active(conn, agency):
            await agencies.register(conn, replace(agencies.AgencyCredentials.new(agency), token=token))
    finally:
        await conn.close()


async def body_of(response: ClientResponse) -> dict[str, Any]:
    assert response.content_type == "application/json", await response.text()
    return await response.json()


async def total_end_offset(lane: Lane) -> int:
    topics = [lane.topic(t) for t in sorted(load_catalog().topics())]
    return sum((await end_offsets(lane.kafka, topics)).values())


async def as_sent(lane: Lane, event: Any) -> dict[str, Any]:
    """The payload as the partner sent it: a sealed client opened with its key from the lane's key table."""
    sealed = event.payload.get("client_sealed")
    if sealed is None:
        return event.payload
    key = (await client_keys(lane))[sealed["key_id"]]
    aggregate = event.payload[SEALED[event.event_type]]
    ref = unseal(key, sealed, event.event_type, aggregate)
    return {k: v for k, v in {**event.payload, "client_ref": ref}.items() if k != "client_sealed"}


def test_one_event_is_acknowledged_by_kafka_and_readable_from_its_offset(lane: Lane) -> None:
    async def scenario(client: TestClient) -> None:
        response = await client.post("/v1/events", json=OPENED, headers=AGENCY)
        accepted = await body_of(response)
        assert response.status == 202, accepted
        assert accepted["topic"] == lane.topic("kim.cases")
        assert accepted["event_type"] == "CaseOpened"

        (record,) = await read_all(lane, "kim.cases")
        assert (record.partition, record.offset, record.key) == (
            accepted["partition"],
            accepted["offset"],
            b"DO-2025-000123",
        )
        event = Codec().decode(record.value)
        assert event.event_id == accepted["event_id"]
        assert event.source_agency == "JOBCENTER"  # from the token: an agency speaks only for itself
        assert event.occurred_at.isoformat() == "2025-03-01T10:00:00+00:00"
        assert await as_sent(lane, event) == OPENED["payload"]
        assert b"P-7f3a9c" not in record.value  # sealed by the gateway: never on the log in clear

    with_gateway(lane_config(lane), scenario, lane)


def test_a_batch_is_published_in_order_with_an_offset_per_event(lane: Lane) -> None:
    async def scenario(client: TestClient) -> None:
        response = await client.post("/v1/events:batch", json=[OPENED, CLOSED], headers=AGENCY)
        accepted = await body_of(response)
        assert response.status == 202, accepted
        assert accepted["accepted"] == 2
        first, second = accepted["events"]
        assert [first["index"], second["index"]] == [0, 1]
        assert first["partition"] == second["partition"]  # one case, one key, one partition
        assert second["offset"] == first["offset"] + 1

        records = {(r.partition, r.offset): r for r in await read_all(lane, "kim.cases")}
        assert len(records) == 2
        codec = Codec()
        for sent, result in ((OPENED, first), (CLOSED, second)):
            event = codec.decode(records[(result["partition"], result["offset"])].value)
            assert (event.event_type, event.event_id) == (sent["event_type"], result["event_id"])
            assert await as_sent(lane, event) == sent["payload"]

    with_gateway(lane_config(lane), scenario, lane)


def test_an_invalid_batch_publishes_nothing_and_names_each_bad_event_by_index(lane: Lane) -> None:
    bad_district = {**OPENED, "payload": {**OPENED["payload"], "district": "Dortmund-Nord"}}
    unknown_type = {**CLOSED, "event_type": "CaseReopened"}
    naive_time = {**CLOSED, "occurred_at": "2025-04-01T10:00:00"}

    async def scenario(client: TestClient) -> None:
        before = await total_end_offset(lane)
        batch = [OPENED, bad_district, CLOSED, unknown_type, naive_time]
        response = await client.post("/v1/events:batch", json=batch, headers=AGENCY)
        body = await body_of(response)
        assert response.status == 422, body
        assert body["error"] == "3 of 5 events are invalid; nothing was published"
        by_index = {e["index"]: e for e in body["errors"]}
        assert sorted(by_index) == [1, 3, 4]
        assert by_index[1]["field"] == "payload.district"
        assert by_index[1]["reason"].startswith("'Dortmund-Nord' is not one of INNENSTADT_WEST")
        assert by_index[3]["field"] == "event_type"
        assert by_index[4] == {
            "index": 4,
            "field": "occurred_at",
            "reason": "'2025-04-01T10:00:00' has no timezone; add 'Z' or an offset like '+01:00'",
        }
        assert await total_end_offset(lane) == before  # not one event reached Kafka

    with_gateway(lane_config(lane), scenario, lane)


def test_an_invalid_single_event_lists_every_field_and_domain_rules_apply(lane: Lane) -> None:
    async def scenario(client: TestClient) -> None:
        payload = {**OPENED["payload"], "district": "Nord", "rechtskreise": "SGB_II"}
        response = await client.post("/v1/events", json={**OPENED, "payload": payload}, headers=AGENCY)
        body = await body_of(response)
        assert response.status == 422
        assert [e["field"] for e in body["errors"]] == ["payload.district", "payload.rechtskreise"]

        named = {**OPENED, "payload": {**OPENED["payload"], "client_ref": "Erika Mustermann"}}
        response = await client.post("/v1/events", json=named, headers=AGENCY)
        body = await body_of(response)
        assert response.status == 422, body
        assert [e["field"] for e in body["errors"]] == ["payload.client_ref"]

        claimed = {**OPENED, "source_agency": "AUSLAENDERBEHOERDE"}
        response = await client.post("/v1/events", json=claimed, headers=AGENCY)
        assert response.status == 403
        assert (await body_of(response))["error"] == (
            "source_agency 'AUSLAENDERBEHOERDE' is not the caller: this token speaks for JOBCENTER only"
        )
        assert await total_end_offset(lane) == 0

    with_gateway(lane_config(lane), scenario, lane)


def test_size_limits_give_413(lane: Lane) -> None:
    async def scenario(client: TestClient) -> None:
        big = {**OPENED, "payload": {**OPENED["payload"], "case_id": "x" * 5000}}
        response = await client.post("/v1/events", json=big, headers=AGENCY)
        body = await body_of(response)
        assert response.status == 413
        assert "at most 4,096 bytes per request" in body["error"]

        async def chunked() -> AsyncIterator[bytes]:  # no Content-Length: the limit applies while reading
            for _ in range(10):
                yield b" " * 1000

        response = await client.post("/v1/events", data=chunked(), headers={**AGENCY, **JSON})
        assert response.status == 413
        assert (await body_of(response))["error"].startswith("the body is too large; at most 4,096 bytes")

        response = await client.post("/v1/events:batch", json=[CLOSED] * 4, headers=AGENCY)
        body = await body_of(response)
        assert response.status == 413
        assert body["error"] == "the batch holds 4 events; at most 3 per request"
        assert await total_end_offset(lane) == 0

    with_gateway(lane_config(lane, max_body_bytes=4096, max_batch=3), scenario, lane)


def test_the_calling_agency_is_its_token_and_nothing_it_claims(lane: Lane) -> None:
    async def scenario(client: TestClient) -> None:
        response = await client.post("/v1/events", json=OPENED, headers={"X-KIM-Agency": "JOBCENTER"})
        body = await body_of(response)
        assert response.status == 401
        assert body["error"].startswith("missing bearer token: send 'Authorization: Bearer <token>'")
        assert response.headers["WWW-Authenticate"].startswith("Bearer")

        response = await client.post("/v1/events", json=OPENED, headers={"Authorization": "Bearer kimgw_guessed"})
        assert response.status == 401
        assert (await body_of(response))["error"].startswith("invalid or revoked token")

        response = await client.post("/v1/events", json=OPENED, headers={**AGENCY, "X-KIM-Agency": "JUGENDAMT"})
        body = await body_of(response)
        assert response.status == 403
        assert body["error"] == "this token speaks for JOBCENTER; X-KIM-Agency: JUGENDAMT claims another agency"

        batch = [CLOSED, {**CLOSED, "agency": "JUGENDAMT"}]
        response = await client.post("/v1/events:batch", json=batch, headers=AGENCY)
        assert response.status == 403
        assert (await body_of(response))["error"].startswith("event 1: agency 'JUGENDAMT' is not the caller")
        assert await total_end_offset(lane) == 0

        response = await client.post("/v1/events", json=OPENED, headers={**AGENCY, "X-KIM-Agency": " "})
        assert response.status == 400  # an empty claim is no claim the document allows
        assert (await body_of(response))["error"].startswith("X-KIM-Agency is empty: leave it out")

        response = await client.post("/v1/events", json=OPENED, headers={**AGENCY, "X-KIM-Agency": "JOBCENTER"})
        assert response.status == 202, await response.text()
        (record,) = await read_all(lane, "kim.cases")
        assert dict(record.headers)["kim.signer"].decode().startswith("JOBCENTER.")  # signed with its own key

    with_gateway(lane_config(lane), scenario, lane)


@pytest.mark.parametrize(
    ("path", "data", "content_type", "status", "error"),
    [
        ("/v1/events", b'{"event_type": ', "application/json", 400, "the body is not valid JSON: Expecting value"),
        ("/v1/events", b'{"a": "\xff"}', "application/json", 400, "the body is not valid UTF-8 (byte 0xff"),
        ("/v1/events", b'{"a": NaN}', "application/json", 400, "the body is not valid JSON: NaN is not a JSON"),
        ("/v1/events", b"", "application/json", 400, "the body is empty; send JSON"),
        ("/v1/events", b"[]", "application/json", 400, "expected one event as a JSON object"),
        ("/v1/events", b"[" * 100_000, "application/json", 400, "the body is not"),
        ("/v1/events:batch", b"{}", "application/json", 400, "expected a JSON array of events"),
        ("/v1/events:batch", b"[]", "application/json", 400, "the batch is empty"),
        ("/v1/events", b"event_type=CaseOpened", "application/x-www-form-urlencoded", 415, "send the body as"),
        ("/v1/events", b"{}", "application/json; charset=latin-1", 415, "send the body in UTF-8"),
    ],
)
def test_unusable_requests_get_a_one_line_reason_never_a_traceback(
    lane: Lane, path: str, data: bytes, content_type: str, status: int, error: str
) -> None:
    async def scenario(client: TestClient) -> None:
        response = await client.post(path, data=data, headers={**AGENCY, "Content-Type": content_type})
        body = await body_of(response)
        assert response.status == status, body
        assert body["error"].startswith(error), body
        assert "\n" not in body["error"] and "Traceback" not in body["error"]

    with_gateway(lane_config(lane), scenario, lane)


def test_openapi_document_describes_every_event_type_and_health_answers(lane: Lane) -> None:
    async def scenario(client: TestClient) -> None:
        response = await client.get("/openapi.json")
        doc = await body_of(response)
        assert response.status == 200 and doc["openapi"].startswith("3.1")
        schemas = doc["components"]["schemas"]
        types = sorted(load_catalog().event_types() - set(ERASURES))  # erasures are `kim erase`'s alone
        assert [ref["$ref"].rsplit("/", 1)[1] for ref in schemas["Event"]["oneOf"]] == types
        opened = schemas["CaseOpened"]
        assert opened["properties"]["event_type"] == {"const": "CaseOpened"}
        assert opened["properties"]["occurred_at"]["format"] == "date-time"
        payload = opened["properties"]["payload"]
        assert payload["required"] == [
            "case_id",
            "client_ref",
            "district",
            "access_route",
            "target_group",
            "rechtskreise",
        ]
        assert "INNENSTADT_NORD" in payload["properties"]["district"]["enum"]
        assert payload["properties"]["rechtskreise"]["items"]["enum"][0] == "SGB_II"
        paths = {
            "/v1/events",
            "/v1/events:batch",
            "/v1/referrals/received",
            "/v1/dead-letters",
            "/healthz",
            "/openapi.json",
        }
        assert set(doc["paths"]) == paths
        assert doc["paths"]["/v1/events"]["post"]["parameters"] == [
            {"$ref": "#/components/parameters/Agency"},
            {"$ref": "#/components/parameters/IdempotencyKey"},
        ]

        response = await client.get("/healthz")
        assert response.status == 200 and await response.json() == {"status": "ok"}
        response = await client.get("/v1/nothing")
        assert response.status == 404 and (await body_of(response))["error"] == "Not Found"
        response = await client.get("/v1/events")
        assert response.status == 405 and response.headers["Allow"] == "POST"

    with_gateway(lane_config(lane), scenario, lane)


def test_date_fields_are_described_as_iso_dates(lane: Lane) -> None:
    """Fields with logicalType date (e.g. a referral's due_by) appear as format: date, whatever the type."""

    async def scenario(client: TestClient) -> None:
        doc = await body_of(await client.get("/openapi.json"))
        formats = {
            (name, field): spec.get("format")
            for name, schema in doc["components"]["schemas"].items()
            if "x-kim-topic" in schema
            for field, spec in schema["properties"]["payload"]["properties"].items()
        }
        dates = {key for key, fmt in formats.items() if fmt == "date"}
        declared = {
            (s.event_type, f["name"])
            for s in (load_catalog().current(t) for t in load_catalog().event_types())
            for f in s.payload_schema["fields"]
            if isinstance(f["type"], dict) and f["type"].get("logicalType") == "date"
        }
        assert declared <= dates

    with_gateway(lane_config(lane), scenario, lane)


def test_kafka_unreachable_is_a_503_and_never_a_202(lane: Lane) -> None:
    """The gateway started (its consent check reads the real broker), then its publishers find no Kafka."""
    app = make_app(lane_config(lane, "nowhere."))
    nowhere = KafkaConnection(f"127.0.0.1:{free_port()}")
    app[POOL] = PublisherPool(nowhere, topic_prefix="nowhere.", request_timeout_ms=2000)

    async def main() -> None:
        async with https_client(app, lane.env(), lane.home) as client:
            response = await client.post("/v1/events", json=OPENED, headers=AGENCY)
            body = await body_of(response)
            assert response.status == 503, body
            assert body["error"].startswith("Kafka is unreachable")
            assert body["error"].endswith("nothing was published, try again later")

    asyncio.run(main())


def test_an_unacknowledged_send_is_a_503_naming_what_was_not_published(lane: Lane) -> None:
    """Topics that do not exist (a prefix nobody provisioned): the producer gives up, the gateway says so. (Two
    openings: anything else is first checked against its case, which needs the topics too.)"""
    config = lane_config(lane, lane.prefix + "missing.", request_timeout_ms=1500)

    async def scenario(client: TestClient) -> None:
        another = {**OPENED, "payload": {**OPENED["payload"], "case_id": "DO-2025-000124"}}
        response = await client.post("/v1/events:batch", json=[OPENED, another], headers=AGENCY)
        body = await body_of(response)
        assert response.status == 503, body
        assert body["events"] == []
        assert [e["index"] for e in body["errors"]] == [0, 1]
        missing = lane.prefix + "missing.kim.cases"
        assert (
            body["errors"][0]["reason"] == f"topic {missing} does not exist on the broker (kim up creates the topics)"
        )
        assert body["errors"][1]["reason"] == "not sent after an earlier failure"

    with_gateway(config, scenario, lane)
