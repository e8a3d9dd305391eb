"""The progress file of a publish that may have to be resumed: what is published, from where, how far it got.

A bulk publish (`kim publish FILE`, `kim simulate --publish`) writes one small JSON file before it sends
anything and rewrites it (atomically: a reader never sees half a file) after every window:

- ``input``: what is being published — the file's path and SHA-256, or the simulation's parameters — so a
  resume refuses an input that changed;
- ``run_id``: the run's own UUID. Each event's id is derived from it and the event's place in the input
  (``event_id``), so the same input always gets the same ids *within* the run (a resume can recognise what
  already reached the log) and new ids in a new run (publishing a file again on purpose is not deduplicated);
- ``start_offsets``: every topic-partition's end offset when the run began — whatever the run wrote is after
  them, so a resume reads only that part of the log;
- ``acked``: how many events the broker acknowledged so far (informative: a resume trusts the log, not this
  count, because an event can be written while its acknowledgement is lost).

The file is removed when the run has published everything.
"""

from __future__ import annotations

import hashlib
import json
import os
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from schemas.errors import KimError

TopicPartition = tuple[str, int]
FORMAT = 1


class ProgressFileError(KimError):
    """The progress file cannot be read or written; the message names it and what to do."""


@dataclass
class PublishRun:
    """One run's progress file, in memory."""

    input: dict[str, Any]
    total: int
    start_offsets: dict[TopicPartition, int]
    run_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    acked: int = 0
    started_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))

    def event_id(self, ordinal: int) -> str:
        """The id of the input's ``ordinal``-th event (a line number, an index) in this run: the same on resume."""
        return str(uuid.uuid5(uuid.UUID(self.run_id), str(ordinal)))

    def to_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "input": self.input,
            "total": self.total,
            "run_id": self.run_id,
            "started_at": self.started_at,
            "acked": self.acked,
            "start_offsets": [[t, p, o] for (t, p), o in sorted(self.start_offsets.items())],
        }

    @classmethod
    def from_json(cls, data: Any) -> PublishRun:
        """The run a progress file describes; ``ValueError`` when the data is not one."""
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise ValueError("not a progress file of this version")
        try:
            offsets = {(str(t), int(p)): int(o) for t, p, o in data["start_offsets"]}
            uuid.UUID(data["run_id"])
            return cls(
                input=dict(data["input"]),
                total=int(data["total"]),
                start_offsets=offsets,
                run_id=str(data["run_id"]),
                acked=int(data["acked"]),
                started_at=str(data["started_at"]),
            )
        except (KeyError, TypeError, ValueError) as why:
            raise ValueError(f"a field is missing or wrong ({why})") from None


def progress_path(run_dir: Path, kind: str, name: str, topic_prefix: str = "") -> Path:
    """Where the progress file of publishing ``name`` (an absolute path, or simulation parameters) lives."""
    digest = hashlib.sha256(f"{kind}\0{name}\0{topic_prefix}".encode()).hexdigest()[:16]
    return run_dir / "publish" / f"{kind}-{digest}.json"


def load_run(path: Path) -> PublishRun | None:
    """The run recorded at ``path``, or None when there is none."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except OSError as why:
        raise ProgressFileError(f"cannot read the progress file {path}: {why.strerror or why}") from None
    try:
        return PublishRun.from_json(json.loads(text))
    except ValueError as why:  # json's errors are ValueErrors, too
        raise ProgressFileError(
            f"the progress file {path} is damaged ({why}); delete it to publish the whole input again"
        ) from None


def save_run(path: Path, run: PublishRun) -> None:
    """Write the file atomically: a crash leaves the old version or the new one, never half of one."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(tmp, "w", encoding="utf-8") as out:
            json.dump(run.to_json(), out, indent=1)
            out.write("\n")
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except OSError as why:
        tmp.unlink(missing_ok=True)
        raise ProgressFileError(f"cannot write the progress file {path}: {why.strerror or why}") from None


def remove_run(path: Path) -> None:
    path.unlink(missing_ok=True)


def file_digest(path: Path) -> str:
    """SHA-256 of a file's bytes, hex."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()
