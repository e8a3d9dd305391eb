"""The edge of ``authenticity.py``: read the signing keys and the cutoffs in the sink transaction.

``signing_keys`` is written by `kim agency add` (and ``retired_at`` by `kim agency remove`); ``signing_cutoffs``
by `kim up` (records below these offsets were written before signing existed), ``append_time_cutoffs`` too
(records below these offsets were written before the topics stamped append times). The platform's own key is not
in the database: it is derived from the platform's Kafka login and passed in
(``infra.platform_identity.signing_secret``).
"""

from __future__ import annotations

from typing import NamedTuple

import asyncpg

from projections.records import Applied, Rejection, TopicPartition
from schemas.signing import PLATFORM_SIGNER
from streams.runtime.authenticity import Keys, SignerKey, Verified, screened


class KeyTable(NamedTuple):
    keys: Keys
    cutoffs: dict[TopicPartition, int]  # signing_cutoffs
    appended_from: dict[TopicPartition, int]  # append_time_cutoffs


async def load(conn: asyncpg.Connection, platform_secret: bytes | None) -> KeyTable:
    """The agencies' signing keys and the platform's (``platform_secret``; None on a cluster without one)."""
    keys: Keys = {
        r["key_id"]: SignerKey(r["agency"], bytes(r["secret"]), r["retired_at"])
        for r in await conn.fetch("SELECT key_id, agency, secret, retired_at FROM signing_keys")
    }
    if platform_secret is not None:
        keys[PLATFORM_SIGNER] = SignerKey(None, platform_secret)
    cutoffs = {
        (r["topic"], r["partition"]): r["from_offset"]
        for r in await conn.fetch("SELECT topic, partition, from_offset FROM signing_cutoffs")
    }
    appended_from = {
        (r["topic"], r["partition"]): r["from_offset"]
        for r in await conn.fetch("SELECT topic, partition, from_offset FROM append_time_cutoffs")
    }
    return KeyTable(keys, cutoffs, appended_from)


async def screen(
    conn: asyncpg.Connection, decoded: list[Applied], platform_secret: bytes | None, verified: Verified | None = None
) -> tuple[list[Applied], list[Rejection]]:
    """The events whose signer may speak for their source agency, and dead letters for the others.

    The keys are read in the caller's transaction; ``verified`` (see ``Verified``) saves checking a signature twice.
    """
    if not decoded:
        return decoded, []
    table = await load(conn, platform_secret)
    return screened(decoded, table.keys, table.cutoffs, verified, table.appended_from)
