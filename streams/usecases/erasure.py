"""Erasing one client (DSGVO Art. 17) by crypto-shredding: what `kim erase CLIENT_REF` does.

1. Find the client's key (``client_keys``) and, by its key id, the cases and applications the projections
   hold for the client (``caseload_cases.client_key_id``, ``backlog_applications.client_key_id``) — after
   waiting (bounded) until those projections have applied the log as it was when the command started; if they
   have not, nothing is done (a missed case could never be found again once the key is gone).
2. Publish one ``CaseErased`` per case on ``kim.cases`` and one ``ApplicationErased`` per application on
   ``kim.immigration``, as the platform (signed with its key; the stream side accepts them from no one else).
   Every projection makes those rows anonymous when it applies them — live, and on every rebuild.
3. In one transaction: delete the key (every sealed copy of the pseudonym in the log is unreadable from
   now on), NOTIFY every running ``ClientKeyStore`` (they drop the key from their caches when this commits),
   remember the erasure under a peppered digest of the pseudonym (never the pseudonym), and append the
   receipt to the audit log (``client.erase``).
4. VACUUM ``client_keys`` (after the commit: VACUUM cannot run in a transaction; as the table's owner, the only
   login PostgreSQL 15 lets), so the deleted row leaves the table's live pages and its index.
5. Wait (bounded) until the projections no longer hold the erased ids, and say so in the receipt.

The key was only ever stored wrapped under the key-encryption key (``infra/client_keys.py``): copies of the
deleted row left in free space of the table file, in the WAL or in backups open only with that KEK, which
`kim keys rotate` destroys.

Publishing comes before the key is destroyed: if it fails, nothing is lost and the command can run again
(the folds ignore an erasure of what is already erased). A crash between 2 and 3 leaves the key: run again.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime

import asyncpg
from aiokafka.errors import KafkaError

from infra import audit
from infra.client_keys import CHANNEL, ERASED, key_id_of, verified_pepper
from infra.errors import SetupError
from infra.key_custody import vacuum
from infra.platform_secrets import Secrets, SecretsMissing
from projections.records import Applied, LogRecord
from schemas import Codec
from schemas.rules import PSEUDONYM, PSEUDONYM_RULE
from schemas.signing import SigningKey
from schemas.topics import CASES, IMMIGRATION
from streams.kafka.connection import KafkaConnection
from streams.kafka.topics import end_offsets
from streams.sdk.errors import DeliveryError
from streams.sdk.prepare import Outgoing, encoded, new_envelope
from streams.sdk.publisher import Publisher
from streams.usecases.erasure_copies import copies_of_read_models, count_rows, erase_in_copies

ERASING_AGENCY = "KOMMUNALES_INTEGRATIONSZENTRUM"  # the KI runs the platform; the platform's key signs
ACTION = "client.erase"


@dataclass
class Receipt:
    """What one erasure removed, when and by whom; printed, and kept in the audit log."""

    erasure_id: str
    actor: str
    at: datetime
    key_id: str
    cases: int
    applications: int
    rows: dict[str, dict[str, int]]  # projection -> table -> rows made anonymous
    events: list[dict[str, object]]  # {event_type, topic, partition, offset}
    copies: dict[str, dict[str, int]] = field(default_factory=dict)  # copy schema -> table -> rows made anonymous
    applied: list[str] = field(default_factory=list)  # projections seen to have applied every erasure event
    pending: list[str] = field(default_factory=list)  # projections that had not yet when we stopped waiting
    vacuum_problem: str | None = None  # why client_keys was not vacuumed after the deletion (None: it was)

    def details(self) -> dict[str, object]:
        return {
            "erasure_id": self.erasure_id,
            "key_id": self.key_id,
            "cases": self.cases,
            "applications": self.applications,
            "rows": self.rows,
            "events": self.events,
            "copies": self.copies,
        }


@dataclass(frozen=True)
class AlreadyErased:
    erasure_id: str
    erased_at: datetime


def check_ref(client_ref: str) -> None:
    if not PSEUDONYM.fullmatch(client_ref):
        raise SetupError(f"CLIENT_REF {PSEUDONYM_RULE}")


def digest(pepper: bytes, client_ref: str) -> bytes:
    """How an erased pseudonym is remembered: HMAC-SHA256 under the installation's pepper (``erased_clients``).

    The pepper is the file in the secrets directory; an installation from before migration 0111 kept it in the
    database, and `kim up` moved that very pepper out, so erasures made before are still found. (The key table's
    digest of the same pseudonym is another keyed hash, ``schemas.sealing.client_digest``: the two never match.)
    """
    return hmac.new(pepper, client_ref.encode(), hashlib.sha256).digest()


def erasure_events(case_ids: list[str], application_ids: list[str], erasure_id: str) -> list[tuple[str, dict]]:
    """(event type, payload) of every erasure event, cases first. Pure."""
    return [("CaseErased", {"case_id": c, "erasure_id": erasure_id}) for c in sorted(case_ids)] + [
        ("ApplicationErased", {"application_id": a, "erasure_id": erasure_id}) for a in sorted(application_ids)
    ]


def encode(codec: Codec, event_type: str, payload: dict, topic_prefix: str, correlation_id: str) -> Outgoing:
    """One erasure event, encoded as the platform (the SDK's Preparer refuses these types to everyone)."""
    envelope = new_envelope(event_type, ERASING_AGENCY, correlation_id=correlation_id)
    return encoded(codec, envelope, payload, topic_prefix)


async def previous_erasure(conn: asyncpg.Connection, pepper: bytes, client_ref: str) -> AlreadyErased | None:
    row = await conn.fetchrow(
        "SELECT erasure_id, erased_at FROM erased_clients WHERE digest = $1 ORDER BY erased_at DESC LIMIT 1",
        digest(pepper, client_ref),
    )
    return None if row is None else AlreadyErased(row["erasure_id"], row["erased_at"])


async def _ids(conn: asyncpg.Connection, key_id: str) -> tuple[list[str], list[str]]:
    cases = [r[0] for r in await conn.fetch("SELECT case_id FROM caseload_cases WHERE client_key_id = $1", key_id)]
    applications = [
        r[0]
        for r in await conn.fetch("SELECT application_id FROM backlog_applications WHERE client_key_id = $1", key_id)
    ]
    return cases, applications


async def erase(
    kafka: KafkaConnection,
    database_url: str,
    client_ref: str,
    actor: str,
    *,
    platform_key: SigningKey,
    secrets: Secrets,
    owner_url: str | None = None,
    topic_prefix: str = "",
    wait_seconds: float = 60.0,
) -> Receipt | AlreadyErased:
    """Erase the client; the receipt, or when the client was erased before. ``SetupError`` for an unknown client.

    ``secrets``: the pepper finds the client's key (by its keyed hash) and remembers the erasure; ``owner_url``:
    the owner's login, used for nothing but ``VACUUM client_keys`` after the deletion.
    """
    check_ref(client_ref)
    try:
        conn = await asyncpg.connect(database_url, timeout=10)
    except (OSError, asyncpg.PostgresError) as why:
        raise SetupError(f"cannot reach PostgreSQL ({why}); is the platform up (kim status)?") from None
    try:
        try:
            pepper = await verified_pepper(conn, secrets)
        except SecretsMissing as why:
            raise SetupError(f"{why}; nothing was erased") from None
        key_id = await key_id_of(conn, pepper, client_ref)
        if key_id is None:
            earlier = await previous_erasure(conn, pepper, client_ref)
            if earlier is not None:
                return earlier
            raise SetupError(
                "no client with this pseudonym: the platform holds no key for it (its events were never sealed, "
                "e.g. published before CaseOpened v2 — see docs/data-protection.md section 6 — or it is mistyped)"
            )
        erasure_id = f"ER-{uuid.uuid4().hex[:16]}"
        try:
            cases, applications, rows, published, applied = await _announce(
                conn, kafka, platform_key, topic_prefix, key_id, erasure_id, wait_seconds
            )
            ids = {"cases": cases, "applications": applications}
            copies = await _erase_copies(conn, database_url, ids, applied)
        except SetupError as why:  # nothing was destroyed: the attempt is recorded, the command can run again
            await audit.record(conn, actor, ACTION, erasure_id, "failed", {"key_id": key_id, "error": str(why)})
            raise
        receipt = Receipt(
            erasure_id, actor, datetime.now(UTC), key_id, len(cases), len(applications), rows, published, copies
        )
        async with conn.transaction():
            deleted = await conn.execute("DELETE FROM client_keys WHERE key_id = $1", key_id)
            if deleted != "DELETE 1":  # erased by someone else a moment ago: their receipt stands
                raise SetupError("the client's key disappeared while erasing: another `kim erase` ran; see kim audit")
            # Delivered when this commits: every running ClientKeyStore drops the key from its cache at once.
            await conn.execute("SELECT pg_notify($1, $2)", CHANNEL, f"{ERASED} {key_id}")
            await conn.execute(
                "INSERT INTO erased_clients (digest, key_id, erasure_id) VALUES ($1, $2, $3)",
                digest(pepper, client_ref),
                key_id,
                erasure_id,
            )
            await audit.record(conn, actor, ACTION, erasure_id, "ok", receipt.details())
        receipt.vacuum_problem = await vacuum(owner_url)
        receipt.applied, receipt.pending = await _wait_applied(conn, ids, wait_seconds)
        return receipt
    finally:
        await conn.close()


async def _erase_copies(
    conn: asyncpg.Connection, database_url: str, ids: dict[str, list[str]], applied: list[Applied]
) -> dict[str, dict[str, int]]:
    """Step 2b: the same erasure in every copy of the read models (as-of copies, unfinished rebuilds)."""
    try:
        return await erase_in_copies(database_url, await copies_of_read_models(conn), ids, applied)
    except (OSError, asyncpg.PostgresError) as why:
        raise SetupError(
            f"cannot make the client anonymous in the copies of the read models ({why}); nothing was destroyed — "
            "run kim erase again"
        ) from None


async def _announce(
    conn: asyncpg.Connection,
    kafka: KafkaConnection,
    platform_key: SigningKey,
    topic_prefix: str,
    key_id: str,
    erasure_id: str,
    wait_seconds: float,
) -> tuple[list[str], list[str], dict[str, dict[str, int]], list[dict[str, object]], list[Applied]]:
    """Steps 1 and 2: find the client's cases and applications (once the finders are current), publish erasures."""
    try:
        lagging = await _caught_up(conn, kafka, topic_prefix, wait_seconds)
    except (KafkaError, OSError) as why:
        raise SetupError(f"cannot read the topics' end offsets from Kafka ({why}); nothing was erased") from None
    if lagging:  # a case in the unapplied events would be missed, and the key cannot be destroyed twice
        behind = ", ".join(f"{name} lacks {n} event(s)" for name, n in lagging.items())
        raise SetupError(
            f"the projections have not applied the whole log yet ({behind}), so some of the client's cases could "
            "be missed; nothing was erased — start their workers (kim up) or wait until kim status shows no lag"
        )
    cases, applications = await _ids(conn, key_id)
    rows = await count_rows(conn, {"cases": cases, "applications": applications})
    try:
        published, applied = await _publish(
            kafka, platform_key, topic_prefix, erasure_events(cases, applications, erasure_id)
        )
    except (KafkaError, OSError, DeliveryError) as why:
        raise SetupError(
            f"cannot publish the erasure events to Kafka ({why}); nothing was erased — run kim erase again"
        ) from None
    return cases, applications, rows, published, applied


# Where the client's cases and applications are found, and the topic each of those projections reads.
FINDERS = {"caseload": CASES, "backlog": IMMIGRATION}


async def _caught_up(conn: asyncpg.Connection, kafka: KafkaConnection, topic_prefix: str, wait_seconds: float) -> dict:
    """Wait (bounded) until the projections that find the client's ids have applied the log as it is now, so a
    case opened a moment ago is found too; returns the events each still lacks when the time is up (none: {})."""
    ends = await end_offsets(kafka, [topic_prefix + t for t in FINDERS.values()])
    deadline = time.monotonic() + wait_seconds
    while True:
        rows = await conn.fetch(
            "SELECT projection, topic, partition, next_offset FROM projection_checkpoints WHERE projection = ANY($1)",
            list(FINDERS),
        )
        done = {(r["projection"], r["topic"], r["partition"]): r["next_offset"] for r in rows}
        lag = {
            name: sum(
                max(0, end - done.get((name, topic, partition), 0))
                for (topic, partition), end in ends.items()
                if topic == topic_prefix + source
            )
            for name, source in FINDERS.items()
        }
        lag = {name: n for name, n in lag.items() if n}
        if not lag or time.monotonic() >= deadline:
            return lag
        await asyncio.sleep(0.5)


async def _publish(
    kafka: KafkaConnection, platform_key: SigningKey, topic_prefix: str, events: list[tuple[str, dict]]
) -> tuple[list[dict[str, object]], list[Applied]]:
    """The erasure events on the log: where each went, and each as a projection applies it."""
    if not events:
        return [], []
    codec = Codec()
    correlation = str(uuid.uuid4())
    outgoing = [encode(codec, kind, payload, topic_prefix, correlation) for kind, payload in events]
    async with Publisher(
        kafka, ERASING_AGENCY, signing_key=platform_key, topic_prefix=topic_prefix, codec=codec
    ) as publisher:
        results = await publisher.send(outgoing)
    where = [
        {"event_type": o.event_type, "topic": r.topic, "partition": r.partition, "offset": r.offset}
        for o, r in zip(outgoing, results, strict=True)
    ]
    applied = [
        Applied(LogRecord(r.topic, r.partition, r.offset, o.key, o.value), codec.decode(o.value))
        for o, r in zip(outgoing, results, strict=True)
    ]
    return where, applied


async def _wait_applied(
    conn: asyncpg.Connection, ids: dict[str, list[str]], wait_seconds: float
) -> tuple[list[str], list[str]]:
    """Which projections no longer hold the erased ids (and which still do when the time is up)."""
    deadline = time.monotonic() + wait_seconds
    while True:
        rows = await count_rows(conn, ids)
        pending = [p for p, tables in rows.items() if any(tables.values())]
        if not pending or time.monotonic() >= deadline:
            return [p for p in rows if p not in pending], pending
        await asyncio.sleep(0.5)


def render(receipt: Receipt | AlreadyErased) -> str:
    """The receipt as the operator reads it. Pure."""
    if isinstance(receipt, AlreadyErased):
        return (
            f"this client was already erased on {receipt.erased_at.isoformat(timespec='seconds')} "
            f"(erasure {receipt.erasure_id}); nothing to do — see kim audit --action {ACTION}"
        )
    lines = [
        f"erasure {receipt.erasure_id} by {receipt.actor} at {receipt.at.isoformat(timespec='seconds')}",
        f"  key {receipt.key_id} destroyed: the client's sealed pseudonym in the log can no longer be opened",
        (
            "  client_keys vacuumed: the deleted row leaves the table and its index (once no open transaction still "
            "sees it); its copies in WAL and backups are wrapped, and open with no key after `kim keys rotate`"
            if receipt.vacuum_problem is None
            else f"  client_keys not vacuumed ({receipt.vacuum_problem}); autovacuum will — run `kim keys rotate`"
        ),
        f"  key caches: every running gateway and worker was told to drop it as it was destroyed (NOTIFY {CHANNEL})",
        "  idempotency keys (gateway_idempotency): request bodies only as hashes keyed with the platform's pepper, "
        "unfinished records only sealed with the destroyed key; deleted after 24 h",
        "  dead letters (kim.dlq): the pseudonym only sealed with the destroyed key — a record carrying it in clear "
        "is never copied into a letter",
        f"  cases: {receipt.cases}, applications: {receipt.applications}",
    ]
    for projection, tables in receipt.rows.items():
        counted = ", ".join(f"{table} {n}" for table, n in tables.items())
        lines.append(f"  {projection}: rows made anonymous: {counted}")
    for schema, tables in receipt.copies.items():
        counted = ", ".join(f"{table} {n}" for table, n in tables.items())
        lines.append(f"  copy {schema}: rows made anonymous: {counted}")
    if not receipt.copies:
        lines.append("  copies of the read models (kim replay --list): none to look in")
    for event in receipt.events:
        lines.append(f"  published {event['event_type']} at {event['topic']}[{event['partition']}]@{event['offset']}")
    if receipt.pending:
        lines.append(
            f"  not yet applied by: {', '.join(receipt.pending)} (their workers apply it when they run; kim status)"
        )
    else:
        lines.append("  applied by every projection: no row carries the erased ids")
    lines.append(f"  receipt kept in the audit log: kim audit --action {ACTION}")
    return "\n".join(lines)
