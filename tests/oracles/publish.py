"""Encoding a history as the partners would, and publishing it in order through the real broker.

Events of one key come from several agencies (a referral is answered by the receiving agency),
so publishing per agency would break the per-key order. Here every event is prepared (validated
and encoded) as its own agency, then one idempotent producer sends them all in history order.
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from infra.platform_identity import platform_key
from schemas import Codec, Event
from schemas.sealing import KeyRing, client_refs, new_key
from streams.kafka.connection import KafkaConnection
from streams.sdk.prepare import Outgoing, Preparer
from tests.oracles.history import HistoryEvent


@dataclass(frozen=True)
class Encoded:
    outgoing: Outgoing
    event: Event  # what a reader decodes from outgoing.value


def encode(
    history: Iterable[HistoryEvent], topic_prefix: str = "", codec: Codec | None = None, keys: KeyRing | None = None
) -> list[Encoded]:
    """Prepared as the platform would; the clients are sealed with ``keys`` (default: fresh keys made here, kept in
    memory only — tests that erase publish through ``Publisher(client_keys=…)`` to keep theirs in the database)."""
    codec = codec or Codec()
    keys = keys if keys is not None else KeyRing()
    preparers: dict[str, Preparer] = {}
    out = []
    for item in history:
        preparer = preparers.get(item.agency)
        if preparer is None:
            preparer = preparers[item.agency] = Preparer(item.agency, topic_prefix=topic_prefix, codec=codec, keys=keys)
        for ref in keys.missing(client_refs(item.draft.event_type, item.draft.payload)):
            keys.add(ref, *new_key())
        outgoing = preparer.prepare(item.draft)
        out.append(Encoded(outgoing, codec.decode(outgoing.value)))
    return out


def with_repeats(encoded: Sequence[Encoded], share: float, seed: int = 1) -> list[Encoded]:
    """The same records, some sent a second time a little later (a partner retrying a send)."""
    rng = random.Random(seed)
    out: list[Encoded] = []
    later: list[tuple[int, int, Encoded]] = []  # (send after index, original index, record)
    for i, item in enumerate(encoded):
        out.append(item)
        if rng.random() < share:
            heapq.heappush(later, (i + rng.randint(1, 300), i, item))
        while later and later[0][0] <= i:
            out.append(heapq.heappop(later)[2])
    out.extend(item for _, _, item in sorted(later))
    return out


async def publish(kafka: KafkaConnection, records: Sequence[Encoded]) -> dict[tuple[str, int], int]:
    """Send in order with one idempotent producer; return the next offset per partition written."""
    producer = kafka.producer(linger_ms=5)
    await producer.start()
    try:
        sign = platform_key(kafka).headers
        futures = [
            await producer.send(
                r.outgoing.topic, r.outgoing.value, key=r.outgoing.key, headers=sign(r.outgoing.key, r.outgoing.value)
            )
            for r in records
        ]
        targets: dict[tuple[str, int], int] = {}
        for future in futures:
            meta = await future
            tp = (meta.topic, meta.partition)
            targets[tp] = max(targets.get(tp, 0), meta.offset + 1)
        return targets
    finally:
        await producer.stop()
