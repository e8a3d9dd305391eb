"""Where a projection stands, derived from what Kafka and PostgreSQL report: pure, no I/O.

`kim status` and the workers' metrics both read the same facts (end offsets, checkpoint rows,
consumer group members, dead letters, rebuild rows) and derive lag and freshness here.
Two freshness figures, easy to confuse, so both are named for what they measure:

* **event freshness** — now minus the ``occurred_at`` of the newest event applied. It measures
  how old the newest *data* is; for a simulated past (2025) it is large and that is fine.
* **processing freshness** — now minus the checkpoint's latest ``updated_at``: how long ago the
  projection last applied anything. With lag 0 the projection is *current* however long ago that was.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from projections.rebuilds import ACTIVE as ACTIVE_REBUILD_STATES
from projections.rebuilds import STALE_AFTER as INTERRUPTED_AFTER_SECONDS

SHOWN_REBUILD_STATES = (*ACTIVE_REBUILD_STATES, "failed")  # failed: stopped with a reason; rerun to resume


@dataclass(frozen=True)
class Checkpoint:
    """One row of ``projection_checkpoints``."""

    next_offset: int
    last_event_at: datetime | None
    updated_at: datetime | None


@dataclass(frozen=True)
class PartitionState:
    topic: str
    partition: int
    end_offset: int
    next_offset: int  # the checkpoint: 0 when the projection has applied nothing here
    last_event_at: datetime | None
    updated_at: datetime | None

    @property
    def lag(self) -> int:
        return max(self.end_offset - self.next_offset, 0)


def partition_states(
    ends: Mapping[tuple[str, int], int], checkpoints: Mapping[tuple[str, int], Checkpoint], topics: Iterable[str]
) -> tuple[PartitionState, ...]:
    """Every partition of ``topics`` that Kafka reported, joined with its checkpoint (if any)."""
    wanted = set(topics)
    states = []
    for (topic, partition), end in sorted(ends.items()):
        if topic not in wanted:
            continue
        seen = checkpoints.get((topic, partition))
        states.append(
            PartitionState(
                topic,
                partition,
                end,
                seen.next_offset if seen else 0,
                seen.last_event_at if seen else None,
                seen.updated_at if seen else None,
            )
        )
    return tuple(states)


@dataclass(frozen=True)
class Member:
    member_id: str
    client_host: str
    partitions: tuple[tuple[str, int], ...]


@dataclass(frozen=True)
class Group:
    """A consumer group as the broker describes it (``Empty``/``Dead`` groups have no members)."""

    name: str
    state: str
    members: tuple[Member, ...] = ()


@dataclass(frozen=True)
class Rebuild:
    """One row of ``projection_rebuilds`` still in progress (running, verifying) or failed."""

    copy_schema: str
    projection: str
    kind: str
    state: str
    applied: int
    total: int | None
    started_at: datetime
    updated_at: datetime

    def condition(self, now: datetime) -> str:
        """``running``/``verifying``, or ``interrupted`` when the row stopped moving (rerun to resume)."""
        if self.state in ACTIVE_REBUILD_STATES and (now - self.updated_at).total_seconds() > INTERRUPTED_AFTER_SECONDS:
            return "interrupted"
        return self.state

    @property
    def progress(self) -> float | None:
        if not self.total:
            return None
        return min(self.applied / self.total, 1.0)


@dataclass(frozen=True)
class ProjectionHealth:
    name: str
    group_id: str
    partitions: tuple[PartitionState, ...]
    group: Group | None = None  # None: the broker could not be asked
    local_pid: int | None = None
    dead_letters: int | None = None  # None: not counted
    redriven: Mapping[str, int] = field(default_factory=dict)  # outcome -> letters
    rebuilds: tuple[Rebuild, ...] = ()

    @property
    def lag(self) -> int:
        return sum(p.lag for p in self.partitions)

    @property
    def last_event_at(self) -> datetime | None:
        return max((p.last_event_at for p in self.partitions if p.last_event_at), default=None)

    @property
    def last_applied_at(self) -> datetime | None:
        return max((p.updated_at for p in self.partitions if p.updated_at), default=None)

    def event_freshness(self, now: datetime) -> float | None:
        last = self.last_event_at
        return None if last is None else (now - last).total_seconds()

    def processing_freshness(self, now: datetime) -> float | None:
        last = self.last_applied_at
        return None if last is None else (now - last).total_seconds()

    def processing(self) -> str:
        """``current`` (lag 0), ``behind`` (lag, has applied before) or ``never applied`` (lag, nothing yet)."""
        if self.lag == 0:
            return "current"
        return "behind" if self.last_applied_at else "never applied"

    @property
    def member_count(self) -> int | None:
        return None if self.group is None else len(self.group.members)

    def as_json(self, now: datetime) -> dict[str, object]:
        group = self.group
        return {
            "name": self.name,
            "lag": self.lag,
            "partitions": [
                {
                    "topic": p.topic,
                    "partition": p.partition,
                    "end_offset": p.end_offset,
                    "checkpoint": p.next_offset,
                    "lag": p.lag,
                    "last_event_at": _iso(p.last_event_at),
                    "updated_at": _iso(p.updated_at),
                }
                for p in self.partitions
            ],
            "last_event_at": _iso(self.last_event_at),
            "event_freshness_seconds": _round(self.event_freshness(now)),
            "last_applied_at": _iso(self.last_applied_at),
            "processing_freshness_seconds": _round(self.processing_freshness(now)),
            "processing": self.processing(),
            "workers": {
                "group": self.group_id,
                "state": group.state if group else None,
                "members": None
                if group is None
                else [
                    {
                        "member_id": m.member_id,
                        "client_host": m.client_host,
                        "partitions": [f"{t}:{p}" for t, p in m.partitions],
                    }
                    for m in group.members
                ],
                "member_count": self.member_count,
                "local_pid": self.local_pid,
            },
            "dead_letters": self.dead_letters,
            "redriven": dict(self.redriven),
            "rebuilds": [
                {
                    "copy_schema": r.copy_schema,
                    "kind": r.kind,
                    "state": r.state,
                    "condition": r.condition(now),
                    "applied": r.applied,
                    "total": r.total,
                    "progress": _round(r.progress, 4),
                    "started_at": _iso(r.started_at),
                    "updated_at": _iso(r.updated_at),
                    "updated_seconds_ago": _round((now - r.updated_at).total_seconds()),
                }
                for r in self.rebuilds
            ],
        }


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def _round(value: float | None, digits: int = 1) -> float | None:
    return None if value is None else round(value, digits)


def age(seconds: float | None) -> str:
    """A duration for people: ``42 s``, ``17 min``, ``5.2 h``, ``334 d``."""
    if seconds is None:
        return "-"
    seconds = max(seconds, 0.0)
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 2 * 3600:
        return f"{seconds / 60:.0f} min"
    if seconds < 2 * 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.0f} d"


def processing_text(health: ProjectionHealth, now: datetime) -> str:
    state = health.processing()
    if state == "behind":
        return f"behind, applied {age(health.processing_freshness(now))} ago"
    return state


def dead_letters_text(health: ProjectionHealth) -> str:
    if health.dead_letters is None:
        return "?"
    redriven = sum(health.redriven.values())
    return f"{health.dead_letters} ({redriven} re-driven)" if redriven else str(health.dead_letters)


def rebuild_text(rebuild: Rebuild, now: datetime) -> str:
    done = f"{rebuild.applied}/{rebuild.total}" if rebuild.total else f"{rebuild.applied}/?"
    ratio = f" {rebuild.progress:.0%}" if rebuild.progress is not None else ""
    return f"{rebuild.condition(now)} {done}{ratio}"
