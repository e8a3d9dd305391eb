"""Every topic of the contract, declared once: its name, partitions, key, retention and timestamps.

Partners need these facts as much as the platform does (which topic an event type goes to is in the
catalog, ``kim.topic`` of each payload schema; the key decides the partition), so they live with the
schemas. Creating the topics on a broker is ``streams/kafka/topics.py``'s job.
"""

from __future__ import annotations

from dataclasses import dataclass, field

KEEP_FOREVER = {"retention.ms": "-1", "retention.bytes": "-1", "cleanup.policy": "delete"}
# The broker stamps each event record with the time it appended it, whatever time the producer set: a retired
# signing key verifies only records appended before its retirement (streams/runtime/authenticity.py), and that
# must be a time no producer can choose. `kim up` aligns existing topics (streams/kafka/topics.py, ``provision``).
APPEND_TIME = {"message.timestamp.type": "LogAppendTime"}


@dataclass(frozen=True)
class TopicSpec:
    name: str
    partitions: int
    key: str
    config: dict[str, str] = field(default_factory=dict)
    doc: str = ""


TOPICS: tuple[TopicSpec, ...] = (
    TopicSpec("kim.cases", 6, "case_id", {**KEEP_FOREVER, **APPEND_TIME}, "case and referral lifecycle"),
    TopicSpec(
        "kim.immigration",
        6,
        "application_id",
        {**KEEP_FOREVER, **APPEND_TIME},
        "Ausländerbehörde / Einbürgerung procedures",
    ),
    TopicSpec("kim.dlq", 3, "original key", KEEP_FOREVER, "records a projection could not apply, with the reason"),
)

CASES, IMMIGRATION, DLQ = (spec.name for spec in TOPICS)
EVENT_TOPICS = (CASES, IMMIGRATION)  # the topics partners publish to
