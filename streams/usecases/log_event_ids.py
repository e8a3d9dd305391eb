"""Which events are already in a stretch of the log, by their ids: what a resumed publish must not send again.

An event's id is the first field of its envelope, and the envelope is the first field of every event
(``schemas/avro/envelope/Envelope.avsc``), so the id is the Avro string right after the single-object header:
reading it needs no schema and no decoding of the rest — tens of thousands of records a second.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

from aiokafka import TopicPartition as KafkaTopicPartition

from schemas.codec import HEADER_SIZE, MAGIC
from streams.kafka.connection import KafkaConnection

TopicPartition = tuple[str, int]


def event_id_of(value: bytes | None) -> str | None:
    """The event id of an encoded event, or None when the bytes are not one."""
    if not value or len(value) < HEADER_SIZE + 1 or value[:2] != MAGIC:
        return None
    length, shift, at = 0, 0, HEADER_SIZE
    while at < len(value) and shift <= 63:  # a zig-zag varint: the string's length
        byte = value[at]
        length |= (byte & 0x7F) << shift
        at += 1
        shift += 7
        if not byte & 0x80:
            break
    else:
        return None
    length = (length >> 1) ^ -(length & 1)
    if length <= 0 or at + length > len(value):
        return None
    try:
        return value[at : at + length].decode("utf-8")
    except UnicodeDecodeError:
        return None


async def event_ids_since(kafka: KafkaConnection, start: dict[TopicPartition, int], timeout: float = 300.0) -> set[str]:
    """The ids of every event written to these partitions from the ``start`` offsets up to their end now.

    ``TimeoutError`` when the log cannot be read within ``timeout`` seconds (the broker went away)."""
    async with asyncio.timeout(timeout):
        return await _read_ids(kafka, start)


async def _read_ids(kafka: KafkaConnection, start: dict[TopicPartition, int]) -> set[str]:
    consumer = kafka.consumer(auto_offset_reset="earliest", max_partition_fetch_bytes=4 << 20)
    await consumer.start()
    try:
        tps = [KafkaTopicPartition(t, p) for t, p in start]
        if not tps:
            return set()
        consumer.assign(tps)
        ends = await consumer.end_offsets(tps)
        wanted = {tp: ends[tp] for tp in tps if ends[tp] > start[(tp.topic, tp.partition)]}
        for tp in wanted:
            consumer.seek(tp, start[(tp.topic, tp.partition)])
        ids: set[str] = set()
        while wanted:
            batches = await consumer.getmany(*wanted, timeout_ms=1000)
            for tp, records in batches.items():
                _note(ids, (r.value for r in records))
                if records and records[-1].offset + 1 >= wanted[tp]:
                    del wanted[tp]
            for tp in list(wanted):  # compaction or aborted writes can leave the last offsets empty
                if await consumer.position(tp) >= wanted[tp]:
                    del wanted[tp]
        return ids
    finally:
        await consumer.stop()


def _note(ids: set[str], values: Iterable[bytes | None]) -> None:
    for value in values:
        event_id = event_id_of(value)
        if event_id is not None:
            ids.add(event_id)
