"""Before a command publishes: Kafka answers and the topics exist — or one clear ``error:`` line."""

from __future__ import annotations

from infra.errors import SetupError
from infra.kafka_broker import wait_for_kafka
from infra.platform_identity import kafka_connection
from infra.processes import run_sync
from infra.settings import Settings
from schemas import load_catalog
from streams.kafka.topics import end_offsets


def require_kafka(settings: Settings, timeout: float = 10.0) -> None:
    kafka = kafka_connection(settings)
    wait_for_kafka(kafka, timeout=timeout)
    wanted = sorted(settings.topic(t) for t in load_catalog().topics())
    present = {topic for topic, _ in run_sync(end_offsets(kafka, wanted))}
    missing = [t for t in wanted if t not in present]
    if missing:
        raise SetupError(f"topic(s) {', '.join(missing)} do not exist at {settings.kafka_bootstrap}; run `kim up`")
