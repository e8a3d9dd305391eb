"""Reading the Kafka cluster's health from its metadata (thin edge of ``cluster_health.py``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from aiokafka.errors import for_code

from streams.kafka.connection import KafkaConnection
from streams.operations.cluster_health import Broker, ClusterHealth, PartitionReplicas, TopicReplicas


async def describe_cluster(kafka: KafkaConnection, topics: Sequence[str]) -> ClusterHealth:
    """Brokers, controller and the replicas of ``topics``, from two metadata requests of the admin client."""
    admin = kafka.admin(request_timeout_ms=10000)
    await admin.start()
    try:
        cluster = await admin.describe_cluster()
        described = await admin.describe_topics(list(topics)) if topics else []
    finally:
        await admin.close()
    return cluster_health(cluster, described, topics)


def cluster_health(
    cluster: Mapping[str, Any], described: Sequence[Mapping[str, Any]], topics: Sequence[str]
) -> ClusterHealth:
    """The metadata response's objects (aiokafka's ``to_object()`` form) as a ``ClusterHealth``, topics in order."""
    brokers = tuple(Broker(b["node_id"], b["host"], b["port"], b.get("rack")) for b in cluster.get("brokers", ()))
    controller = cluster.get("controller_id")
    by_name = {t["topic"]: t for t in described}
    return ClusterHealth(
        brokers=brokers,
        controller_id=controller if controller is not None and controller >= 0 else None,
        topics=tuple(_topic(name, by_name.get(name)) for name in topics),
        cluster_id=cluster.get("cluster_id"),
    )


def _topic(name: str, raw: Mapping[str, Any] | None) -> TopicReplicas:
    if raw is None:
        return TopicReplicas(name, error="not in the metadata")
    if raw["error_code"]:
        return TopicReplicas(name, error=for_code(raw["error_code"]).__name__)
    partitions = tuple(
        PartitionReplicas(
            p["partition"],
            p["leader"] if p["leader"] >= 0 else None,
            tuple(p["replicas"]),
            tuple(p["isr"]),
        )
        for p in sorted(raw["partitions"], key=lambda p: p["partition"])
    )
    return TopicReplicas(name, partitions)
