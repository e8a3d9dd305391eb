"""The catalog as a whole: every type round-trips, carries its key and docs, and holds no personal data."""

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from schemas import Codec, load_catalog
from schemas.docs import CATALOG_MD, enums, render
from schemas.labels import LABELS, PROCEDURES
from schemas.rules import DEADLINES
from schemas.samples import EVENT_TYPES, SOURCE_AGENCY, sample_event, sample_payload

CATALOG = load_catalog()
CURRENT = sorted(CATALOG.event_types())
PUBLISHED = Path(__file__).resolve().parents[2] / "schemas" / "published.json"
TOPIC_KEYS = {"kim.cases": "case_id", "kim.immigration": "application_id"}
# Field names that would carry clear personal data or free text (docs/domain.md, data-protection rule 1).
FORBIDDEN = ("name", "birth", "address", "comment", "note", "text", "email", "phone")


def fields(record: dict[str, Any], path: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    """Every field of a record, nested records included, as (dotted path, field)."""
    for field in record["fields"]:
        where = f"{path}{field['name']}"
        yield where, field
        kinds = field["type"] if isinstance(field["type"], list) else [field["type"]]
        for kind in kinds:
            inner = kind.get("items", kind) if isinstance(kind, dict) else None
            if isinstance(inner, dict) and inner.get("type") == "record":
                yield from fields(inner, f"{where}[].")


def all_fields() -> Iterator[tuple[str, dict[str, Any]]]:
    for schema in CATALOG.schemas:
        for part in schema.schema["fields"]:
            yield from (
                (f"{schema.event_type} v{schema.version} {part['name']}.{p}", f) for p, f in fields(part["type"])
            )


def test_samples_cover_exactly_the_catalog() -> None:
    assert sorted(EVENT_TYPES) == CURRENT


@pytest.mark.parametrize("event_type", CURRENT)
def test_every_type_round_trips_through_the_codec(event_type: str) -> None:
    codec = Codec()
    event = sample_event(event_type)
    decoded = codec.decode(codec.encode(event.event_type, event.envelope, event.payload))
    assert decoded.event_type == event_type
    assert decoded.payload == event.payload
    assert decoded.occurred_at == event.occurred_at
    assert decoded.source_agency == SOURCE_AGENCY[event_type]


@pytest.mark.parametrize("event_type", CURRENT)
def test_every_type_has_its_topic_key_as_a_required_string(event_type: str) -> None:
    schema = CATALOG.current(event_type)
    assert TOPIC_KEYS.get(schema.topic) == schema.key_field, f"{event_type}: topic {schema.topic} is keyed differently"
    key = next((f for f in schema.payload_schema["fields"] if f["name"] == schema.key_field), None)
    assert key is not None and key["type"] == "string", (
        f"{event_type}: key field {schema.key_field} missing or optional"
    )
    assert sample_payload(event_type)[schema.key_field]


@pytest.mark.parametrize("event_type", CURRENT)
def test_every_type_is_documented_for_the_catalog_table(event_type: str) -> None:
    payload = CATALOG.current(event_type).payload_schema
    assert payload.get("doc") and payload.get("kim.emitted_by"), f"{event_type}: add 'doc' and 'kim.emitted_by'"
    undocumented = [path for path, field in fields(payload) if not field.get("doc")]
    assert undocumented == [], f"{event_type}: fields without a doc"


def test_no_field_is_named_like_personal_data_or_free_text() -> None:
    offenders = [path for path, field in all_fields() if any(word in field["name"].lower() for word in FORBIDDEN)]
    assert offenders == []


def test_every_string_field_is_an_identifier_not_free_text() -> None:
    """A plain string can only hold an id or a pseudonym; anything else must be an enum, a date or a number."""

    def plain_string(kind: Any) -> bool:
        return kind == "string" or (isinstance(kind, list) and "string" in kind)

    offenders = [
        path
        for path, field in all_fields()
        if plain_string(field["type"]) and not re.search(r"(_id|_ref)$|^envelope\.event_type$", path.split(" ")[-1])
    ]
    assert offenders == []


def test_dates_are_deadlines_that_the_rules_check() -> None:
    """A new date field must be added to rules.DEADLINES (or the rule rethought), never silently skipped."""

    def is_date(kind: Any) -> bool:
        kinds = kind if isinstance(kind, list) else [kind]
        return any(isinstance(k, dict) and k.get("logicalType") == "date" for k in kinds)

    dates = {field["name"] for _, field in all_fields() if is_date(field["type"])}
    assert dates == set(DEADLINES)


def test_every_enum_symbol_is_ascii_upper_snake_with_a_german_label() -> None:
    for name, enum in enums(CATALOG).items():
        for symbol in enum["symbols"]:
            assert re.fullmatch(r"[A-Z][A-Z0-9]*(_[A-Z0-9]+)*", symbol), f"{name}.{symbol} is not UPPER_SNAKE ASCII"
            assert LABELS.get(name, {}).get(symbol), f"{name}.{symbol} has no label in schemas/labels.py"


def test_labels_name_exactly_the_symbols_of_their_enum() -> None:
    """The label tables double as the lists of symbols (``labels.PROCEDURES``, the query filters): none may
    name a symbol the catalog does not have."""
    enums_ = enums(CATALOG)
    for name, labels in LABELS.items():
        if name in enums_:
            assert set(labels) == set(enums_[name]["symbols"]), name
    assert set(PROCEDURES) == set(enums_["Verfahren"]["symbols"])


def test_published_versions_are_listed_sorted() -> None:
    entries = [(p["event_type"], p["version"]) for p in json.loads(PUBLISHED.read_text())]
    assert entries == sorted(entries)


def test_docs_catalog_is_current() -> None:
    stale = not CATALOG_MD.exists() or CATALOG_MD.read_text(encoding="utf-8") != render()
    assert not stale, "docs/catalog.md is out of date: regenerate it with `.venv/bin/python -m schemas.docs`"
