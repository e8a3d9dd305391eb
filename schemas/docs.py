"""Renders the event catalog as Markdown (``docs/catalog.md``) from the Avro schemas.

``python -m schemas.docs`` rewrites the file; a unit test fails while it is out of date, so the
table partners read can never drift from the contract the codec enforces.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from schemas.catalog import Catalog, EventSchema, load_catalog
from schemas.labels import LABELS
from schemas.rules import RULES
from schemas.topics import EVENT_TOPICS
from schemas.upcasters import UPCASTERS

CATALOG_MD = Path(__file__).resolve().parents[1] / "docs" / "catalog.md"
TOPIC_ORDER = EVENT_TOPICS
# Events in the order they happen in a case or procedure; a type missing here is listed after them.
LIFECYCLE = (
    "CaseOpened",
    "ConsentGranted",
    "ConsentWithdrawn",
    "CaseManagerAssigned",
    "NeedsAssessed",
    "GoalAgreed",
    "GoalAchieved",
    "GoalAbandoned",
    "ReferralIssued",
    "ReferralAccepted",
    "ReferralDeclined",
    "ReferralCompleted",
    "CaseHandedOver",
    "CasePaused",
    "CaseResumed",
    "CaseClosed",
    "ApplicationFiled",
    "DocumentsRequested",
    "DocumentsReceived",
    "ApplicationCompleted",
    "AppointmentScheduled",
    "DecisionIssued",
    "PermitHandedOver",
    "ApplicationWithdrawn",
)
_LOGICAL = {"timestamp-micros": "timestamp", "timestamp-millis": "timestamp", "date": "date", "uuid": "UUID"}


def _short(name: str) -> str:
    return name.rsplit(".", 1)[-1]


def _link(name: str) -> str:
    return f"[{_short(name)}](#{_short(name).lower()})"


def type_text(schema: Any) -> str:
    """A reader's name for an Avro type: ``date``, ``list of [Agency](#agency)``, ``date, optional``."""
    if isinstance(schema, list):
        others = [type_text(branch) for branch in schema if branch != "null"]
        return " or ".join(others) + (", optional" if "null" in schema else "")
    if isinstance(schema, str):
        return schema if schema in ("string", "int", "long", "boolean", "double", "float") else _link(schema)
    if "logicalType" in schema:
        return _LOGICAL.get(schema["logicalType"], schema["logicalType"])
    if schema["type"] == "array":
        return f"list of {type_text(schema['items'])}"
    if schema["type"] in ("enum", "record"):
        return _link(schema["name"]) if schema["type"] == "enum" else _short(schema["name"])
    return type_text(schema["type"])


def _field_rows(fields: list[dict[str, Any]], prefix: str = "") -> list[str]:
    rows = []
    for field in fields:
        rows.append(f"| `{prefix}{field['name']}` | {type_text(field['type'])} | {field.get('doc', '')} |")
        inner = field["type"].get("items") if isinstance(field["type"], dict) else None
        if isinstance(inner, dict) and inner.get("type") == "record":
            rows += _field_rows(inner["fields"], f"{prefix}{field['name']}[].")
    return rows


def _table(header: tuple[str, ...], rows: list[str]) -> list[str]:
    return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header), *rows]


def enums(catalog: Catalog) -> dict[str, dict[str, Any]]:
    """Every enum the catalog defines, by short name, in order of first appearance."""
    found: dict[str, dict[str, Any]] = {}

    def walk(node: Any) -> None:
        if isinstance(node, list):
            for item in node:
                walk(item)
        elif isinstance(node, dict):
            if node.get("type") == "enum":
                found.setdefault(_short(node["name"]), node)
            for key in ("type", "items", "fields"):
                walk(node.get(key))

    for schema in catalog.schemas:
        walk(schema.schema)
    return found


def _event_section(versions: list[EventSchema]) -> list[str]:
    current = max(versions, key=lambda s: s.version)
    payload = current.payload_schema
    published = ", ".join(f"v{s.version} `{s.fingerprint.hex()}`" for s in sorted(versions, key=lambda s: s.version))
    return [
        f"### {current.event_type}",
        "",
        payload.get("doc", ""),
        "",
        f"Emitted by {payload['kim.emitted_by']}; key `{current.key_field}`; versions (fingerprint): {published}.",
        "",
        *_older_versions(current, versions),
        *_table(("field", "type", "meaning"), _field_rows(payload["fields"])),
        "",
    ]


