"""One sink transaction: drop what the checkpoint has seen, screen signatures, fold, write rows, dead-letter and
move the checkpoints, all or nothing. The edge of ``batch.py`` (which decided what each record is).
"""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg

from projections import checkpoints
from projections.projection import Projection
from projections.records import Applied, LogRecord, Rejection
from schemas import Codec
from streams.runtime import authenticity_io
from streams.runtime.batch import OnRejected, Prepared, fresh_positions, latest_applied, prepare


async def apply_batch(
    conn: asyncpg.Connection,
    projection: Projection,
    records: Sequence[LogRecord],
    codec: Codec,
    on_rejected: OnRejected,
    *,
    platform_secret: bytes | None,
) -> int:
    """Apply one batch exactly once; return how many records were new.

    ``on_rejected`` runs inside the transaction (it dead-letters); if it fails, nothing commits
    and the batch is retried. ``platform_secret``: the platform's record-signing key (None: it has none).
    """
    prepared = prepare(projection, records, codec)
    return await apply_prepared(conn, projection, prepared, on_rejected, platform_secret=platform_secret)


async def apply_prepared(
    conn: asyncpg.Connection,
    projection: Projection,
    prepared: Prepared,
    on_rejected: OnRejected,
    *,
    platform_secret: bytes | None,
) -> int:
    """The transaction of ``apply_batch`` for a batch ``prepare`` has decoded."""
    records = prepared.records
    async with conn.transaction():
        await checkpoints.lock_partitions(conn, projection.name, {(r.topic, r.partition) for r in records})
        fresh, positions = fresh_positions(records, await checkpoints.load(conn, projection.name))
        if not fresh:
            return 0
        decoded: list[Applied] = []
        rejected: list[Rejection] = []
        for i in fresh:
            item = prepared.events[i]
            if item is None:
                continue
            if isinstance(item, Rejection):
                rejected.append(item)
                continue
            decoded.append(item)
        # who signed it may speak for its agency
        decoded, forged = await authenticity_io.screen(conn, decoded, platform_secret, prepared.verified)
        rejected.extend(forged)
        refused = await projection.apply(conn, decoded) if decoded else []
        rejected.extend(refused)
        latest = latest_applied(decoded, refused)
        if rejected:
            rejected.sort(key=lambda r: (r.record.topic, r.record.partition, r.record.offset))
            await on_rejected(rejected)
        await checkpoints.save(conn, projection.name, positions, latest)
        return len(fresh)
