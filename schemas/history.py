"""What was published, kept forever: ``published.json``, frozen writer schemas and one stored sample per version.

Layout (written by ``python -m schemas.publish_version``, never edited by hand):

  published.json               every published (event type, version) and its fingerprint
  history/<Type>/vN.avsc        the composed message schema ``{envelope, payload}`` exactly as published
  history/<Type>/vN.bin         one realistic event in single-object encoding, written by that version
  history/<Type>/vN.json        what the sample said (``written``) and what each later current version
                                reads from it (``read_as``: ``{"v2": {envelope, payload}}``), as JSON

The frozen schema is what keeps old events readable: a message schema inlines the envelope and the
shared enums, so a later edit of ``Envelope.avsc`` or ``types/*.avsc`` would change how ``vN.avsc``
composes today; the codec still knows every published writer schema from here, by fingerprint.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import date, datetime
from functools import cache
from pathlib import Path
from typing import Any

from schemas.catalog import EventSchema, event_schema

SCHEMAS_DIR = Path(__file__).parent
PUBLISHED_JSON = SCHEMAS_DIR / "published.json"
HISTORY_DIR = SCHEMAS_DIR / "history"


@dataclass(frozen=True)
class Published:
    event_type: str
    version: int
    fingerprint: str  # hex, as in published.json


@dataclass(frozen=True)
class StoredSample:
    event_type: str
    version: int
    data: bytes  # the single-object encoded event, as its writer produced it
    record: dict[str, Any]  # the JSON beside it: event_type, version, fingerprint, written, read_as


def published(path: Path = PUBLISHED_JSON) -> list[Published]:
    return [Published(p["event_type"], p["version"], p["fingerprint"]) for p in json.loads(path.read_text())]


def write_published(entries: list[Published], path: Path = PUBLISHED_JSON) -> None:
    rows = [
        {"event_type": p.event_type, "version": p.version, "fingerprint": p.fingerprint}
        for p in sorted(entries, key=lambda p: (p.event_type, p.version))
    ]
    path.write_text(json.dumps(rows, indent=2) + "\n", encoding="utf-8")


def schema_path(event_type: str, version: int, history: Path = HISTORY_DIR) -> Path:
    return history / event_type / f"v{version}.avsc"


def sample_paths(event_type: str, version: int, history: Path = HISTORY_DIR) -> tuple[Path, Path]:
    return history / event_type / f"v{version}.bin", history / event_type / f"v{version}.json"


def _versions(history: Path, suffix: str) -> list[tuple[str, int, Path]]:
    if not history.is_dir():  # e.g. an installed package without the history folder
        return []
    found = []
    for path in sorted(history.glob(f"*/v*{suffix}")):
        number = path.name[1 : -len(suffix)]
        if number.isdigit():
            found.append((path.parent.name, int(number), path))
    return sorted(found, key=lambda f: (f[0], f[1]))


def frozen_schemas(history: Path = HISTORY_DIR) -> tuple[EventSchema, ...]:
    """Every published writer schema, as it was published (parsed once while the files stay the same)."""
    files = tuple((t, v, path, path.stat().st_mtime_ns) for t, v, path in _versions(history, ".avsc"))
    return _frozen(files)


@cache
def _frozen(files: tuple[tuple[str, int, Path, int], ...]) -> tuple[EventSchema, ...]:
    return tuple(
        event_schema(event_type, version, json.loads(path.read_text(encoding="utf-8")))
        for event_type, version, path, _ in files
    )


def stored_samples(history: Path = HISTORY_DIR) -> list[StoredSample]:
    samples = []
    for event_type, version, path in _versions(history, ".bin"):
        record = json.loads(path.with_suffix(".json").read_text(encoding="utf-8"))
        samples.append(StoredSample(event_type, version, path.read_bytes(), record))
    return samples


def jsonable(value: Any) -> Any:
    """A decoded Avro value as plain JSON: dates and times in ISO 8601, UUIDs and bytes as strings."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, bytes):
        return value.hex()
    return value


def dump_json(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False) + "\n"