def _older_versions(current: EventSchema, versions: list[EventSchema]) -> list[str]:
    """How events of older versions read today: Avro resolution, then the upcasters (schemas/upcasters.py)."""
    older = sorted(s.version for s in versions if s.version < current.version)
    if not older:
        return []
    lines = [
        f"Events written by {', '.join(f'v{v}' for v in older)} are read as v{current.version}: fields new since "
        "then take their defaults, dropped fields are left out."
    ]
    for version in range(older[0], current.version):
        upcast = UPCASTERS.get((current.event_type, version))
        if upcast is not None:
            lines[0] += f" From v{version} to v{version + 1}: {' '.join((upcast.__doc__ or '').split())}"
    return [*lines, ""]


def _lifecycle_position(event_type: str) -> tuple[int, str]:
    return (LIFECYCLE.index(event_type) if event_type in LIFECYCLE else len(LIFECYCLE), event_type)


def _topic_section(topic: str, catalog: Catalog) -> list[str]:
    currents = [catalog.current(t) for t in sorted(catalog.event_types(), key=_lifecycle_position)]
    currents = [s for s in currents if s.topic == topic]
    rows = [
        f"| {_link(s.event_type)} | {s.payload_schema['kim.emitted_by']} | {s.payload_schema['doc']} |"
        for s in currents
    ]
    lines = [f"## Topic `{topic}` — key `{currents[0].key_field}`", ""]
    lines += [*_table(("event", "emitted by", "meaning"), rows), ""]
    for schema in currents:
        lines += _event_section([s for s in catalog.schemas if s.event_type == schema.event_type])
    return lines


def _enum_section(catalog: Catalog) -> list[str]:
    lines = ["## Enumerations", "", "Symbols travel in the events; the German labels are for people.", ""]
    for name, enum in sorted(enums(catalog).items()):
        labels = LABELS.get(name, {})
        rows = [f"| `{symbol}` | {labels.get(symbol, '')} |" for symbol in enum["symbols"]]
        lines += [f"### {name}", "", enum.get("doc", ""), "", *_table(("symbol", "label"), rows), ""]
    return lines


def _rules_section() -> list[str]:
    lines = [
        "## Domain rules",
        "",
        "Checked by `Codec.validate` (and so before publishing) once an event matches its schema.",
        "Rules that need a case's history — the consent covers `to_agency` and is neither withdrawn",
        "nor expired, the referral is open — are checked on the stream side.",
        "",
    ]
    return [*lines, *(f"- {' '.join((rule.__doc__ or rule.__name__).split())}" for rule in RULES), ""]


def render(catalog: Catalog | None = None) -> str:
    """The whole catalog page."""
    catalog = catalog or load_catalog()
    envelope = catalog.schemas[0].schema["fields"][0]["type"]
    topics = sorted(catalog.topics(), key=lambda t: (*TOPIC_ORDER, t).index(t))
    lines = [
        "# KIM event catalog",
        "",
        "Generated from `schemas/avro/` by `python -m schemas.docs`; do not edit by hand.",
        "",
        "Every event is an Avro record `{envelope, payload}` in single-object encoding (`C3 01`, the",
        "writer schema's CRC-64-AVRO fingerprint, the body). Clients appear only by pseudonym",
        "(`client_ref`); no event carries names, birth dates, addresses or free text. Besides the",
        "schema, `schemas/rules.py` enforces the domain rules one event can show.",
        "",
        "## Envelope",
        "",
        envelope.get("doc", ""),
        "",
        *_table(("field", "type", "meaning"), _field_rows(envelope["fields"])),
        "",
    ]
    for topic in topics:
        lines += _topic_section(topic, catalog)
    lines += _rules_section() + _enum_section(catalog)
    return "\n".join(lines).rstrip("\n") + "\n"


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    target = Path(args[0]) if args else CATALOG_MD
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(render(), encoding="utf-8")
    print(f"wrote {target}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
