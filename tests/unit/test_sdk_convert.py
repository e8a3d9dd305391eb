"""JSON-ish values to Avro-ready ones, driven by the schema's logical types — no broker."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from schemas import load_catalog
from schemas.samples import SAMPLE_AT, sample_payload
from streams.sdk.convert import from_json, to_json

STAMP = {"type": "long", "logicalType": "timestamp-micros"}
DAY = {"type": "int", "logicalType": "date"}
VISIT = {
    "type": "record",
    "name": "Visit",
    "namespace": "test",
    "fields": [
        {"name": "at", "type": STAMP},
        {"name": "due", "type": ["null", DAY], "default": None},
        {
            "name": "slots",
            "type": {
                "type": "array",
                "items": {"type": "record", "name": "Slot", "fields": [{"name": "day", "type": DAY}]},
            },
        },
        {"name": "by_room", "type": {"type": "map", "values": DAY}, "default": {}},
        {"name": "again", "type": ["null", "test.Slot"], "default": None},
    ],
}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2025-03-01T10:00:00Z", datetime(2025, 3, 1, 10, tzinfo=UTC)),
        ("2025-03-01T11:00:00+01:00", datetime(2025, 3, 1, 11, tzinfo=timezone(timedelta(hours=1)))),
        ("2025-03-01T10:00:00.123456+00:00", datetime(2025, 3, 1, 10, 0, 0, 123456, tzinfo=UTC)),
    ],
)
def test_iso_timestamps_become_aware_datetimes(text: str, expected: datetime) -> None:
    converted = from_json(STAMP, text, "at")
    assert converted.errors == []
    assert converted.value == expected and converted.value.tzinfo is not None


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("2025-03-01T10:00:00", "'2025-03-01T10:00:00' has no timezone; add 'Z' or an offset like '+01:00'"),
        ("yesterday", "'yesterday' is not an ISO 8601 timestamp like '2025-03-01T10:00:00Z'"),
        (1740823200, "expected an ISO 8601 timestamp string like '2025-03-01T10:00:00Z', got a number"),
    ],
)
def test_bad_timestamps_say_why_and_stay_unconverted(value: object, reason: str) -> None:
    converted = from_json(STAMP, value, "occurred_at")
    assert converted.errors == [f"occurred_at: {reason}"]
    assert converted.value == value


def test_dates_nested_in_unions_arrays_maps_and_named_references() -> None:
    datum = {
        "at": "2025-03-01T10:00:00Z",
        "due": "2025-03-31",
        "slots": [{"day": "2025-03-02"}, {"day": "2025-03-03"}],
        "by_room": {"A": "2025-04-01"},
        "again": {"day": "2025-05-01"},
        "extra": "left for the validator",
    }
    converted = from_json(VISIT, datum)
    assert converted.errors == []
    assert converted.value["due"] == date(2025, 3, 31)
    assert [s["day"] for s in converted.value["slots"]] == [date(2025, 3, 2), date(2025, 3, 3)]
    assert converted.value["by_room"] == {"A": date(2025, 4, 1)}
    assert converted.value["again"] == {"day": date(2025, 5, 1)}
    assert converted.value["extra"] == "left for the validator"


def test_every_bad_date_is_named_by_its_path() -> None:
    datum = {"at": "2025-03-01T10:00:00Z", "due": "31.03.2025", "slots": [{"day": "2025-03-02"}, {"day": 5}]}
    converted = from_json(VISIT, datum)
    assert converted.errors == [
        "due: '31.03.2025' is not an ISO 8601 date like '2025-03-01'",
        "slots[1].day: expected an ISO 8601 date like '2025-03-01', got a number",
    ]


def test_null_and_typed_values_pass_through() -> None:
    typed = {"at": datetime(2025, 1, 1, tzinfo=UTC), "due": None, "slots": [{"day": date(2025, 1, 2)}]}
    converted = from_json(VISIT, typed)
    assert converted.errors == [] and converted.value == typed


def test_a_datetime_is_not_a_date() -> None:
    converted = from_json(DAY, datetime(2025, 1, 1, tzinfo=UTC), "due")
    assert converted.errors and converted.errors[0].startswith("due: expected an ISO 8601 date")


@pytest.mark.parametrize("event_type", sorted(load_catalog().event_types()))
def test_every_catalog_payload_survives_json_and_back(event_type: str) -> None:
    """The converter needs no code per event type: the schema's logical types drive it."""
    payload = sample_payload(event_type, SAMPLE_AT)
    schema = load_catalog().current(event_type).schema
    as_json = to_json(payload)
    assert all(isinstance(v, (str, int, float, bool, list, dict, type(None))) for v in as_json.values())
    converted = from_json(schema, {"payload": as_json})
    assert converted.errors == []
    assert converted.value["payload"] == payload
