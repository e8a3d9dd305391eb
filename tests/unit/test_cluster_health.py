"""`kim status` shows the Kafka cluster's brokers and each topic's replication, from the metadata: pure."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from cli.status_view import Service, Snapshot, as_json, text
from streams.operations.cluster_health import ClusterHealth, broker_rows
from streams.operations.cluster_health_io import cluster_health

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
TOPICS = ("kim.cases", "kim.immigration", "kim.dlq")


def _broker(node: int) -> dict[str, object]:
    return {"node_id": node, "host": f"kafka-{node}", "port": 9093, "rack": None}


def _partition(index: int, leader: int, replicas: list[int], isr: list[int]) -> dict[str, object]:
    return {"error_code": 0, "partition": index, "leader": leader, "replicas": replicas, "isr": isr}


def _topic(name: str, partitions: list[dict[str, object]], error_code: int = 0) -> dict[str, object]:
    return {"error_code": error_code, "topic": name, "is_internal": False, "partitions": partitions}


def _one_broker() -> ClusterHealth:
    """What the local single broker reports today: factor 1 everywhere, nothing under-replicated."""
    cluster = {"brokers": [{"node_id": 1, "host": "127.0.0.1", "port": 19092}], "controller_id": 1, "cluster_id": "c"}
    topics = [
        _topic("kim.cases", [_partition(p, 1, [1], [1]) for p in range(6)]),
        _topic("kim.immigration", [_partition(p, 1, [1], [1]) for p in range(6)]),
        _topic("kim.dlq", [_partition(p, 1, [1], [1]) for p in range(3)]),
    ]
    return cluster_health(cluster, topics, TOPICS)


def _three_brokers_one_down() -> ClusterHealth:
    """Broker 3 of three is down: its copies drop out of the ISRs; a partition held only there has no leader."""
    cluster = {"brokers": [_broker(1), _broker(2)], "controller_id": 2, "cluster_id": "c"}
    cases = [_partition(0, 1, [1, 2, 3], [1, 2]), _partition(1, 2, [2, 3, 1], [2, 1]), _partition(2, 1, [1, 2], [1, 2])]
    dlq = [_partition(0, -1, [3], [3]), _partition(1, 1, [1, 2, 3], [1, 2, 3])]
    topics = [_topic("kim.cases", cases), _topic("kim.dlq", dlq), _topic("kim.immigration", [], error_code=3)]
    return cluster_health(cluster, topics, TOPICS)


def _snapshot(cluster: ClusterHealth | None) -> Snapshot:
    ends = {(t, p): 10 for t, n in (("kim.cases", 6), ("kim.immigration", 6), ("kim.dlq", 3)) for p in range(n)}
    return Snapshot(Service("127.0.0.1:19092", True), Service("db", True), ends, TOPICS, (), (), cluster)


def _row(out: str, first: str) -> list[str]:
    return next(line.split() for line in out.splitlines() if line.startswith(first))


def test_one_broker_has_factor_1_and_nothing_under_replicated_or_offline() -> None:
    cluster = _one_broker()
    assert cluster.healthy and cluster.missing_brokers == () and cluster.controller_id == 1
    out = text(_snapshot(cluster), NOW)
    assert _row(out, "1 ") == ["1", "127.0.0.1:19092", "up,", "controller"]
    header = _row(out, "topic")
    assert header[:8] == [
        "topic",
        "partitions",
        "replication",
        "factor",
        "under-replicated",
        "offline",
        "records",
        "end",
    ]
    assert _row(out, "kim.cases")[:6] == ["kim.cases", "6", "1", "0", "0", "60"]
    assert _row(out, "kim.dlq")[:6] == ["kim.dlq", "3", "1", "0", "0", "30"]


def test_a_broker_down_of_three_shows_under_replicated_and_offline_partitions() -> None:
    cluster = _three_brokers_one_down()
    cases, dlq, immigration = (cluster.topic(name) for name in ("kim.cases", "kim.dlq", "kim.immigration"))
    assert cases and dlq and immigration
    assert cases.replication_factors == (2, 3) and cases.under_replicated == (0, 1) and cases.offline == ()
    assert dlq.offline == (0,) and dlq.under_replicated == ()  # ISR still names the lost leader: not smaller
    assert immigration.error == "UnknownTopicOrPartitionError"
    assert cluster.missing_brokers == (3,) and not cluster.healthy
    assert broker_rows(cluster) == [
        [1, "kafka-1:9093", "up"],
        [2, "kafka-2:9093", "up, controller"],
        [3, "-", "DOWN: holds replicas, not registered"],
    ]
    out = text(_snapshot(cluster), NOW)
    assert _row(out, "kim.cases")[:7] == ["kim.cases", "6", "2-3", "2", "(0", "1)", "0"]
    assert _row(out, "kim.dlq")[:6] == ["kim.dlq", "3", "1-3", "0", "1", "(0)"]
    assert _row(out, "kim.immigration")[:5] == ["kim.immigration", "6", "?", "?", "?"]


def test_json_carries_brokers_and_each_topics_replication() -> None:
    doc = json.loads(json.dumps(as_json(_snapshot(_three_brokers_one_down()), NOW)))
    assert doc["cluster"]["controller_id"] == 2 and doc["cluster"]["missing_brokers"] == [3]
    assert [b["id"] for b in doc["cluster"]["brokers"]] == [1, 2] and doc["cluster"]["brokers"][1]["controller"]
    assert doc["cluster"]["healthy"] is False
    cases = next(t for t in doc["topics"] if t["name"] == "kim.cases")["replication"]
    assert cases["partitions"] == 3 and cases["factor"] == [2, 3]
    assert cases["under_replicated"] == [0, 1] and cases["offline"] == []
    assert cases["detail"]["0"] == {"leader": 1, "replicas": [1, 2, 3], "isr": [1, 2]}
    dlq = next(t for t in doc["topics"] if t["name"] == "kim.dlq")["replication"]
    assert dlq["offline"] == [0] and dlq["detail"]["0"]["leader"] is None


def test_without_metadata_the_replication_is_unknown_not_zero() -> None:
    out = text(_snapshot(None), NOW)
    assert "broker id" not in out
    assert _row(out, "kim.cases")[:6] == ["kim.cases", "6", "?", "?", "?", "60"]
    assert as_json(_snapshot(None), NOW)["cluster"] is None


def test_a_topic_the_metadata_does_not_list_is_marked_so() -> None:
    cluster = cluster_health({"brokers": [], "controller_id": -1}, [], ["kim.cases"])
    assert cluster.controller_id is None
    topic = cluster.topic("kim.cases")
    assert topic is not None and topic.error == "not in the metadata" and not cluster.healthy
