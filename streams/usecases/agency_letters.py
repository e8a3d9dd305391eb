"""An agency's own dead letters: what became of its records that Kafka acknowledged and a read model refused.

An agency's Kafka login cannot read ``kim.dlq`` (it could see other agencies' records), so the platform reads it
and hands each agency the letters of the records it **signed** (the ``kim.signer`` header a letter keeps): which
projection refused it, why, where the record is, when — never the record's bytes, never another agency's letters.
Served by the gateway as ``GET /v1/dead-letters``.

Each call reads the topic from its start: fine for a dead-letter topic that stays small (it is a to-do list for
operators); the newest ``SHOWN`` letters are listed, with the total.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from schemas.signing import SIGNER_HEADER, SigningKey
from streams.kafka.connection import KafkaConnection
from streams.runtime.dlq import DeadLetter, read_dead_letters

SHOWN = 500
READ_SECONDS = 10.0


def signed_by(letter: DeadLetter) -> str | None:
    """The agency whose key signed the dead-lettered record (None: unsigned, or the platform's key)."""
    key_id = letter.headers.get(SIGNER_HEADER)
    return SigningKey(key_id, b"").agency if key_id else None


def own_letters(agency: str, letters: Iterable[DeadLetter], shown: int = SHOWN) -> tuple[list[dict[str, Any]], int]:
    """The letters of records ``agency`` signed, newest first, at most ``shown`` of them; and how many there are."""
    mine = [letter for letter in letters if signed_by(letter) == agency]
    oldest = datetime.min.replace(tzinfo=UTC)
    mine.sort(key=lambda letter: (letter.failed_at or oldest, letter.partition, letter.offset), reverse=True)
    return [_shown(letter) for letter in mine[:shown]], len(mine)


async def letters_of(kafka: KafkaConnection, dlq_topic: str, agency: str) -> tuple[list[dict[str, Any]], int]:
    """``own_letters`` of the dead-letter topic as it is now (``KafkaError``/``OSError`` when it cannot be read)."""
    return own_letters(agency, await read_dead_letters(kafka, dlq_topic, timeout=READ_SECONDS))


def _shown(letter: DeadLetter) -> dict[str, Any]:
    topic, partition, offset = letter.source
    failed = letter.failed_at
    return {
        "projection": letter.projection,
        "reason": letter.reason,
        "event_type": letter.headers.get("kim.event_type"),
        "key": letter.key.decode(errors="replace") if letter.key is not None else None,
        "source": {"topic": topic, "partition": partition, "offset": offset},
        "failed_at": failed.isoformat() if failed else None,
        "attempt": letter.attempt,
    }
