"""Building events from dicts, validating them (schema + domain rules) and encoding them — no broker."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from schemas import Codec, EncodeError, load_catalog
from schemas.samples import SAMPLE_AT, SAMPLE_KEYS, SOURCE_AGENCY, sample_payload
from schemas.sealing import ERASURES, NO_KEY_STORE, KeyRing, unseal
from schemas.signing import SigningKey
from streams.sdk import EventDraft, FieldError, InvalidBatch, Preparer, Publisher, SyncPublisher, agencies

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
KEYS = KeyRing()  # the platform's publishers hold the clients' keys (infra/client_keys.py); here in memory
KEYS.add("P-7f3a9c", "k-test", bytes(32))


def test_a_dict_becomes_a_typed_draft() -> None:
    draft = EventDraft.from_dict(OPENED)
    assert draft.event_type == "CaseOpened"
    assert draft.occurred_at == datetime(2025, 3, 1, 10, tzinfo=UTC)
    assert draft.payload == OPENED["payload"]
    assert EventDraft.from_dict(draft.to_dict()) == draft


def test_the_prepared_event_carries_the_publishers_agency_and_decodes() -> None:
    codec = Codec()
    preparer = Preparer("JOBCENTER", topic_prefix="t.", codec=codec, keys=KEYS)
    outgoing = preparer.prepare(EventDraft.from_dict(OPENED))
    assert outgoing.topic == "t.kim.cases"
    assert outgoing.key == b"DO-2025-000123"
    event = codec.decode(outgoing.value)
    assert event.source_agency == "JOBCENTER"
    assert event.event_id == outgoing.event_id
    assert event.occurred_at == datetime(2025, 3, 1, 10, tzinfo=UTC)
    sealed = event.payload["client_sealed"]
    assert event.payload == {**OPENED["payload"], "client_ref": None, "client_sealed": sealed}
    assert b"P-7f3a9c" not in outgoing.value
    assert unseal(KEYS.keys["P-7f3a9c"], sealed, "CaseOpened", "DO-2025-000123") == "P-7f3a9c"


def test_without_client_keys_a_publisher_refuses_to_publish_the_client_in_clear() -> None:
    """A partner's own SDK publisher has no key table: CaseOpened/ApplicationFiled are one clear error there."""
    with pytest.raises(EncodeError) as raised:
        Preparer("JOBCENTER").prepare(EventDraft.from_dict(OPENED))
    assert raised.value.errors == [NO_KEY_STORE.format(type="CaseOpened")]


def test_every_invalid_field_is_listed_at_once() -> None:
    data = {
        **OPENED,
        "occurred_at": "2025-03-01 10:00",
        "correlation_id": "not-a-uuid",
        "payload": {**OPENED["payload"], "district": "Nord", "rechtskreise": ["SGB_II", "SGB_99"], "name": "x"},
    }
    with pytest.raises(EncodeError) as raised:
        EventDraft.from_dict(data)
    errors = raised.value.errors
    assert errors[0] == "occurred_at: '2025-03-01 10:00' has no timezone; add 'Z' or an offset like '+01:00'"
    assert "correlation_id: 'not-a-uuid' is not a UUID" in errors
    assert "payload.name: unknown field" in errors
    assert any(e.startswith("payload.district: 'Nord' is not one of INNENSTADT_WEST") for e in errors)
    assert any(e.startswith("payload.rechtskreise[1]: 'SGB_99' is not one of") for e in errors)
    assert len(errors) == 5


def test_a_missing_client_ref_is_named_when_the_event_is_sealed() -> None:
    """Since v2 the schema has client_ref optional (null on the log); the sealing publisher requires it."""
    payload = dict(OPENED["payload"])
    del payload["client_ref"]
    with pytest.raises(EncodeError) as raised:
        Preparer("JOBCENTER", keys=KEYS).prepare(EventDraft("CaseOpened", payload))
    assert raised.value.errors == ["payload.client_ref: required field is missing (the client's pseudonym)"]


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ([OPENED], ["event: expected a JSON object, got an array"]),
        ({"payload": {}}, ["event_type: required field is missing"]),
        ({**OPENED, "event_type": 7}, ["event_type: expected a string"]),
        ({**OPENED, "payload": "x"}, ["payload: expected an object, got a string"]),
        ({"event_type": "CaseOpened"}, ["payload: required field is missing"]),
        (
            {**OPENED, "source_agency": "JOBCENTER"},
            ["source_agency: set by the publisher, not by the event (an agency speaks only for itself)"],
        ),
        (
            {**OPENED, "when": "now"},
            [
                "when: unknown field; allowed: "
                + ", ".join(["event_type", "occurred_at", "payload", "correlation_id", "causation_id"])
            ],
        ),
    ],
)
def test_shape_mistakes(data: object, expected: list[str]) -> None:
    with pytest.raises(EncodeError) as raised:
        EventDraft.from_dict(data)
    assert raised.value.errors == expected


def test_an_unknown_event_type_names_the_known_ones() -> None:
    with pytest.raises(EncodeError) as raised:
        EventDraft.from_dict({**OPENED, "event_type": "CaseReopened"})
    (error,) = raised.value.errors
    assert error.startswith("event_type: unknown type 'CaseReopened'; known types: ")
    assert "CaseClosed" in error and "CaseOpened" in error


