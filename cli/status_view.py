"""What `kim status` prints, as text for people and as JSON for machines: pure, from one ``Snapshot``."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from analytics.table import table
from streams.operations.cluster_health import ClusterHealth, broker_rows, count_text, factor_text, topic_json
from streams.operations.health import ProjectionHealth, age, dead_letters_text, processing_text, rebuild_text

LEGEND = (
    "event freshness: now - event time (occurred_at) of the newest applied event, i.e. how old the newest data is\n"
    "processing freshness: 'current' when lag is 0, else how long ago the projection last applied a batch"
)


@dataclass(frozen=True)
class Service:
    endpoint: str
    local: bool
    error: str | None = None  # None: up

    @property
    def up(self) -> bool:
        return self.error is None


@dataclass(frozen=True)
class Snapshot:
    broker: Service
    database: Service
    ends: dict[tuple[str, int], int] | None = None  # None: the broker is down
    topics: tuple[str, ...] = ()
    projections: tuple[ProjectionHealth, ...] | None = None  # None: the database is down
    notes: tuple[str, ...] = field(default=())  # what could not be read, one line each
    cluster: ClusterHealth | None = None  # None: the broker is down or the metadata could not be read

    @property
    def healthy(self) -> bool:
        return self.broker.up and self.database.up


def _service_line(label: str, service: Service) -> str:
    where = "local" if service.local else "external"
    state = "up" if service.up else f"DOWN: {service.error}"
    return f"{label:<9} {service.endpoint} ({where}): {state}"


def text(snapshot: Snapshot, now: datetime) -> str:
    lines = [_service_line("broker", snapshot.broker), _service_line("database", snapshot.database)]
    if snapshot.ends is None:
        hint = "start it with `kim up kafka`" if snapshot.broker.local else "start the services with `kim up`"
        return "\n".join([*lines, "", hint])
    if snapshot.cluster is not None:
        lines += ["", table(["broker id", "address", "state"], broker_rows(snapshot.cluster))]
    lines += ["", table(_TOPIC_HEADERS, _topic_rows(snapshot))]
    if snapshot.projections is not None:
        lines += ["", table(_HEADERS, [_projection_row(h, now) for h in snapshot.projections])]
        rebuilds = [(h.name, r) for h in snapshot.projections for r in h.rebuilds]
        if rebuilds:
            rows = [
                [name, r.copy_schema, r.kind, rebuild_text(r, now), f"{age((now - r.updated_at).total_seconds())} ago"]
                for name, r in rebuilds
            ]
            lines += ["", table(["rebuild of", "copy", "kind", "progress", "updated"], rows)]
        lines += ["", LEGEND]
    lines += [f"note: {note}" for note in snapshot.notes]
    return "\n".join(lines)


_HEADERS = [
    "projection",
    "worker (local)",
    "lag",
    "group members",
    "lag per partition",
    "last applied event time",
    "event freshness",
    "processing freshness",
    "dead letters",
]


_TOPIC_HEADERS = ["topic", "partitions", "replication factor", "under-replicated", "offline", "records", "end offsets"]


def _topic_rows(snapshot: Snapshot) -> list[list[object]]:
    """Per topic its partitions, their replication (``?`` where the metadata was not read) and end offsets."""
    rows: list[list[object]] = []
    for name in snapshot.topics:
        parts = sorted((p, end) for (t, p), end in (snapshot.ends or {}).items() if t == name)
        replicas = snapshot.cluster.topic(name) if snapshot.cluster else None
        rows.append(
            [
                name,
                len(parts) or "missing",
                factor_text(replicas),
                count_text(replicas, replicas.under_replicated if replicas else None),
                count_text(replicas, replicas.offline if replicas else None),
                sum(e for _, e in parts),
                " ".join(f"{p}:{e}" for p, e in parts),
            ]
        )
    return rows


def _projection_row(health: ProjectionHealth, now: datetime) -> list[object]:
    count = health.member_count
    members = "?" if count is None else _members_text(health)
    last = health.last_event_at
    return [
        health.name,
        f"up (pid {health.local_pid})" if health.local_pid else "stopped",
        health.lag,
        members,
        " ".join(f"{p.partition}:{p.lag}" for p in health.partitions),
        last.isoformat(timespec="seconds") if last else "-",
        age(health.event_freshness(now)),
        processing_text(health, now),
        dead_letters_text(health),
    ]


def _members_text(health: ProjectionHealth) -> str:
    """``1 (6 partitions)``: members of the consumer group and how many partitions they hold."""
    group = health.group
    assert group is not None
    held = sum(len(m.partitions) for m in group.members)
    return f"{len(group.members)} ({held} partitions)" if group.members else "0"


def as_json(snapshot: Snapshot, now: datetime) -> dict[str, object]:
    return {
        "healthy": snapshot.healthy,
        "checked_at": now.isoformat(),
        "broker": _service_json(snapshot.broker),
        "database": _service_json(snapshot.database),
        "cluster": None if snapshot.cluster is None else snapshot.cluster.as_json(),
        "topics": None
        if snapshot.ends is None
        else [
            {
                "name": name,
                "end_offsets": {str(p): e for (t, p), e in sorted(snapshot.ends.items()) if t == name},
                "records": sum(e for (t, _), e in snapshot.ends.items() if t == name),
                "replication": _replication_json(snapshot.cluster, name),
            }
            for name in snapshot.topics
        ],
        "projections": None if snapshot.projections is None else [h.as_json(now) for h in snapshot.projections],
        "notes": list(snapshot.notes),
    }


def _service_json(service: Service) -> dict[str, object]:
    return {"endpoint": service.endpoint, "local": service.local, "up": service.up, "error": service.error}


def _replication_json(cluster: ClusterHealth | None, topic: str) -> dict[str, object] | None:
    """The topic's partitions, replication factor, under-replicated and offline partitions; None when unknown."""
    replicas = cluster.topic(topic) if cluster else None
    return None if replicas is None else topic_json(replicas)
