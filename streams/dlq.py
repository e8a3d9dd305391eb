"""Dead-letter routing: the original bytes, where they came from, and why they were not applied."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from aiokafka import AIOKafkaProducer

from projections.records import Rejection


def dlq_headers(projection: str, rejection: Rejection) -> list[tuple[str, bytes]]:
    record = rejection.record
    headers = {
        "kim.reason": rejection.reason,
        "kim.projection": projection,
        "kim.source.topic": record.topic,
        "kim.source.partition": str(record.partition),
        "kim.source.offset": str(record.offset),
        "kim.failed_at": datetime.now(UTC).isoformat(),
    }
    if rejection.event_type:
        headers["kim.event_type"] = rejection.event_type
    return [(k, v.encode()) for k, v in headers.items()]


async def send_rejections(
    producer: AIOKafkaProducer, dlq_topic: str, projection: str, rejections: list[Rejection]
) -> None:
    futures = [
        await producer.send(dlq_topic, r.record.value, key=r.record.key, headers=dlq_headers(projection, r))
        for r in rejections
    ]
    await asyncio.gather(*futures)
