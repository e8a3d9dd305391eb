"""The pure half of the gateway's idempotency keys: parsing the header, hashing a request, deciding."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta

import pytest

from streams.sdk.prepare import Outgoing
from web.gateway.idempotency import (
    Existing,
    Verdict,
    decide,
    parse_key,
    records_from_json,
    records_to_json,
    request_hash,
)
from web.problems import Problem

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
PEPPER = bytes(range(32))
DIGEST = request_hash(PEPPER, "/v1/events", {"event_type": "CaseClosed", "payload": {"case_id": "DO-1"}})


def row(*, answered: bool = False, age: timedelta = timedelta(minutes=1), lease: timedelta = timedelta(0)) -> Existing:
    return Existing(DIGEST, NOW - age, NOW + lease, answered)


def test_the_hash_ignores_formatting_but_not_content_or_endpoint() -> None:
    same = request_hash(PEPPER, "/v1/events", {"payload": {"case_id": "DO-1"}, "event_type": "CaseClosed"})
    assert same == DIGEST
    assert request_hash(PEPPER, "/v1/events", {"event_type": "CaseClosed", "payload": {"case_id": "DO-2"}}) != DIGEST
    closed = {"event_type": "CaseClosed", "payload": {"case_id": "DO-1"}}
    assert request_hash(PEPPER, "/v1/events:batch", closed) != DIGEST


def test_the_hash_is_keyed_a_dictionary_without_the_pepper_finds_nothing() -> None:
    body = {"event_type": "CaseOpened", "payload": {"case_id": "DO-1", "client_ref": "P-dictionary1"}}
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    plain = hashlib.sha256(f"/v1/events\n{canonical}".encode()).digest()
    keyed = request_hash(PEPPER, "/v1/events", body)
    assert keyed != plain and len(keyed) == 32
    assert request_hash(bytes(32), "/v1/events", body) != keyed  # another pepper, another hash


@pytest.mark.parametrize(
    ("existing", "digest", "verdict"),
    [
        (None, DIGEST, Verdict.NEW),
        (row(answered=True), DIGEST, Verdict.REPLAY),
        (row(answered=True), b"other", Verdict.CONFLICT),
        (row(lease=timedelta(seconds=30)), b"other", Verdict.CONFLICT),
        (row(lease=timedelta(seconds=30)), DIGEST, Verdict.BUSY),
        (row(lease=timedelta(0)), DIGEST, Verdict.RESUME),
        (row(answered=True, age=timedelta(hours=24)), b"other", Verdict.NEW),  # expired: a new request
        (row(age=timedelta(hours=25), lease=timedelta(hours=1)), DIGEST, Verdict.NEW),
    ],
    ids=["unknown", "replay", "conflict", "conflict-in-flight", "busy", "resume", "expired", "expired-in-flight"],
)
def test_decide(existing: Existing | None, digest: bytes, verdict: Verdict) -> None:
    assert decide(existing, digest, NOW) is verdict


def test_keys_are_visible_ascii_up_to_255() -> None:
    assert parse_key(None) is None
    assert parse_key(" 7f3a-01 ") == "7f3a-01"
    assert parse_key("x" * 255) == "x" * 255
    for bad in ("", "x" * 256, "two words", "tab\there", "ümlaut"):
        with pytest.raises(Problem) as refused:
            parse_key(bad)
        assert refused.value.status == 400


def test_stored_records_round_trip_byte_for_byte() -> None:
    records = [Outgoing("kim.cases", b"DO-1", b"\xc3\x01\x00\xff", "e-1", "CaseClosed")]
    assert records_from_json(records_to_json(records)) == records


def test_the_openapi_document_describes_keys_and_the_received_referrals() -> None:
    from schemas import Codec
    from web.gateway.config import GatewayConfig
    from web.gateway.openapi import document

    paths = document(Codec(), GatewayConfig("127.0.0.1:19092"))["paths"]
    for path in ("/v1/events", "/v1/events:batch"):
        publish = paths[path]["post"]
        assert {"$ref": "#/components/parameters/IdempotencyKey"} in publish["parameters"]
        assert "409" in publish["responses"] and "Idempotency-Key" in publish["responses"]["422"]["description"]
    received = paths["/v1/referrals/received"]["get"]
    assert received["security"] == [{"agencyToken": []}]
    assert "parameters" not in received or all("$ref" in p for p in received["parameters"])  # no agency parameter
