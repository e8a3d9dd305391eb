"""Idempotency keys for the publish endpoints: a repeated request gets the first answer, and nothing twice.

A partner sends ``Idempotency-Key: <1 to 255 visible ASCII characters>`` with ``POST /v1/events`` or
``POST /v1/events:batch``. Keys are scoped per agency (the token's) and kept 24 hours in
``gateway_idempotency`` (PostgreSQL, so a restarted gateway still knows them), each with a *keyed* hash of its
request — HMAC-SHA256 under the platform's pepper (a file in the secrets directory, never in the database) of
the request's SHA-256 — so no one who reads the table can test guessed bodies (with a pseudonym in them)
against it:

- the same key with the same request (endpoint and JSON body) again: the stored answer, status and body
  (event ids, topics, offsets) with ``Idempotent-Replayed: true``; nothing is published;
- the same key with another request: 422, nothing published;
- the same key while the first request is still being processed: 409, retry later.

Crash window. The encoded records are stored with the key *before* they are sent, and dropped once the
answer is stored. If the answer never gets stored (the gateway died after Kafka acknowledged, Kafka failed
midway, the database failed at the end), the key stays *unfinished*: the next request with it sends exactly
the stored records again — the same bytes and event ids — and stores that answer. Kafka may then hold a record
twice, but every projection drops an event id it has applied, so the effect is once. A request that failed
before anything was stored (validation, consent, an unreachable database) releases its key.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum
from typing import Any

import asyncpg
from aiohttp import web

from infra.key_custody import idempotency_digest
from infra.platform_secrets import Secrets, SecretsMissing
from streams.sdk.prepare import Outgoing
from web.problems import Problem

HEADER = "Idempotency-Key"
REPLAYED = "Idempotent-Replayed"
KEEP = timedelta(hours=24)  # how long a key is honoured; older rows are deleted
SWEEP_EVERY = 600.0  # seconds between two deletions of expired keys (per gateway process)

log = logging.getLogger("kim.gateway")


class Verdict(Enum):
    NEW = "new"  # no usable row: process the request
    REPLAY = "replay"  # answered before: send the stored answer
    CONFLICT = "conflict"  # the key was used for another request: 422
    BUSY = "busy"  # another request holds the key: 409
    RESUME = "resume"  # unfinished: take it over (and send its stored records again, if any)


@dataclass(frozen=True)
class Existing:
    """What the table holds for a key, as far as the decision needs it."""

    request_hash: bytes
    created_at: datetime
    lease_until: datetime
    answered: bool


def parse_key(header: str | None) -> str | None:
    """The key of the request, ``None`` without the header; a 400 for an unusable one."""
    if header is None:
        return None
    key = header.strip()
    if not 1 <= len(key) <= 255 or not all("!" <= c <= "~" for c in key):
        raise Problem(400, f"{HEADER} must be 1 to 255 visible ASCII characters (e.g. a UUID); got {len(key)} chars")
    return key


def request_hash(pepper: bytes, endpoint: str, body: Any) -> bytes:
    """The keyed hash of the endpoint and the body as canonical JSON: the same request, however it was formatted.

    HMAC-SHA256 under the pepper of their SHA-256 (``infra.key_custody.idempotency_digest``; the SHA-256 in between
    lets `kim up` key the plain hashes an older gateway stored, without their bodies).
    """
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return idempotency_digest(pepper, hashlib.sha256(f"{endpoint}\n{canonical}".encode()).digest())


def decide(existing: Existing | None, digest: bytes, now: datetime, keep: timedelta = KEEP) -> Verdict:
    """What to do with a request carrying a key the table may know. Pure."""
    if existing is None or existing.created_at + keep <= now:
        return Verdict.NEW
    if existing.request_hash != digest:
        return Verdict.CONFLICT
    if existing.answered:
        return Verdict.REPLAY
    if existing.lease_until > now:
        return Verdict.BUSY
    return Verdict.RESUME


def records_to_json(outgoing: list[Outgoing]) -> str:
    return json.dumps(
        [
            {
                "topic": o.topic,
                "key": base64.b64encode(o.key).decode(),
                "value": base64.b64encode(o.value).decode(),
                "event_id": o.event_id,
                "event_type": o.event_type,
            }
            for o in outgoing
        ]
    )


def records_from_json(text: str) -> list[Outgoing]:
    return [
        Outgoing(r["topic"], base64.b64decode(r["key"]), base64.b64decode(r["value"]), r["event_id"], r["event_type"])
        for r in json.loads(text)
    ]


class IdempotencyStore:
    """The keys in the platform database (a small pool, made on first use)."""

    def __init__(
        self, database_url: str | None, lease: timedelta, keep: timedelta = KEEP, secrets: Secrets | None = None
    ) -> None:
        self.database_url = database_url
        self.lease = lease  # longer than any live request takes: consent wait plus Kafka's timeouts
        self.keep = keep
        self.secrets = secrets
        self._pepper: bytes | None = None
        self._pool: asyncpg.Pool | None = None
        self._swept = float("-inf")

    async def attempt(self, request: web.Request, agency: str, body: Any) -> Attempt:
        """The request's attempt: a no-op without the header, else the key claimed (or a 409/422 raised)."""
        key = parse_key(request.headers.get(HEADER))
        if key is None:
            return Attempt(self, agency, None)
        if self.database_url is None or self.secrets is None:
            raise Problem(503, f"this gateway has no database to keep {HEADER}s in; start it with KIM_DATABASE_URL")
        if self._pepper is None:
            try:
                self._pepper = self.secrets.pepper()
            except SecretsMissing:
                raise Problem(503, f"cannot check the {HEADER}: the gateway's secrets are missing") from None
        try:
            return await self._claim(agency, key, request.path, request_hash(self._pepper, request.path, body))
        except (OSError, asyncpg.PostgresError) as why:
            raise Problem(
                503, f"cannot check the {HEADER}: the platform database is unreachable ({type(why).__name__})"
            ) from None

    async def _claim(self, agency: str, key: str, endpoint: str, digest: bytes) -> Attempt:
        pool = await self._ready()
        async with pool.acquire() as conn, conn.transaction():
            inserted = await conn.fetchval(
                "INSERT INTO gateway_idempotency (agency, key, request_hash, lease_until)"
                " VALUES ($1, $2, $3, now() + $4::interval) ON CONFLICT (agency, key) DO NOTHING RETURNING true",
                agency,
                key,
                digest,
                self.lease,
            )
            if inserted:
                return Attempt(self, agency, key)
            row = await conn.fetchrow(
                "SELECT request_hash, created_at, lease_until, records, status, answer, now() AS now"
                " FROM gateway_idempotency WHERE agency = $1 AND key = $2 FOR UPDATE",
                agency,
                key,
            )
            existing = None
            if row is not None:
                existing = Existing(
                    row["request_hash"], row["created_at"], row["lease_until"], row["status"] is not None
                )
            verdict = decide(existing, digest, row["now"] if row else datetime.max, self.keep)
            if verdict is Verdict.CONFLICT:
                raise Problem(
                    422,
                    f"{HEADER} {key!r} was already used by {agency} for a different request (another body or "
                    f"endpoint) within {_hours(self.keep)}; send a new key with a new request. Nothing was published",
                )
            if verdict is Verdict.BUSY:
                raise Problem(
                    409,
                    f"a request with {HEADER} {key!r} is still being processed; retry in a few seconds for its answer",
                    headers={"Retry-After": "2"},
                )
            if verdict is Verdict.REPLAY:
                assert row is not None
                headers = {REPLAYED: "true"}
                return Attempt(
                    self,
                    agency,
                    key,
                    replay=web.json_response(json.loads(row["answer"]), status=row["status"], headers=headers),
                )
            if verdict is Verdict.NEW:
                await conn.execute(
                    "INSERT INTO gateway_idempotency (agency, key, request_hash, lease_until)"
                    " VALUES ($1, $2, $3, now() + $4::interval) ON CONFLICT (agency, key) DO UPDATE SET"
                    " request_hash = excluded.request_hash, created_at = now(), lease_until = excluded.lease_until,"
                    " attempts = 1, records = NULL, status = NULL, answer = NULL, completed_at = NULL",
                    agency,
                    key,
                    digest,
                    self.lease,
                )
                return Attempt(self, agency, key)
            assert row is not None  # RESUME
            await conn.execute(
                "UPDATE gateway_idempotency SET lease_until = now() + $3::interval, attempts = attempts + 1"
                " WHERE agency = $1 AND key = $2",
                agency,
                key,
                self.lease,
            )
            resend = records_from_json(row["records"]) if row["records"] is not None else None
            return Attempt(self, agency, key, resend=resend)

    async def remember(self, agency: str, key: str, outgoing: list[Outgoing]) -> None:
        await self._execute(
            "UPDATE gateway_idempotency SET records = $3::jsonb WHERE agency = $1 AND key = $2",
            agency,
            key,
            records_to_json(outgoing),
        )

    async def finish(self, agency: str, key: str, status: int, answer: dict[str, Any]) -> None:
        await self._execute(
            "UPDATE gateway_idempotency SET status = $3, answer = $4::jsonb, records = NULL, completed_at = now()"
            " WHERE agency = $1 AND key = $2",
            agency,
            key,
            status,
            json.dumps(answer),
        )

    async def unfinished(self, agency: str, key: str) -> None:
        """Give the key up with its records kept: the next request with it sends them again."""
        await self._execute(
            "UPDATE gateway_idempotency SET lease_until = now() WHERE agency = $1 AND key = $2", agency, key
        )

    async def release(self, agency: str, key: str) -> None:
        """Forget the key: nothing was stored to send, so the next request with it starts afresh."""
        await self._execute("DELETE FROM gateway_idempotency WHERE agency = $1 AND key = $2", agency, key)

    async def sweep(self) -> int:
        """Delete the keys older than ``keep``; returns how many."""
        pool = await self._ready()
        done = await pool.execute("DELETE FROM gateway_idempotency WHERE created_at < now() - $1::interval", self.keep)
        self._swept = time.monotonic()
        return int(done.split()[-1])

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
            self._pool = None

    async def _ready(self) -> asyncpg.Pool:
        if self._pool is None:
            assert self.database_url is not None
            self._pool = await asyncpg.create_pool(self.database_url, min_size=0, max_size=4)
        if time.monotonic() - self._swept > SWEEP_EVERY:
            self._swept = time.monotonic()
            await self._pool.execute(
                "DELETE FROM gateway_idempotency WHERE created_at < now() - $1::interval", self.keep
            )
        return self._pool

    async def _execute(self, sql: str, *args: Any) -> None:
        pool = await self._ready()
        await pool.execute(sql, *args)


