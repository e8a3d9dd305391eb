"""The gateway's routes: publish one event or a batch, the OpenAPI document, liveness.

A 202 is sent only after Kafka acknowledged every event of the request (acks=all). A batch
is validated as a whole first: one invalid event and nothing of it is published.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import asyncpg
from aiohttp import web
from aiokafka.errors import KafkaError

from infra.client_keys import ClientKeyStore, KeyStoreUnavailable
from infra.errors import SetupError
from schemas import Codec, EncodeError
from schemas.sealing import KeyRing, client_refs
from schemas.signing import SigningKey
from schemas.topics import DLQ
from streams.sdk.draft import EventDraft
from streams.sdk.errors import DeliveryError, field_errors_of
from streams.sdk.pool import PublisherPool
from streams.sdk.prepare import Outgoing, Preparer
from streams.sdk.publisher import TOO_LARGE, Published
from streams.usecases.case_gate import GATED, CaseGate, CaseStateUnavailable
from web.gateway.auth import TokenBook, authenticate, refuse_other_agency
from web.gateway.body import json_body
from web.gateway.config import GatewayConfig
from web.gateway.idempotency import IdempotencyStore
from web.gateway.openapi import document
from web.gateway.own_letters import dead_letters
from web.gateway.partner_views import PartnerViews, received_referrals
from web.gateway.responses import field_error
from web.problems import SERVICE, Problem, json_errors

CONFIG = web.AppKey("config", GatewayConfig)
CODEC = web.AppKey("codec", Codec)
POOL = web.AppKey("pool", PublisherPool)
GATE = web.AppKey("case_gate", CaseGate)
OPENAPI = web.AppKey("openapi", dict)
TOKENS = web.AppKey("tokens", TokenBook)
KEYS = web.AppKey("client_keys", ClientKeyStore)
IDEMPOTENCY = web.AppKey("idempotency", IdempotencyStore)
PARTNER = web.AppKey("partner_views", PartnerViews)


def make_app(config: GatewayConfig, codec: Codec | None = None) -> web.Application:
    """The aiohttp application; its Kafka producers (one per agency) start on first use and stop on cleanup."""
    app = web.Application(middlewares=[json_errors], client_max_size=config.max_body_bytes)
    app[SERVICE] = "the gateway"
    app[CONFIG] = config
    app[CODEC] = codec or Codec()
    app[POOL] = PublisherPool(
        config.kafka,
        topic_prefix=config.topic_prefix,
        codec=app[CODEC],
        request_timeout_ms=config.request_timeout_ms,
    )
    app[OPENAPI] = document(app[CODEC], config)
    if config.database_url is not None and config.secrets is None:
        raise SetupError(
            "the gateway needs the platform's secrets directory with its database (GatewayConfig(secrets=…)): "
            "it keys the client table's lookups and the idempotency hashes"
        )
    app[TOKENS] = TokenBook(config.database_url)
    lease = timedelta(seconds=2 * config.request_timeout_ms / 1000 + config.consent_wait_seconds + 30)
    app[IDEMPOTENCY] = IdempotencyStore(config.database_url, lease, secrets=config.secrets)
    app[PARTNER] = PartnerViews(config.database_url)
    app.router.add_post("/v1/events", publish_one)
    app.router.add_post("/v1/events:batch", publish_batch)
    app.router.add_get("/v1/referrals/received", referrals_received)
    app.router.add_get("/v1/dead-letters", own_dead_letters)
    app.router.add_get("/openapi.json", openapi)
    app.router.add_get("/healthz", healthz)
    app.on_cleanup.append(_close_pool)
    if config.database_url is not None:
        app.cleanup_ctx.append(_case_gate)
        assert config.secrets is not None
        # Seals the client of CaseOpened/ApplicationFiled; forgets a key the moment `kim erase` destroys it.
        app[KEYS] = ClientKeyStore(config.database_url, config.secrets)
        app.on_cleanup.append(_close_keys)
    return app


async def publish_one(request: web.Request) -> web.Response:
    config = request.app[CONFIG]
    agency, key = await authenticate(request, request.app[TOKENS])
    body = await json_body(request, config.max_body_bytes)
    if not isinstance(body, dict):
        raise Problem(400, "expected one event as a JSON object; to send several, POST an array to /v1/events:batch")
    body = refuse_other_agency(body, agency)
    async with await request.app[IDEMPOTENCY].attempt(request, agency, body) as attempt:
        if attempt.replay is not None:
            return attempt.replay
        outgoing = attempt.resend or [await _prepare_one(request, agency, body)]
        published = await _send(request, agency, key, await attempt.sending(outgoing))
        return await attempt.answered(_accepted(outgoing[0], published[0]))


async def _prepare_one(request: web.Request, agency: str, body: dict[str, Any]) -> Outgoing:
    """The event validated, encoded and checked against its case: a 422 (403: no part in the case) naming every
    problem, else ready to send."""
    config, codec = request.app[CONFIG], request.app[CODEC]
    preparer = Preparer(agency, topic_prefix=config.topic_prefix, codec=codec, keys=_keys(request))
    try:
        draft = EventDraft.from_dict(body, codec)
        await _load_keys(request, [draft])
        outgoing = preparer.prepare(draft)
    except EncodeError as error:
        errors = [field_error(e) for e in field_errors_of(error)]
        message = f"invalid {_event_type(body)}: {len(errors)} problem(s); nothing was published"
        raise Problem(422, message, errors) from None
    await _check_case(request, agency, [draft])
    return outgoing


async def publish_batch(request: web.Request) -> web.Response:
    config = request.app[CONFIG]
    agency, key = await authenticate(request, request.app[TOKENS])
    body = await json_body(request, config.max_body_bytes)
    if not isinstance(body, list):
        raise Problem(400, "expected a JSON array of events; to send one event, POST it to /v1/events")
    if not body:
        raise Problem(400, "the batch is empty; send at least one event")
    if len(body) > config.max_batch:
        raise Problem(413, f"the batch holds {len(body)} events; at most {config.max_batch} per request")
    body = [refuse_other_agency(item, agency, i) for i, item in enumerate(body)]
    async with await request.app[IDEMPOTENCY].attempt(request, agency, body) as attempt:
        if attempt.replay is not None:
            return attempt.replay
        outgoing = attempt.resend or await _prepare_batch(request, agency, body)
        published = await _send(request, agency, key, await attempt.sending(outgoing))
        events = [{"index": i, **_accepted(o, p)} for i, (o, p) in enumerate(zip(outgoing, published, strict=True))]
        return await attempt.answered({"accepted": len(events), "events": events})


async def _prepare_batch(request: web.Request, agency: str, body: list[Any]) -> list[Outgoing]:
    """Every event validated and encoded, then consent-checked: a 422 listing each bad one by index."""
    config, codec = request.app[CONFIG], request.app[CODEC]
    preparer = Preparer(agency, topic_prefix=config.topic_prefix, codec=codec, keys=_keys(request))
    outgoing: list[Outgoing] = []
    drafts: list[EventDraft] = []
    errors: list[dict[str, Any]] = []
    invalid = 0
    for index, item in enumerate(body):
        try:
            draft = EventDraft.from_dict(item, codec)
            await _load_keys(request, [draft])
            outgoing.append(preparer.prepare(draft))
            drafts.append(draft)
        except EncodeError as error:
            invalid += 1
            errors += [field_error(e, index) for e in field_errors_of(error)]
    if errors:
        raise Problem(422, f"{invalid} of {len(body)} events are invalid; nothing was published", errors)
    await _check_case(request, agency, drafts, batch=True)
    return outgoing


def _keys(request: web.Request) -> KeyRing | None:
    store = request.app.get(KEYS)
    return store.ring if store is not None else None


async def _load_keys(request: web.Request, drafts: list[EventDraft]) -> None:
    """The client keys the drafts are sealed with, loaded or made first; 503 when the key table is unreachable."""
    store = request.app.get(KEYS)
    refs = [ref for d in drafts for ref in client_refs(d.event_type, d.payload)]
    if store is None or not refs:
        return
    try:
        await store.load(refs)
    except KeyStoreUnavailable as why:
        raise Problem(503, f"{why}; nothing was published, try again later") from None


async def _close_keys(app: web.Application) -> None:
    store = app.get(KEYS)
    if store is not None:
        await store.close()


async def referrals_received(request: web.Request) -> web.Response:
    return await received_referrals(request, request.app[TOKENS], request.app[PARTNER])


async def own_dead_letters(request: web.Request) -> web.Response:
    config = request.app[CONFIG]
    return await dead_letters(request, request.app[TOKENS], config.kafka, config.topic_prefix + DLQ)


async def openapi(request: web.Request) -> web.Response:
    return web.json_response(request.app[OPENAPI])


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def _check_case(request: web.Request, agency: str, drafts: list[EventDraft], *, batch: bool = False) -> None:
    """403 naming each event about a case (or application) the agency has no part in (projections/authority.py),
    else 422 naming each referral or hand-over that no consent of its case lets pass (docs/domain.md rule 2)."""
    gate = request.app.get(GATE)
    if gate is None:  # started without a database (GatewayConfig.database_url unset): the stream side judges alone
        if any(d.event_type in GATED for d in drafts):
            raise Problem(
                503,
                "referrals and hand-overs need a consent check, and this gateway has no database; "
                "start it with KIM_DATABASE_URL set (kim gateway does)",
            )
        return
    try:
        refused = await gate.check(drafts, agency)
    except CaseStateUnavailable as why:
        raise Problem(503, f"{why}; nothing was published") from None
    if not refused:
        return
    errors = [
        {**({"index": i} if batch else {}), "field": why.field, "reason": why.reason} for i, why in refused.items()
    ]
    what = f"{len(refused)} of {len(drafts)} events" if batch else "the event"
    if any(why.field == "source_agency" for why in refused.values()):
        message = f"{what} may not be published by {agency}: it has no part in the case; nothing was published"
        raise Problem(403, message, errors)
    raise Problem(422, f"{what} may not be shared: no consent lets the data pass; nothing was published", errors)


async def _case_gate(app: web.Application) -> AsyncIterator[None]:
    config = app[CONFIG]
    assert config.database_url is not None
    gate = CaseGate(
        config.kafka,
        config.database_url,
        topic_prefix=config.topic_prefix,
        wait_seconds=config.consent_wait_seconds,
    )
    try:
        await gate.start()
    except (KafkaError, OSError, asyncpg.PostgresError) as why:
        await gate.close()
        raise RuntimeError(f"cannot start the case check ({why}); check Kafka and PostgreSQL (kim status)") from None
    app[GATE] = gate
    yield
    await gate.close()


async def _send(request: web.Request, agency: str, key: SigningKey, outgoing: list[Outgoing]) -> list[Published]:
    """Send and wait for Kafka's acknowledgement of every event; a 503 (never a 202) when it does not come."""
    pool = request.app[POOL]
    try:
        publisher = await pool.get(agency, key)
    except (KafkaError, OSError) as why:
        raise Problem(503, f"Kafka is unreachable ({why}); nothing was published, try again later") from None
    try:
        return await publisher.send(outgoing)
    except DeliveryError as failure:
        if not any(failure.results) and any(TOO_LARGE in why for why in failure.reasons.values()):
            raise Problem(
                413, "an event is larger than Kafka takes (1 MiB per record, encoded); nothing was published"
            ) from None
        acked = [
            {"index": i, **_accepted(o, p)}
            for i, (o, p) in enumerate(zip(outgoing, failure.results, strict=True))
            if p is not None
        ]
        errors = [{"index": i, "field": "", "reason": reason} for i, reason in sorted(failure.reasons.items())]
        message = f"{failure}; the events listed under 'events' were published, the others were not"
        raise Problem(503, message, errors, events=acked) from None


def _accepted(outgoing: Outgoing, published: Published) -> dict[str, Any]:
    return {
        "event_id": published.event_id,
        "event_type": outgoing.event_type,
        "topic": published.topic,
        "partition": published.partition,
        "offset": published.offset,
    }


def _event_type(body: dict[str, Any]) -> str:
    event_type = body.get("event_type")
    return event_type if isinstance(event_type, str) and event_type else "event"


async def _close_pool(app: web.Application) -> None:
    await app[POOL].close()
    await app[TOKENS].close()
    await app[IDEMPOTENCY].close()
    await app[PARTNER].close()
