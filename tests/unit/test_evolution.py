"""Schema evolution: every published version stays readable, with the meaning the current version gives it.

- each entry of ``published.json`` has its frozen schema and its stored sample in ``schemas/history``;
- today's codec reads every stored sample exactly as recorded (``read_as`` of the current version);
- the whole catalog is transitively compatible (every older/published writer → the current reader);
- the checker catches each kind of breaking change, with a message naming type, versions and field;
- the CasePaused v1 → v2 upcaster runs for v1 events only;
- ``publish_version`` records a compatible version and refuses a breaking or altered one.
"""

from __future__ import annotations

import io
import json
import shutil
from dataclasses import replace
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastavro import schemaless_reader

from schemas import Codec, DecodeError, load_catalog
from schemas.catalog import AVRO_DIR
from schemas.codec import HEADER_SIZE, MAGIC
from schemas.compat import check_catalog, schema_problems
from schemas.history import HISTORY_DIR, PUBLISHED_JSON, frozen_schemas, jsonable, published, stored_samples
from schemas.publish_version import Paths, PublishError, publish, unrecorded
from schemas.samples import SAMPLE_AT, sample_envelope, sample_payload
from schemas.upcasters import UPCASTERS, chain

CATALOG = load_catalog()
CODEC = Codec()
PUBLISHED = published()
SAMPLES = stored_samples()
REGENERATE = "record it with `.venv/bin/python -m schemas.publish_version {}`"


def _id(sample: Any) -> str:
    return f"{sample.event_type}-v{sample.version}"


# --- the stored history ---------------------------------------------------------------------------


def test_every_published_version_has_its_frozen_schema_and_stored_sample() -> None:
    frozen = {(s.event_type, s.version): s.fingerprint.hex() for s in frozen_schemas()}
    stored = {(s.event_type, s.version): s for s in SAMPLES}
    for entry in PUBLISHED:
        key = (entry.event_type, entry.version)
        how = REGENERATE.format(entry.event_type)
        assert frozen.get(key) == entry.fingerprint, f"{key}: frozen schema missing or changed; {how}"
        assert key in stored, f"{entry.event_type} v{entry.version} has no stored sample; {how}"
        sample = stored[key]
        assert sample.data[:HEADER_SIZE] == MAGIC + bytes.fromhex(entry.fingerprint)
        assert (sample.record["event_type"], sample.record["version"]) == key
        assert sample.record["fingerprint"] == entry.fingerprint


def test_nothing_in_the_history_is_unpublished() -> None:
    pinned = {(p.event_type, p.version) for p in PUBLISHED}
    assert {(s.event_type, s.version) for s in frozen_schemas()} <= pinned
    assert {(s.event_type, s.version) for s in SAMPLES} <= pinned


def test_every_current_version_is_published() -> None:
    assert unrecorded() == [], "publish with `.venv/bin/python -m schemas.publish_version --all`"


@pytest.mark.parametrize("sample", SAMPLES, ids=_id)
def test_stored_bytes_are_what_their_writer_wrote(sample: Any) -> None:
    writer = next(s for s in frozen_schemas() if (s.event_type, s.version) == (sample.event_type, sample.version))
    body = io.BytesIO(sample.data[HEADER_SIZE:])
    assert jsonable(schemaless_reader(body, writer.parsed, None)) == sample.record["written"]


@pytest.mark.parametrize("sample", SAMPLES, ids=_id)
def test_todays_readers_read_every_stored_sample_as_recorded(sample: Any) -> None:
    """Old events stay readable forever, and what they mean today is pinned (resolution + upcasters)."""
    current = CATALOG.current(sample.event_type).version
    expected = sample.record["read_as"].get(f"v{current}")
    assert expected is not None, f"no expectation for reading {_id(sample)} as v{current}; " + REGENERATE.format(
        sample.event_type
    )
    event = CODEC.decode(sample.data)
    assert event.event_type == sample.event_type
    assert jsonable({"envelope": event.envelope, "payload": event.payload}) == expected


# --- compatibility of the catalog -----------------------------------------------------------------


def test_the_whole_catalog_is_transitively_compatible() -> None:
    """A change that would keep today's readers from reading an older or published version fails here."""
    assert check_catalog() == []


def _copy(tmp_path: Path) -> Paths:
    shutil.copytree(AVRO_DIR, tmp_path / "avro")
    shutil.copytree(HISTORY_DIR, tmp_path / "history")
    shutil.copy(PUBLISHED_JSON, tmp_path / "published.json")
    return Paths(avro=tmp_path / "avro", history=tmp_path / "history", published=tmp_path / "published.json")


