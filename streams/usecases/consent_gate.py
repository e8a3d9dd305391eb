"""Consent-gated sharing before publishing (docs/domain.md rule 2): a referral or hand-over to an agency needs a
consent, recorded earlier on the same case, that covers that agency and is neither withdrawn nor expired at
the event's time.

One event cannot show that, the case's history can: the gate reads the consents the **referrals projection**
has folded for the case (``referral_cases.consents``), after waiting until that projection has applied
everything already in the case's partition — so a consent published a moment ago (and acknowledged) counts.
Consents granted or withdrawn earlier in the same batch count too. The decision itself is the pure
``consent_verdicts``, the same ``consent_problem`` the projections apply on the stream side.

A race stays possible: a withdrawal published by another agency between the check and the send. The stream
side judges again and dead-letters such an event with the same reason, so nothing unconsented is ever
applied; the gate only spares partners the round trip through the DLQ.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

import asyncpg
from aiokafka import TopicPartition
from aiokafka.partitioner import murmur2

from projections.common import NO_CONSENTS, Rejected, consent_problem, grant_consent, withdraw_consent
from schemas.errors import KimError
from schemas.topics import CASES
from streams.kafka.connection import KafkaConnection
from streams.kafka.topics import end_offsets
from streams.sdk.draft import EventDraft

GATED = frozenset({"ReferralIssued", "CaseHandedOver"})
CONSENT_EVENTS = frozenset({"ConsentGranted", "ConsentWithdrawn"})
CASES_TOPIC = CASES
PROJECTION = "referrals"  # the projection whose folded consents the gate reads


class ConsentStateUnavailable(KimError):
    """The referrals projection did not catch up in time (or cannot be reached): consent cannot be judged now."""


def consent_verdicts(consents_by_case: Mapping[str, str], drafts: Sequence[EventDraft]) -> dict[int, str]:
    """For each gated draft whose consent does not let the data pass: its index and why. Pure.

    ``consents_by_case`` holds each case's consents as the projection stores them (JSON text); the
    drafts' own ConsentGranted/ConsentWithdrawn are folded in, in order, before the drafts after them.
    """
    consents = dict(consents_by_case)
    problems: dict[int, str] = {}
    now = datetime.now(UTC)  # an event without a time happens now, as the publisher stamps it
    for index, draft in enumerate(drafts):
        if draft.event_type not in GATED and draft.event_type not in CONSENT_EVENTS:
            continue
        at = draft.occurred_at or now
        case_id = str(draft.payload["case_id"])
        known = consents.get(case_id, NO_CONSENTS)
        try:
            if draft.event_type == "ConsentGranted":
                consents[case_id] = grant_consent(known, case_id, dict(draft.payload))
                continue
            if draft.event_type == "ConsentWithdrawn":
                consents[case_id] = withdraw_consent(known, case_id, draft.payload["consent_id"], at)
                continue
        except Rejected:
            continue  # a repeated grant or a stray withdrawal is the stream side's to judge, not a sharing question
        problem = consent_problem(known, draft.payload["consent_id"], draft.payload["to_agency"], at)
        if problem is not None:
            what = "referral" if draft.event_type == "ReferralIssued" else "hand-over"
            problems[index] = f"{what} to {draft.payload['to_agency']} refused: {problem}"
    return problems


def partition_of(case_id: str, partitions: int) -> int:
    """The partition Kafka's default partitioner (murmur2, as the publisher uses) puts a case's events in."""
    return (murmur2(case_id.encode()) & 0x7FFFFFFF) % partitions


class ConsentGate:
    """Judges drafts against the referrals projection's consents; ``start()`` before, ``close()`` after."""

    def __init__(self, kafka: KafkaConnection, database_url: str, *, topic_prefix: str = "", wait_seconds: float = 5.0):
        self.topic = topic_prefix + CASES_TOPIC
        self.wait_seconds = wait_seconds
        self._database_url = database_url
        self._kafka = kafka
        self._consumer = kafka.consumer()
        self._pool: asyncpg.Pool | None = None
        self._partitions = 0

    async def start(self) -> None:
        await self._consumer.start()
        self._pool = await asyncpg.create_pool(self._database_url, min_size=1, max_size=4)

    async def close(self) -> None:
        await self._consumer.stop()
        if self._pool is not None:
            await self._pool.close()

    async def check(self, drafts: Sequence[EventDraft]) -> dict[int, str]:
        """Index → reason for every draft whose consent does not let the data pass; {} when all may go."""
        cases = sorted({str(d.payload["case_id"]) for d in drafts if d.event_type in GATED})
        if not cases:
            return {}
        consents = await self._consents(cases)
        return consent_verdicts(consents, drafts)

    async def _consents(self, cases: list[str]) -> dict[str, str]:
        assert self._pool is not None, "ConsentGate.start() was not called"
        if not self._partitions:
            known = await self._fetch_partitions()  # once: the number of partitions never shrinks
            self._partitions = len(known)
        tps = sorted({TopicPartition(self.topic, partition_of(c, self._partitions)) for c in cases})
        ends = await self._consumer.end_offsets(tps)
        deadline = time.monotonic() + self.wait_seconds
        async with self._pool.acquire() as conn:
            while True:
                behind = await self._behind(conn, ends)
                if not behind:
                    break
                if time.monotonic() >= deadline:
                    lag = ", ".join(f"{self.topic}:{p} {n} behind" for p, n in sorted(behind.items()))
                    raise ConsentStateUnavailable(
                        f"cannot check consent now: the {PROJECTION} projection has not caught up ({lag}); "
                        "make sure its worker runs (kim status) and retry"
                    )
                await asyncio.sleep(0.05)
            rows = await conn.fetch(
                "SELECT case_id, consents FROM referral_cases WHERE case_id = ANY($1::text[])", cases
            )
        return {r["case_id"]: r["consents"] for r in rows}

    async def _fetch_partitions(self) -> set[int]:
        known = {p for _, p in await end_offsets(self._kafka, [self.topic])}
        if not known:
            raise ConsentStateUnavailable(f"topic {self.topic} does not exist (kim up creates it)")
        return known

    async def _behind(self, conn: asyncpg.Connection, ends: Mapping[TopicPartition, int]) -> dict[int, int]:
        rows = await conn.fetch(
            "SELECT partition, next_offset FROM projection_checkpoints WHERE projection = $1 AND topic = $2",
            PROJECTION,
            self.topic,
        )
        seen = {r["partition"]: r["next_offset"] for r in rows}
        return {
            tp.partition: end - seen.get(tp.partition, 0) for tp, end in ends.items() if seen.get(tp.partition, 0) < end
        }
