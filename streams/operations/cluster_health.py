"""The Kafka cluster's health as `kim status` shows it: brokers, and per topic its replication. Pure: no I/O.

Built from what the cluster's metadata says (``cluster_health_io.py``): the brokers that are registered now,
the controller, and for every partition its leader, replicas and in-sync replicas (ISR). A partition is
**under-replicated** when its ISR is smaller than its replica set (a broker holding a copy is down or behind)
and **offline** when it has no leader (no broker can serve it: producers and consumers of it stop). A broker
that holds replicas but is not registered is listed as missing: with N brokers that is the one that is down.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class Broker:
    node_id: int
    host: str
    port: int
    rack: str | None = None

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"


@dataclass(frozen=True)
class PartitionReplicas:
    partition: int
    leader: int | None  # None: no leader, the partition is offline
    replicas: tuple[int, ...]
    isr: tuple[int, ...]

    @property
    def offline(self) -> bool:
        return self.leader is None

    @property
    def under_replicated(self) -> bool:
        return len(self.isr) < len(self.replicas)


@dataclass(frozen=True)
class TopicReplicas:
    """One topic as the metadata describes it; ``error`` set (and no partitions) when it could not be."""

    name: str
    partitions: tuple[PartitionReplicas, ...] = ()
    error: str | None = None

    @property
    def replication_factors(self) -> tuple[int, ...]:
        """The distinct replica counts of its partitions (one, unless a reassignment left them uneven)."""
        return tuple(sorted({len(p.replicas) for p in self.partitions}))

    @property
    def under_replicated(self) -> tuple[int, ...]:
        return tuple(p.partition for p in self.partitions if p.under_replicated)

    @property
    def offline(self) -> tuple[int, ...]:
        return tuple(p.partition for p in self.partitions if p.offline)


@dataclass(frozen=True)
class ClusterHealth:
    brokers: tuple[Broker, ...]
    controller_id: int | None
    topics: tuple[TopicReplicas, ...] = ()
    cluster_id: str | None = None

    @property
    def missing_brokers(self) -> tuple[int, ...]:
        """Brokers named in a replica set that are not registered now: down (or removed without reassignment)."""
        known = {b.node_id for b in self.brokers}
        return tuple(sorted({r for t in self.topics for p in t.partitions for r in p.replicas} - known))

    def topic(self, name: str) -> TopicReplicas | None:
        return next((t for t in self.topics if t.name == name), None)

    @property
    def healthy(self) -> bool:
        """Every partition has a leader and all its replicas in sync, and no topic failed to be described."""
        return not self.missing_brokers and all(
            t.error is None and not t.offline and not t.under_replicated for t in self.topics
        )

    def as_json(self) -> dict[str, object]:
        return {
            "cluster_id": self.cluster_id,
            "controller_id": self.controller_id,
            "brokers": [
                {
                    "id": b.node_id,
                    "host": b.host,
                    "port": b.port,
                    "rack": b.rack,
                    "controller": b.node_id == self.controller_id,
                }
                for b in self.brokers
            ],
            "missing_brokers": list(self.missing_brokers),
            "healthy": self.healthy,
        }


def topic_json(topic: TopicReplicas) -> dict[str, object]:
    """A topic's replication for `kim status --json`: partitions, factor, which are under-replicated or offline."""
    factors = topic.replication_factors
    return {
        "partitions": len(topic.partitions),
        "factor": factors[0] if len(factors) == 1 else (list(factors) or None),
        "under_replicated": list(topic.under_replicated),
        "offline": list(topic.offline),
        "detail": {
            str(p.partition): {"leader": p.leader, "replicas": list(p.replicas), "isr": list(p.isr)}
            for p in topic.partitions
        },
        "error": topic.error,
    }


def factor_text(topic: TopicReplicas | None) -> str:
    """``1``, ``3``, or ``2-3`` when its partitions differ; ``?`` when unknown."""
    if topic is None or not topic.partitions:
        return "?"
    factors = topic.replication_factors
    return str(factors[0]) if len(factors) == 1 else f"{factors[0]}-{factors[-1]}"


def count_text(topic: TopicReplicas | None, partitions: Iterable[int] | None) -> str:
    """How many partitions of a topic are in a condition, with which when any (``2 (0 4)``); ``?`` unknown."""
    if topic is None or topic.error is not None or partitions is None:
        return "?"
    found = list(partitions)
    return f"{len(found)} ({' '.join(map(str, found))})" if found else "0"


def broker_rows(cluster: ClusterHealth) -> list[list[object]]:
    """One row per broker — id, address, role — then one per missing broker."""
    rows: list[list[object]] = [
        [b.node_id, b.address, "up, controller" if b.node_id == cluster.controller_id else "up"]
        for b in sorted(cluster.brokers, key=lambda b: b.node_id)
    ]
    rows += [[node, "-", "DOWN: holds replicas, not registered"] for node in cluster.missing_brokers]
    return rows
