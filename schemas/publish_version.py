"""Publish the current version of an event type: ``python -m schemas.publish_version <Type> [<Type> …]``.

Run it after adding ``schemas/avro/events/<Type>/vN.avsc`` (and its upcaster, if the meaning changed)
and updating ``schemas/samples.py`` so that ``sample_payload(<Type>)`` is a realistic vN payload. It

1. refuses if the version is already published with another fingerprint (published schemas are
   immutable: add vN+1 instead) or if any older version is not readable by it (``schemas.compat``);
2. freezes the composed message schema as ``schemas/history/<Type>/vN.avsc``;
3. writes one realistic event (``samples.sample_event``) encoded by vN as ``vN.bin`` and what it
   says as ``vN.json`` — these are never rewritten;
4. records in every older sample's JSON what vN reads from it (``read_as.vN``), for review in the diff;
5. adds ``{event_type, version, fingerprint}`` to ``schemas/published.json``.

``--all`` does this for every event type whose current version is not recorded yet. Afterwards
regenerate ``docs/catalog.md`` (``python -m schemas.docs``) and ``docs/asyncapi.json``
(``python -m schemas.asyncapi``). Publishing twice is harmless: the second run changes nothing.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

from schemas.catalog import AVRO_DIR, load_catalog
from schemas.codec import Codec
from schemas.compat import check_catalog
from schemas.errors import KimError
from schemas.history import (
    HISTORY_DIR,
    PUBLISHED_JSON,
    Published,
    dump_json,
    jsonable,
    published,
    sample_paths,
    schema_path,
    stored_samples,
    write_published,
)
from schemas.samples import sample_event


class PublishError(KimError):
    """The version cannot be published; the message says why and what to do."""


@dataclass(frozen=True)
class Paths:
    avro: Path = AVRO_DIR
    history: Path = HISTORY_DIR
    published: Path = PUBLISHED_JSON


def _reading(codec: Codec, data: bytes) -> dict:
    event = codec.decode(data)
    return jsonable({"envelope": event.envelope, "payload": event.payload})


def publish(event_type: str, paths: Paths = Paths()) -> list[str]:
    """Record the current version of ``event_type``; returns what was written (empty: already recorded)."""
    catalog = load_catalog(paths.avro)
    try:
        schema = catalog.current(event_type)
    except KeyError as exc:
        raise PublishError(str(exc.args[0])) from None
    version, fingerprint = schema.version, schema.fingerprint.hex()
    entries = published(paths.published)
    pinned = next((p for p in entries if (p.event_type, p.version) == (event_type, version)), None)
    if pinned is not None and pinned.fingerprint != fingerprint:
        raise PublishError(
            f"{event_type} v{version} was published with fingerprint {pinned.fingerprint} but composes to "
            f"{fingerprint} today: a published schema never changes — restore it and add v{version + 1}.avsc instead"
        )
    problems = [p for p in check_catalog(catalog, paths.history) if p.startswith((f"{event_type} ", "Envelope"))]
    if problems:
        raise PublishError(f"{event_type} v{version} would break readers:\n  " + "\n  ".join(problems))

    written: list[str] = []
    frozen = schema_path(event_type, version, paths.history)
    binary, described = sample_paths(event_type, version, paths.history)
    frozen.parent.mkdir(parents=True, exist_ok=True)
    if not frozen.exists():
        frozen.write_text(dump_json(schema.schema), encoding="utf-8")
        written.append(str(frozen))
    codec = Codec(catalog, history=paths.history)
    if not binary.exists():
        event = sample_event(event_type)
        data = codec.encode(event_type, event.envelope, event.payload)
        binary.write_bytes(data)
        record = {
            "event_type": event_type,
            "version": version,
            "fingerprint": fingerprint,
            "written": jsonable({"envelope": event.envelope, "payload": event.payload}),
            "read_as": {f"v{version}": _reading(codec, data)},
        }
        described.write_text(dump_json(record), encoding="utf-8")
        written += [str(binary), str(described)]
    for sample in stored_samples(paths.history):
        if sample.event_type != event_type or f"v{version}" in sample.record["read_as"]:
            continue
        sample.record["read_as"][f"v{version}"] = _reading(codec, sample.data)
        _, path = sample_paths(event_type, sample.version, paths.history)
        path.write_text(dump_json(sample.record), encoding="utf-8")
        written.append(f"{path} (added read_as.v{version})")
    if pinned is None:
        write_published([*entries, Published(event_type, version, fingerprint)], paths.published)
        written.append(f"{paths.published} ({event_type} v{version} {fingerprint})")
    return written


def unrecorded(paths: Paths = Paths()) -> list[str]:
    """Event types whose current version lacks its fingerprint, frozen schema or stored sample."""
    catalog = load_catalog(paths.avro)
    pinned = {(p.event_type, p.version) for p in published(paths.published)}
    missing = []
    for event_type in sorted(catalog.event_types()):
        version = catalog.current(event_type).version
        binary, described = sample_paths(event_type, version, paths.history)
        files = (schema_path(event_type, version, paths.history), binary, described)
        if (event_type, version) not in pinned or not all(f.exists() for f in files):
            missing.append(event_type)
    return missing


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m schemas.publish_version", description=__doc__.split("\n")[0])
    parser.add_argument("event_types", nargs="*", metavar="TYPE", help="event types whose current version to publish")
    parser.add_argument("--all", action="store_true", help="every event type whose current version is unrecorded")
    args = parser.parse_args(argv)
    event_types = unrecorded() if args.all else args.event_types
    if not event_types:
        print("nothing to publish" if args.all else "name an event type, or use --all")
        return 0 if args.all else 2
    try:
        for event_type in event_types:
            written = publish(event_type)
            version = load_catalog().current(event_type).version
            print(f"{event_type} v{version}: " + ("already recorded" if not written else "published"))
            for line in written:
                print(f"  wrote {line}")
    except PublishError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print("next: .venv/bin/python -m schemas.docs && .venv/bin/python -m schemas.asyncapi")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