def test_domain_rules_run_when_the_event_is_prepared() -> None:
    """A name where a pseudonym belongs passes the schema (a string) but not the rules (docs/domain.md rule 1)."""
    draft = EventDraft.from_dict({**OPENED, "payload": {**OPENED["payload"], "client_ref": "Max Mustermann"}})
    with pytest.raises(EncodeError) as raised:
        Preparer("JOBCENTER").prepare(draft)
    assert [FieldError.parse(e).field for e in raised.value.errors] == ["payload.client_ref"]
    assert "Max Mustermann" not in str(raised.value)


def test_a_batch_is_checked_whole_and_names_each_invalid_event_by_index() -> None:
    good = EventDraft.from_dict(OPENED)
    bad_district = EventDraft("CaseOpened", {**OPENED["payload"], "district": "Nord"})
    bad_reason = EventDraft("CaseClosed", {"case_id": "DO-1", "reason": "BORED"})
    with pytest.raises(InvalidBatch) as raised:
        Preparer("JOBCENTER", keys=KEYS).prepare_all([good, bad_district, good, bad_reason])
    assert sorted(raised.value.items) == [1, 3]
    assert raised.value.size == 4
    assert isinstance(raised.value, EncodeError)  # `except EncodeError` still catches it
    assert raised.value.items[3].errors[0].startswith("payload.reason: 'BORED' is not one of")


@pytest.mark.parametrize("event_type", sorted(ERASURES))
def test_erasure_events_are_refused_to_every_publisher(event_type: str) -> None:
    draft = EventDraft(event_type, sample_payload(event_type), occurred_at=SAMPLE_AT)
    with pytest.raises(EncodeError, match="published by `kim erase` only"):
        Preparer("KOMMUNALES_INTEGRATIONSZENTRUM", keys=SAMPLE_KEYS).prepare(draft)


def test_field_errors_name_envelope_fields_as_the_caller_wrote_them() -> None:
    assert FieldError.parse("envelope.occurred_at: must not be after recorded_at") == FieldError(
        "occurred_at", "must not be after recorded_at"
    )
    assert FieldError.parse("payload.rechtskreise[1]: 'X' is bad") == FieldError(
        "payload.rechtskreise[1]", "'X' is bad"
    )
    assert str(FieldError.parse("no field here")) == "no field here"


def test_an_agency_speaks_only_for_itself_and_must_exist() -> None:
    assert "JOBCENTER" in agencies() and "AUSLAENDERBEHOERDE" in agencies()
    assert "OTHER" not in agencies()  # the readers' fallback for unknown agencies is nobody's identity
    with pytest.raises(ValueError, match="unknown agency 'FINANZAMT'; known agencies: KIM_CASE_MANAGEMENT"):
        Preparer("FINANZAMT")
    with pytest.raises(ValueError, match="unknown agency"):
        SyncPublisher("127.0.0.1:9", "FINANZAMT")


def test_a_publisher_needs_a_signing_key_of_its_own_agency() -> None:
    """Nothing reads a key from the machine's settings: the caller gives the agency's (or the platform's)."""
    with pytest.raises(ValueError, match="JOBCENTER needs a signing_key"):
        Publisher("127.0.0.1:9", "JOBCENTER")
    with pytest.raises(ValueError, match="not JOBCENTER's: an agency speaks only for itself"):
        Publisher("127.0.0.1:9", "JOBCENTER", signing_key=SigningKey.new("JUGENDAMT"))


def test_a_publisher_not_started_says_so() -> None:
    import asyncio

    async def scenario() -> None:
        publisher = Publisher("127.0.0.1:9", "JOBCENTER", signing_key=SigningKey.new("JOBCENTER"))
        with pytest.raises(RuntimeError, match="not started"):
            await publisher.publish(EventDraft("CaseClosed", {"case_id": "DO-1", "reason": "GOALS_ACHIEVED"}))
        await publisher.stop()

    asyncio.run(scenario())


@pytest.mark.parametrize("event_type", sorted(load_catalog().event_types() - set(ERASURES)))
def test_every_event_type_goes_from_json_to_bytes_and_back(event_type: str) -> None:
    codec = Codec()
    payload = sample_payload(event_type, SAMPLE_AT)
    as_json = EventDraft(event_type, payload, occurred_at=SAMPLE_AT).to_dict()
    draft = EventDraft.from_dict(as_json)
    outgoing = Preparer(SOURCE_AGENCY[event_type], codec=codec, keys=SAMPLE_KEYS).prepare(draft)
    event = codec.decode(outgoing.value)
    if "client_ref" in payload:  # sealed on the way: the log carries no clear pseudonym
        assert event.payload["client_sealed"]["key_id"] == SAMPLE_KEYS.keys[payload["client_ref"]].key_id
        payload = {**payload, "client_ref": None, "client_sealed": event.payload["client_sealed"]}
    assert event.payload == payload
    assert event.occurred_at == SAMPLE_AT
    assert outgoing.key == str(payload[codec.schema_for(event_type).key_field]).encode()
