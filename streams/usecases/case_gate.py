"""The case gate, judged before publishing: may this agency say this about this case, and may the data pass?

Two rules a single event cannot show, the case's history can:

- **who may act** (``projections/authority.py``): the publisher must have a part in the case — hold it, employ its
  case manager, have accepted a referral of it (for a further referral), be the receiver of the referral it
  answers, or be the office that filed the application. Refused: the publisher is *forbidden* (the gateway's 403).
- **consent** (docs/domain.md rule 2): a referral or hand-over to an agency needs a consent, recorded earlier on
  the same case, that covers that agency and is neither withdrawn nor expired at the event's time.

The gate reads what the **referrals projection** folded for the case (``referral_cases``: consents and parties,
``referrals``: who each referral went to) and what the **backlog projection** folded for an application (its
office), after waiting until each has applied everything already in the key's partition — so an event published a
moment ago (and acknowledged) counts. Events earlier in the same batch count too. The decisions themselves are the
pure ``authority_verdicts`` and ``consent_verdicts``: the same rules the projections apply on the stream side.

A race stays possible: a hand-over or withdrawal published by another agency between the check and the send. The
stream side judges again and dead-letters such an event with the same reason, so nothing is ever applied that the
rules refuse; the gate spares partners the round trip through the DLQ.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

import asyncpg
from aiokafka import TopicPartition

from projections.authority import Parties, answer_refusal, application_refusal, case_refusal, with_receiver
from projections.common import NO_CONSENTS, Rejected, consent_problem, grant_consent, withdraw_consent
from schemas.errors import KimError
from schemas.partitioner import partition_of
from schemas.sealing import ERASURES
from schemas.topics import CASES, IMMIGRATION
from streams.kafka.connection import KafkaConnection
from streams.kafka.topics import end_offsets
from streams.sdk.draft import EventDraft
from streams.sdk.publisher import Refusal

GATED = frozenset({"ReferralIssued", "CaseHandedOver"})
CONSENT_EVENTS = frozenset({"ConsentGranted", "ConsentWithdrawn"})
ANSWERS = frozenset({"ReferralAccepted", "ReferralDeclined", "ReferralCompleted"})
OPENINGS = frozenset({"CaseOpened", "ApplicationFiled"})
CASES_TOPIC = CASES
PROJECTION = "referrals"  # the projection whose folded consents and parties the gate reads for cases
APPLICATIONS_PROJECTION = "backlog"  # … and whose offices it reads for applications


class CaseStateUnavailable(KimError):
    """A projection did not catch up in time (or cannot be reached): the case cannot be judged now."""


@dataclass
class CaseView:
    """What the projections know of the drafts' cases and applications (pure data; the gate fills it)."""

    consents: dict[str, str] = field(default_factory=dict)  # case_id -> consents as referral_cases stores them
    parties: dict[str, Parties] = field(default_factory=dict)  # case_id -> its parties
    sent_to: dict[tuple[str, str], str] = field(default_factory=dict)  # (case_id, referral_id) -> receiver
    offices: dict[str, str] = field(default_factory=dict)  # application_id -> the office that filed it


def authority_verdicts(view: CaseView, publisher: str, drafts: Sequence[EventDraft]) -> dict[int, str]:
    """For each draft ``publisher`` has no part in: its index and why (the rule table's reason). Pure.

    The drafts' own openings, assignments, hand-overs, referrals and acceptances count, in order, for the drafts
    after them; a refused draft changes nothing. A case or application the view does not know (and the batch does
    not open) is left to the stream side, which refuses it as never opened."""
    parties = dict(view.parties)
    sent_to = dict(view.sent_to)
    offices = dict(view.offices)
    problems: dict[int, str] = {}
    for index, draft in enumerate(drafts):
        kind, payload = draft.event_type, draft.payload
        if kind in ERASURES:
            continue
        if "application_id" in payload:
            application_id = str(payload["application_id"])
            if kind == "ApplicationFiled":
                offices.setdefault(application_id, publisher)
                continue
            refused = application_refusal(kind, publisher, application_id, offices.get(application_id))
            if refused:
                problems[index] = refused
            continue
        case_id = str(payload["case_id"])
        if kind == "CaseOpened":
            parties.setdefault(case_id, Parties(publisher))
            continue
        known = parties.get(case_id)
        if kind in ANSWERS:
            to = sent_to.get((case_id, str(payload["referral_id"])))
            refused = None if to is None else answer_refusal(kind, publisher, case_id, payload["referral_id"], to)
            if refused:
                problems[index] = refused
            elif kind == "ReferralAccepted" and known is not None and to is not None:
                parties[case_id] = with_receiver(known, to)
            continue
        if known is None:
            continue
        refused = case_refusal(kind, publisher, case_id, known, dict(payload))
        if refused:
            problems[index] = refused
        elif kind == "CaseManagerAssigned":
            parties[case_id] = known._replace(manager=str(payload["agency"]))
        elif kind == "CaseHandedOver":
            parties[case_id] = known._replace(holder=str(payload["to_agency"]))
        elif kind == "ReferralIssued":
            sent_to[(case_id, str(payload["referral_id"]))] = str(payload["to_agency"])
    return problems


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


