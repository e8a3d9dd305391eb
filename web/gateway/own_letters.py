"""What became of an agency's records that were not applied: ``GET /v1/dead-letters``.

An agency's Kafka login cannot read ``kim.dlq`` (it could see other agencies' records), so without this a partner
whose record was acknowledged and then dead-lettered never learns why. The gateway reads the dead-letter topic
with the platform's login and answers with the letters of the records the caller's agency **signed** (the
``kim.signer`` header a letter keeps): which projection refused it, why, where the record is, when — never the
record's bytes, never another agency's letters. The agency is the bearer token's; there are no parameters.

Each request reads the topic from its start: fine for a dead-letter topic that stays small (it is a to-do list
for operators); the newest ``SHOWN`` letters are listed, with the total.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from aiohttp import web
from aiokafka.errors import KafkaError

from schemas.signing import SIGNER_HEADER, SigningKey
from streams.kafka.connection import KafkaConnection
from streams.runtime.dlq import DeadLetter, read_dead_letters
from web.gateway.auth import TokenBook, authenticate
from web.problems import Problem

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


async def dead_letters(request: web.Request, tokens: TokenBook, kafka: KafkaConnection, topic: str) -> web.Response:
    """200 with the caller's dead letters; 400 for any parameter; 503 when the topic cannot be read."""
    agency, _ = await authenticate(request, tokens)
    if request.query:
        names = ", ".join(sorted(request.query))
        raise Problem(400, f"GET /v1/dead-letters takes no parameters (got {names}); the token names the agency")
    try:
        letters = await read_dead_letters(kafka, topic, timeout=READ_SECONDS)
    except (KafkaError, OSError) as why:
        raise Problem(503, f"cannot read the dead letters: Kafka is unreachable ({type(why).__name__})") from None
    shown, total = own_letters(agency, letters)
    return web.json_response({"agency": agency, "total": total, "letters": shown})
