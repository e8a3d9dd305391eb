import json
from pathlib import Path

import pytest

from schemas import Codec, DecodeError, EncodeError, load_catalog
from tests.unit.events import closed, opened

PUBLISHED = Path(__file__).resolve().parents[2] / "schemas" / "published.json"


def test_round_trip_keeps_every_field() -> None:
    codec = Codec()
    event = opened("DO-C1", agency="AUSLAENDERBEHOERDE", district="INNENSTADT_NORD")
    data = codec.encode(event.event_type, event.envelope, event.payload)
    decoded = codec.decode(data)
    assert decoded.event_type == "CaseOpened"
    assert decoded.payload == event.payload
    assert decoded.event_id == event.event_id
    assert decoded.occurred_at == event.occurred_at
    assert decoded.source_agency == "AUSLAENDERBEHOERDE"


def test_message_names_its_writer_schema_by_single_object_fingerprint() -> None:
    codec = Codec()
    event = closed("DO-C2")
    data = codec.encode(event.event_type, event.envelope, event.payload)
    assert data[:2] == b"\xc3\x01"
    assert data[2:10] == codec.schema_for("CaseClosed").fingerprint


def test_every_invalid_field_is_named_with_its_reason() -> None:
    codec = Codec()
    event = opened("DO-C3", sealed=False)
    payload = dict(event.payload, district="Dortmund-Nord", rechtskreise=["SGB_II", "SGB_99"], nickname="x")
    del payload["client_ref"]
    with pytest.raises(EncodeError) as raised:  # as v1, where client_ref is required (v2: sealed instead)
        codec.encode("CaseOpened", dict(event.envelope, source_agency="FINANZAMT"), payload, version=1)
    errors = raised.value.errors
    assert any(e.startswith("envelope.source_agency: 'FINANZAMT' is not one of") for e in errors)
    assert any(e.startswith("payload.district: 'Dortmund-Nord' is not one of") for e in errors)
    assert any(e.startswith("payload.rechtskreise[1]: 'SGB_99'") for e in errors)
    assert "payload.client_ref: required field is missing" in errors
    assert "payload.nickname: unknown field" in errors
    assert len(errors) == 5


def test_unknown_event_type_is_refused_with_the_known_ones() -> None:
    with pytest.raises(EncodeError, match="unknown type 'CaseReopened'; known types: ") as raised:
        Codec().encode("CaseReopened", {}, {})
    assert "CaseClosed, CaseErased, CaseHandedOver" in str(raised.value)


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "missing C3 01 marker"),
        (b'{"case_id": "c"}', "missing C3 01 marker"),
        (b"\xc3\x01" + b"\x00" * 8 + b"abc", "unknown writer schema fingerprint 0000000000000000"),
    ],
)
def test_undecodable_bytes_say_why(data: bytes, reason: str) -> None:
    with pytest.raises(DecodeError, match=reason):
        Codec().decode(data)


def test_truncated_body_is_a_decode_error() -> None:
    codec = Codec()
    event = opened("DO-C4")
    data = codec.encode(event.event_type, event.envelope, event.payload)
    with pytest.raises(DecodeError, match="corrupt CaseOpened v2 body"):
        codec.decode(data[:-20])


def test_published_schema_versions_never_change() -> None:
    """An edit to a published .avsc changes its fingerprint: add a new version file instead."""
    published = {(p["event_type"], p["version"]): p["fingerprint"] for p in json.loads(PUBLISHED.read_text())}
    current = {(s.event_type, s.version): s.fingerprint.hex() for s in load_catalog().schemas}
    for key, fingerprint in published.items():
        assert current.get(key) == fingerprint, f"{key[0]} v{key[1]} was changed or removed after publication"
    assert set(current) == set(published), "a new schema version must be recorded in schemas/published.json"