def verdicts(view: CaseView, publisher: str | None, drafts: Sequence[EventDraft]) -> dict[int, Refusal]:
    """Both rules over a batch: the publisher's part first (``source_agency``), then consent
    (``payload.consent_id``) over the drafts it may publish. Without a publisher only consent is judged."""
    forbidden = authority_verdicts(view, publisher, drafts) if publisher is not None else {}
    allowed = [i for i in range(len(drafts)) if i not in forbidden]
    unconsented = consent_verdicts(view.consents, [drafts[i] for i in allowed])
    out = {i: Refusal("source_agency", why) for i, why in forbidden.items()}
    out.update({allowed[j]: Refusal("payload.consent_id", why) for j, why in unconsented.items()})
    return dict(sorted(out.items()))


class CaseGate:
    """Judges drafts against the referrals and backlog projections; ``start()`` before, ``close()`` after."""

    def __init__(self, kafka: KafkaConnection, database_url: str, *, topic_prefix: str = "", wait_seconds: float = 5.0):
        self.topic = topic_prefix + CASES_TOPIC
        self.applications_topic = topic_prefix + IMMIGRATION
        self.wait_seconds = wait_seconds
        self._database_url = database_url
        self._kafka = kafka
        self._consumer = kafka.consumer()
        self._pool: asyncpg.Pool | None = None
        self._partitions: dict[str, int] = {}

    async def start(self) -> None:
        await self._consumer.start()
        self._pool = await asyncpg.create_pool(self._database_url, min_size=1, max_size=4)

    async def close(self) -> None:
        await self._consumer.stop()
        if self._pool is not None:
            await self._pool.close()

    async def check(self, drafts: Sequence[EventDraft], publisher: str | None = None) -> dict[int, Refusal]:
        """Index → refusal for every draft ``publisher`` may not publish, or whose consent does not let the data
        pass; {} when all may go. Without ``publisher``, only consent is judged (as before authorization).

        Openings need no lookup (anyone may open); every other draft waits for its projection to be current."""
        unjudged = OPENINGS | set(ERASURES)  # anyone may open; an erasure is the platform's, judged by its signer
        judged = [d for d in drafts if d.event_type in GATED or (publisher and d.event_type not in unjudged)]
        cases = sorted({str(d.payload["case_id"]) for d in judged if "application_id" not in d.payload})
        applications = sorted({str(d.payload["application_id"]) for d in judged if "application_id" in d.payload})
        if not cases and not applications:
            return {}
        view = CaseView()
        assert self._pool is not None, "CaseGate.start() was not called"
        async with self._pool.acquire() as conn:
            if cases:
                await self._caught_up(conn, PROJECTION, self.topic, cases)
                await _read_cases(conn, cases, view)
            if applications:
                await self._caught_up(conn, APPLICATIONS_PROJECTION, self.applications_topic, applications)
                rows = await conn.fetch(
                    "SELECT application_id, office FROM backlog_applications WHERE application_id = ANY($1::text[])",
                    applications,
                )
                view.offices = {r["application_id"]: r["office"] for r in rows}
        return verdicts(view, publisher, drafts)

    async def _caught_up(self, conn: asyncpg.Connection, projection: str, topic: str, keys: list[str]) -> None:
        """Wait until ``projection`` applied everything already in the partitions of ``keys``."""
        if topic not in self._partitions:
            known = await self._fetch_partitions(topic)  # once: the number of partitions never shrinks
            self._partitions[topic] = len(known)
        tps = sorted({TopicPartition(topic, partition_of(k, self._partitions[topic])) for k in keys})
        ends = await self._consumer.end_offsets(tps)
        deadline = time.monotonic() + self.wait_seconds
        while True:
            behind = await _behind(conn, projection, topic, ends)
            if not behind:
                return
            if time.monotonic() >= deadline:
                lag = ", ".join(f"{topic}:{p} {n} behind" for p, n in sorted(behind.items()))
                raise CaseStateUnavailable(
                    f"cannot check the case now: the {projection} projection has not caught up ({lag}); "
                    "make sure its worker runs (kim status) and retry"
                )
            await asyncio.sleep(0.05)

    async def _fetch_partitions(self, topic: str) -> set[int]:
        known = {p for _, p in await end_offsets(self._kafka, [topic])}
        if not known:
            raise CaseStateUnavailable(f"topic {topic} does not exist (kim up creates it)")
        return known


async def _read_cases(conn: asyncpg.Connection, cases: list[str], view: CaseView) -> None:
    rows = await conn.fetch(
        "SELECT case_id, consents, holder, manager_agency, receivers FROM referral_cases "
        "WHERE case_id = ANY($1::text[])",
        cases,
    )
    view.consents = {r["case_id"]: r["consents"] for r in rows}
    view.parties = {
        r["case_id"]: Parties(r["holder"], r["manager_agency"], tuple(r["receivers"])) for r in rows if r["holder"]
    }
    sent = await conn.fetch(
        "SELECT case_id, referral_id, to_agency FROM referrals WHERE case_id = ANY($1::text[])", cases
    )
    view.sent_to = {(r["case_id"], r["referral_id"]): r["to_agency"] for r in sent}


async def _behind(
    conn: asyncpg.Connection, projection: str, topic: str, ends: Mapping[TopicPartition, int]
) -> dict[int, int]:
    rows = await conn.fetch(
        "SELECT partition, next_offset FROM projection_checkpoints WHERE projection = $1 AND topic = $2",
        projection,
        topic,
    )
    seen = {r["partition"]: r["next_offset"] for r in rows}
    return {
        tp.partition: end - seen.get(tp.partition, 0) for tp, end in ends.items() if seen.get(tp.partition, 0) < end
    }
