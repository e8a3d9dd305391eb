"""The topics of ``schemas/topics.py`` on a broker: idempotent provisioning, end offsets, consumer-group names."""

from __future__ import annotations

from dataclasses import replace

from aiokafka import TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from schemas.errors import KimError
from schemas.topics import TOPICS, TopicSpec
from streams.kafka.connection import KafkaConnection


class TopicMismatch(KimError):
    """A topic on the broker does not match its declaration in schemas/topics.py."""


def durable(spec: TopicSpec, replication_factor: int) -> TopicSpec:
    """The topic as a cluster of ``replication_factor`` copies keeps it: with three or more, a write needs two
    copies in sync and no out-of-sync copy may become leader, so losing one broker loses nothing acknowledged."""
    if replication_factor < 3:
        return spec
    extra = {"min.insync.replicas": "2", "unclean.leader.election.enable": "false"}
    return replace(spec, config={**spec.config, **extra})


async def provision(kafka: KafkaConnection, prefix: str = "", replication_factor: int = 1) -> list[str]:
    """Create missing topics and bring configs of existing ones in line. Returns the actions taken; a line
    starting ``warning:`` for what it cannot fix itself (a cluster larger than the replication factor, a topic
    with fewer copies than wanted)."""
    admin = kafka.admin()
    await admin.start()
    try:
        actions: list[str] = []
        brokers = len((await admin.describe_cluster()).get("brokers") or [])
        if replication_factor > brokers:
            raise TopicMismatch(
                f"the topics are to keep {replication_factor} copies but the cluster at {kafka.bootstrap} has "
                f"{brokers} broker{'s' if brokers != 1 else ''}; start the others or lower KIM_KAFKA_REPLICATION"
            )
        if replication_factor == 1 and brokers > 1:
            actions.append(
                f"warning: the cluster has {brokers} brokers but the topics keep one copy: losing a broker loses "
                "events; set KIM_KAFKA_REPLICATION=3"
            )
        existing = set(await admin.list_topics())
        wanted = {prefix + spec.name: durable(spec, replication_factor) for spec in TOPICS}
        missing = [
            NewTopic(name, s.partitions, replication_factor, topic_configs=s.config)
            for name, s in wanted.items()
            if name not in existing
        ]
        if missing:
            await admin.create_topics(missing)
            actions += [f"created topic {t.name} ({t.num_partitions} partitions)" for t in missing]
        present = [name for name in wanted if name in existing]
        if present:
            actions += await _check_present(admin, {name: wanted[name] for name in present}, replication_factor)
        return actions
    finally:
        await admin.close()


async def _check_present(admin: AIOKafkaAdminClient, specs: dict[str, TopicSpec], replication_factor: int) -> list[str]:
    actions = []
    described = await admin.describe_topics(list(specs))
    for topic in described:
        spec = specs[topic["topic"]]
        copies = min((len(p["replicas"]) for p in topic["partitions"]), default=replication_factor)
        if copies < replication_factor:
            actions.append(
                f"warning: topic {topic['topic']} keeps {copies} cop{'y' if copies == 1 else 'ies'}, "
                f"{replication_factor} wanted; raise it with kafka-reassign-partitions"
            )
        if len(topic["partitions"]) != spec.partitions:
            raise TopicMismatch(
                f"topic {topic['topic']} has {len(topic['partitions'])} partitions but {spec.partitions} are declared; "
                "changing partition counts would break per-key order, so fix the declaration in "
                "schemas/topics.py or recreate the topic"
            )
    resources = [ConfigResource(ConfigResourceType.TOPIC, name) for name in specs]
    for response in await admin.describe_configs(resources):
        for _, _, _, name, entries in response.resources:
            current = {e[0]: e[1] for e in entries}
            drift = {k: v for k, v in specs[name].config.items() if current.get(k) != v}
            if drift:
                # AlterConfigs replaces the topic's whole override set: send every declared key.
                await admin.alter_configs([ConfigResource(ConfigResourceType.TOPIC, name, configs=specs[name].config)])
                actions.append(f"set {', '.join(f'{k}={v}' for k, v in drift.items())} on {name}")
    return actions


async def end_offsets(kafka: KafkaConnection, topics: list[str]) -> dict[tuple[str, int], int]:
    """The next offset to be written in every partition of these topics (missing topics are left out)."""
    admin = kafka.admin()
    await admin.start()
    try:
        described = await admin.describe_topics(topics)
    finally:
        await admin.close()
    tps = [
        TopicPartition(t["topic"], p["partition"]) for t in described if t["error_code"] == 0 for p in t["partitions"]
    ]
    if not tps:
        return {}
    consumer = kafka.consumer()
    await consumer.start()
    try:
        ends = await consumer.end_offsets(tps)
        return {(tp.topic, tp.partition): offset for tp, offset in ends.items()}
    finally:
        await consumer.stop()


def consumer_group(projection: str, prefix: str = "") -> str:
    """The Kafka consumer group of a projection's live worker (one group per projection)."""
    return f"{prefix}kim-projection-{projection}"