class Attempt:
    """One request's hold on its key. Without a key every step passes the request through unchanged.

    ``replay``: the stored answer to send instead. ``resend``: the records an unfinished earlier attempt stored,
    to send again instead of preparing the body anew. Use as ``async with``: leaving it with an error releases
    the key, or, once records were stored, leaves it unfinished for the next request to send them again.
    """

    def __init__(
        self,
        store: IdempotencyStore,
        agency: str,
        key: str | None,
        replay: web.Response | None = None,
        resend: list[Outgoing] | None = None,
    ) -> None:
        self.store, self.agency, self.key = store, agency, key
        self.replay = replay
        self.resend = resend
        self._stored = resend is not None
        self._done = replay is not None

    async def sending(self, outgoing: list[Outgoing]) -> list[Outgoing]:
        """Store the records with the key before they are sent (a crash after sending can then send them again)."""
        if self.key is not None and not self._stored:
            try:
                await self.store.remember(self.agency, self.key, outgoing)
            except (OSError, asyncpg.PostgresError) as why:
                raise Problem(
                    503,
                    f"cannot keep the {HEADER}: the platform database is unreachable ({type(why).__name__}); "
                    "nothing was published",
                ) from None
            self._stored = True
        return outgoing

    async def answered(self, answer: dict[str, Any], status: int = 202) -> web.Response:
        """The answer, stored with the key; if storing fails the key stays unfinished (a retry sends again)."""
        if self.key is not None:
            try:
                await self.store.finish(self.agency, self.key, status, answer)
                self._done = True
            except (OSError, asyncpg.PostgresError) as why:
                log.warning("could not store the answer for %s key %r: %s", self.agency, self.key, why)
        return web.json_response(answer, status=status)

    async def __aenter__(self) -> Attempt:
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self.key is None or self._done:
            return
        try:
            if self._stored:
                await self.store.unfinished(self.agency, self.key)
            else:
                await self.store.release(self.agency, self.key)
        except (OSError, asyncpg.PostgresError) as why:  # the lease runs out by itself
            log.warning("could not give up %s key %r: %s", self.agency, self.key, why)


def _hours(span: timedelta) -> str:
    return f"{span.total_seconds() / 3600:g} h"
