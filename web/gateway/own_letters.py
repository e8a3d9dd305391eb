"""``GET /v1/dead-letters``: the caller's records that were acknowledged but not applied, and why
(``streams/usecases/agency_letters.py``). The agency is the bearer token's; there are no parameters."""

from __future__ import annotations

from aiohttp import web
from aiokafka.errors import KafkaError

from streams.kafka.connection import KafkaConnection
from streams.usecases.agency_letters import letters_of
from web.gateway.auth import TokenBook, authenticate
from web.problems import Problem


async def dead_letters(request: web.Request, tokens: TokenBook, kafka: KafkaConnection, topic: str) -> web.Response:
    """200 with the caller's dead letters; 400 for any parameter; 503 when the topic cannot be read."""
    agency, _ = await authenticate(request, tokens)
    if request.query:
        names = ", ".join(sorted(request.query))
        raise Problem(400, f"GET /v1/dead-letters takes no parameters (got {names}); the token names the agency")
    try:
        shown, total = await letters_of(kafka, topic, agency)
    except (KafkaError, OSError) as why:
        raise Problem(503, f"cannot read the dead letters: Kafka is unreachable ({type(why).__name__})") from None
    return web.json_response({"agency": agency, "total": total, "letters": shown})