def _edit(path: Path, change: Any) -> None:
    schema = json.loads(path.read_text())
    change(schema)
    path.write_text(json.dumps(schema))


def _new_version(paths: Paths, event_type: str, change: Any) -> None:
    """Add the next version of ``event_type``: a copy of the current file, changed."""
    current = CATALOG.current(event_type).version
    folder = paths.avro / "events" / event_type
    shutil.copy(folder / f"v{current}.avsc", folder / f"v{current + 1}.avsc")
    _edit(folder / f"v{current + 1}.avsc", change)


def _field(schema: dict[str, Any], name: str) -> dict[str, Any]:
    return next(f for f in schema["fields"] if f["name"] == name)


def test_a_new_field_without_default_is_caught_with_a_clear_message(tmp_path: Path) -> None:
    paths = _copy(tmp_path)
    _new_version(paths, "ReferralIssued", lambda s: s["fields"].append({"name": "priority", "type": "kim.Priority"}))
    assert check_catalog(load_catalog(paths.avro), paths.history) == [
        "ReferralIssued v1 → v2: field 'priority' is new in v2 and has no default; "
        'add "default": ... or make it optional'
    ]


def test_a_new_field_with_a_default_is_compatible(tmp_path: Path) -> None:
    paths = _copy(tmp_path)
    new = {"name": "priority", "type": "kim.Priority", "default": "NORMAL", "doc": "How pressing."}
    _new_version(paths, "ReferralIssued", lambda s: s["fields"].append(new))
    assert check_catalog(load_catalog(paths.avro), paths.history) == []


def test_a_type_change_avro_cannot_promote_is_caught(tmp_path: Path) -> None:
    paths = _copy(tmp_path)
    _new_version(paths, "GoalAgreed", lambda s: _field(s, "target_date").update(type="string"))
    assert check_catalog(load_catalog(paths.avro), paths.history) == [
        "GoalAgreed v1 → v2: field 'target_date' changes type from date to string, which Avro cannot promote; "
        "add a new field instead"
    ]


def test_a_promotable_type_change_is_compatible() -> None:
    writer = {"type": "record", "name": "R", "fields": [{"name": "n", "type": "int"}, {"name": "s", "type": "string"}]}
    reader = {"type": "record", "name": "R", "fields": [{"name": "n", "type": "long"}, {"name": "s", "type": "bytes"}]}
    assert schema_problems(writer, reader) == []


def test_a_removed_enum_symbol_without_default_is_caught_in_a_shared_enum(tmp_path: Path) -> None:
    """Stadtbezirk is shared: the published CaseOpened v1 (frozen) must stay readable by today's enum."""
    paths = _copy(tmp_path)
    _edit(paths.avro / "types" / "Stadtbezirk.avsc", lambda s: s["symbols"].remove("EVING"))
    problems = check_catalog(load_catalog(paths.avro), paths.history)
    assert (
        "CaseOpened v2 as published → v2 as composed today: field 'district': enum Stadtbezirk no longer has EVING "
        '(still in v2 as published) and has no default; keep the symbol or add "default": ... to the enum'
    ) in problems


def test_a_removed_enum_symbol_is_fine_when_the_enum_has_a_default() -> None:
    enum = {"type": "enum", "name": "E", "symbols": ["A", "B", "OTHER"]}
    writer = {"type": "record", "name": "R", "fields": [{"name": "e", "type": enum}]}
    reader = {"type": "record", "name": "R", "fields": [{"name": "e", "type": {**enum, "symbols": ["A", "OTHER"]}}]}
    assert len(schema_problems(writer, reader)) == 1
    reader["fields"][0]["type"]["default"] = "OTHER"
    assert schema_problems(writer, reader) == []


def test_a_new_envelope_field_without_default_is_caught_once(tmp_path: Path) -> None:
    paths = _copy(tmp_path)
    _edit(
        paths.avro / "envelope" / "Envelope.avsc",
        lambda s: s["fields"].append({"name": "tenant_id", "type": "string"}),
    )
    problems = check_catalog(load_catalog(paths.avro), paths.history)
    envelope = [p for p in problems if p.startswith("Envelope")]
    assert len(envelope) == 1 and "field 'tenant_id' is new in Envelope.avsc today and has no default" in envelope[0]


def test_a_field_that_may_no_longer_be_null_is_caught(tmp_path: Path) -> None:
    paths = _copy(tmp_path)

    def required(schema: dict[str, Any]) -> None:
        field = _field(schema, "valid_until")
        field["type"] = {"type": "int", "logicalType": "date"}
        del field["default"]

    _new_version(paths, "ConsentGranted", required)
    assert check_catalog(load_catalog(paths.avro), paths.history) == [
        "ConsentGranted v1 → v2: field 'valid_until' may be null in v1 but not in v2; keep \"null\" in its union"
    ]


def test_checks_are_transitive_not_just_between_neighbours(tmp_path: Path) -> None:
    """v1 → v2 adds an optional field, v2 → v3 drops its default: v1 is unreadable by v3 (v2 → v3 is fine)."""
    paths = _copy(tmp_path)
    new = {"name": "tag_id", "type": ["null", "string"], "default": None, "doc": "x"}
    _new_version(paths, "CaseResumed", lambda s: s["fields"].append(new))
    folder = paths.avro / "events" / "CaseResumed"
    shutil.copy(folder / "v2.avsc", folder / "v3.avsc")
    _edit(folder / "v3.avsc", lambda s: _field(s, "tag_id").pop("default"))
    assert check_catalog(load_catalog(paths.avro), paths.history) == [
        "CaseResumed v1 → v3: field 'tag_id' is new in v3 and has no default; add \"default\": ... or make it optional"
    ]


def test_a_deleted_event_type_is_caught(tmp_path: Path) -> None:
    paths = _copy(tmp_path)
    shutil.rmtree(paths.avro / "events" / "CaseResumed")
    problems = check_catalog(load_catalog(paths.avro), paths.history)
    assert problems and problems[0].startswith("CaseResumed: published, but events/CaseResumed/ has no schema")


def test_a_record_renamed_without_alias_is_caught() -> None:
    writer = {
        "type": "record",
        "name": "R",
        "fields": [{"name": "x", "type": {"type": "enum", "name": "A", "symbols": ["S"]}}],
    }
    reader = json.loads(json.dumps(writer))
    reader["fields"][0]["type"]["name"] = "B"
    assert schema_problems(writer, reader, writer_label="v1", reader_label="v2") == [
        ("x", 'field \'x\': enum A is renamed to B in v2; add "aliases": ["A"] to it')
    ]
    reader["fields"][0]["type"]["aliases"] = ["A"]
    assert schema_problems(writer, reader) == []


# --- the CasePaused v2 upcaster -------------------------------------------------------------------


def _paused(reason: str, version: int, **fields: Any) -> bytes:
    payload = {"case_id": "DO-2025-000042", "reason": reason, "resume_by": SAMPLE_AT.date() + timedelta(days=30)}
    return CODEC.encode("CasePaused", sample_envelope("CasePaused"), {**payload, **fields}, version=version)


def test_a_v1_pause_of_an_absent_client_gets_its_expected_return_day() -> None:
    event = CODEC.decode(_paused("CLIENT_AWAY", 1))
    day = SAMPLE_AT.date() + timedelta(days=30)
    assert event.payload == {
        "case_id": "DO-2025-000042",
        "reason": "CLIENT_AWAY",
        "resume_by": day,
        "expected_resume_on": day,
    }


@pytest.mark.parametrize("reason", ["CLIENT_REQUEST", "WAITING_FOR_DECISION", "NO_CONTACT", "OTHER"])
def test_a_v1_pause_for_another_reason_says_nothing_about_resumption(reason: str) -> None:
    assert CODEC.decode(_paused(reason, 1)).payload["expected_resume_on"] is None


def test_a_v1_pause_without_review_date_stays_without_dates() -> None:
    assert CODEC.decode(_paused("CLIENT_AWAY", 1, resume_by=None)).payload["expected_resume_on"] is None


def test_upcasters_never_touch_events_of_the_current_version() -> None:
    event = CODEC.decode(_paused("CLIENT_AWAY", 2))
    assert event.payload["expected_resume_on"] is None  # v2 said "not known" explicitly
    later = date(2025, 6, 1)
    assert CODEC.decode(_paused("CLIENT_AWAY", 2, expected_resume_on=later)).payload["expected_resume_on"] == later


def test_v1_shaped_payloads_still_validate_against_v2() -> None:
    """Producers that never heard of v2 keep working: its new field is optional."""
    v1_payload = {"case_id": "DO-2025-000042", "reason": "CLIENT_AWAY", "resume_by": SAMPLE_AT.date()}
    assert CODEC.validate("CasePaused", sample_envelope("CasePaused"), v1_payload) == []


def test_the_expected_return_day_is_a_deadline_the_rules_check() -> None:
    yesterday = SAMPLE_AT.date() - timedelta(days=1)
    payload = {**sample_payload("CasePaused"), "expected_resume_on": yesterday}
    assert CODEC.validate("CasePaused", sample_envelope("CasePaused"), payload) == [
        f"payload.expected_resume_on: {yesterday.isoformat()} is before the event's date {SAMPLE_AT.date().isoformat()}"
    ]


def test_every_upcaster_belongs_to_an_older_version_of_a_known_type() -> None:
    for event_type, version in UPCASTERS:
        assert event_type in CATALOG.event_types()
        assert 1 <= version < CATALOG.current(event_type).version
    assert chain("CasePaused", 1, 2) == (UPCASTERS[("CasePaused", 1)],)
    assert chain("CasePaused", 2, 2) == ()


def test_an_upcaster_that_fails_is_a_decode_error() -> None:
    def broken(payload: dict[str, Any], envelope: dict[str, Any]) -> dict[str, Any]:
        raise KeyError("resume_by")

    codec = Codec()
    plan = codec._plan(codec.schema_for("CasePaused", version=1).fingerprint)
    codec._plans[plan.writer.fingerprint] = replace(plan, upcasters=(broken,))
    with pytest.raises(DecodeError, match="upcaster broken failed"):
        codec.decode(_paused("CLIENT_AWAY", 1))


def test_the_sample_is_the_current_version() -> None:
    assert "expected_resume_on" in sample_payload("CasePaused")


# --- publishing a version -------------------------------------------------------------------------


def test_publishing_a_compatible_version_records_everything_once(tmp_path: Path) -> None:
    paths = _copy(tmp_path)
    new = {"name": "tag_id", "type": ["null", "string"], "default": None, "doc": "x"}
    _new_version(paths, "CaseResumed", lambda s: s["fields"].append(new))
    written = publish("CaseResumed", paths)
    folder = paths.history / "CaseResumed"
    assert {p.name for p in folder.iterdir()} == {"v1.avsc", "v1.bin", "v1.json", "v2.avsc", "v2.bin", "v2.json"}
    assert any("read_as.v2" in line for line in written)
    entry = next(p for p in published(paths.published) if (p.event_type, p.version) == ("CaseResumed", 2))
    assert entry.fingerprint == load_catalog(paths.avro).current("CaseResumed").fingerprint.hex()
    old = json.loads((folder / "v1.json").read_text())
    assert old["read_as"]["v2"]["payload"] == {**old["written"]["payload"], "tag_id": None}
    assert publish("CaseResumed", paths) == []  # twice is harmless
    assert check_catalog(load_catalog(paths.avro), paths.history) == []


def test_publishing_a_breaking_version_is_refused_with_the_reason(tmp_path: Path) -> None:
    paths = _copy(tmp_path)
    _new_version(paths, "ReferralIssued", lambda s: s["fields"].append({"name": "priority", "type": "kim.Priority"}))
    with pytest.raises(PublishError, match="field 'priority' is new in v2 and has no default"):
        publish("ReferralIssued", paths)
    assert not (paths.history / "ReferralIssued" / "v2.bin").exists()


def test_changing_a_published_version_is_refused(tmp_path: Path) -> None:
    paths = _copy(tmp_path)
    _edit(
        paths.avro / "events" / "CaseResumed" / "v1.avsc",
        lambda s: s["fields"].append({"name": "tag_id", "type": ["null", "string"], "default": None}),
    )
    with pytest.raises(PublishError, match="a published schema never changes"):
        publish("CaseResumed", paths)


def test_a_changed_shared_enum_keeps_old_events_readable(tmp_path: Path) -> None:
    """Frozen writer schemas: even if Stadtbezirk gained a symbol, v1 events in the log still decode."""
    paths = _copy(tmp_path)
    _edit(paths.avro / "types" / "Stadtbezirk.avsc", lambda s: s["symbols"].append("NEUSTADT"))
    codec = Codec(load_catalog(paths.avro), history=paths.history)
    old = next(s for s in SAMPLES if s.event_type == "CaseOpened" and s.version == 2)
    assert jsonable(codec.decode(old.data).payload) == old.record["written"]["payload"]
