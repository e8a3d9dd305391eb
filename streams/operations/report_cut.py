"""`kim report`'s cut: the event topics' end offsets, and the read models folded up to exactly there.

A report is reproducible because it is computed at a recorded cut of the log, not from the live tables (which
keep moving, also by late events dated inside a finished period). ``folded`` makes a temporary copy schema of the
``outcomes`` and ``backlog`` projections with the copy machinery of `kim replay` (``projections/copies.py``),
folds the log up to the cut into it through the very same sinks (``catch_up_many`` with ``targets``), yields its
name to the caller, who reads it with ``search_path = <copy>, public``, and drops it at the end, also on error.
Rejections are kept in the copy (the live projections dead-lettered them already).
"""

from __future__ import annotations

import contextlib
import secrets
import sys
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import TextIO

import asyncpg

from projections import copies
from projections.projection import Projection
from projections.records import Rejection
from projections.registry import PROJECTIONS
from schemas.errors import KimError
from streams.kafka.connection import KafkaConnection
from streams.kafka.topics import end_offsets
from streams.runtime.batch import OnRejected
from streams.runtime.bulk import catch_up_many
from streams.runtime.progress import Progress

SOURCES = ("outcomes", "backlog")  # the read models the indicator functions count
Offsets = dict[str, dict[int, int]]  # topic (without the prefix) -> partition -> end offset


class CutRefused(KimError):
    """The cut cannot be taken or folded; the message says what is wrong and what to do."""


@dataclass
class Folded:
    schema: str  # the copy: read it with search_path = <schema>, public
    applied: int = 0  # records folded into it
    rejected: int = 0  # of them, rejected by a projection (as the live one did)


def projections() -> list[Projection]:
    return [PROJECTIONS[name] for name in SOURCES]


def topics() -> list[str]:
    """The event topics the report reads, without the topic prefix."""
    return sorted({t for p in projections() for t in p.source_topics})


async def log_ends(kafka: KafkaConnection, topic_prefix: str) -> Offsets:
    """The end offsets now: the cut of a new report."""
    names = topics()
    found = await end_offsets(kafka, [topic_prefix + t for t in names])
    ends: Offsets = {t: {} for t in names}
    for (topic, partition), offset in found.items():
        ends[topic.removeprefix(topic_prefix)][partition] = offset
    missing = [topic_prefix + t for t, parts in ends.items() if not parts]
    if missing:
        raise CutRefused(f"topic(s) {', '.join(missing)} do not exist at {kafka.bootstrap}; run `kim up`")
    return ends


def check(cut: Mapping[str, Mapping[int, int]], ends: Offsets, source: str) -> Offsets:
    """The recorded cut against the log as it is now: every offset must lie within the log (a partition the cut
    does not name held nothing then: 0)."""
    unknown = sorted(set(cut) - set(ends))
    if unknown:
        raise CutRefused(f"{source} names topic(s) {', '.join(unknown)}; a report's cut has {', '.join(ends)}")
    full: Offsets = {}
    for topic, parts in ends.items():
        recorded = cut.get(topic, {})
        for partition, offset in sorted(recorded.items()):
            if partition not in parts:
                raise CutRefused(
                    f"{source} names partition {partition} of {topic}, which has partitions 0 to {max(parts)}: "
                    "the report comes from another installation (or KIM_TOPIC_PREFIX)"
                )
            if offset > parts[partition]:
                raise CutRefused(
                    f"{source}: offset {offset} of {topic} partition {partition} lies beyond the log's end "
                    f"({parts[partition]}); the report comes from another installation (or KIM_TOPIC_PREFIX) — "
                    "run it where it was made, or without --cut"
                )
        full[topic] = {p: recorded.get(p, 0) for p in sorted(parts)}
    return full


async def connect(database_url: str) -> asyncpg.Connection:
    try:
        return await asyncpg.connect(database_url, timeout=10)
    except (TimeoutError, OSError) as why:
        raise CutRefused(f"cannot reach the database ({why}); start it with `kim up`") from None


@contextlib.asynccontextmanager
async def folded(
    kafka: KafkaConnection,
    database_url: str,
    cut: Offsets,
    *,
    topic_prefix: str,
    platform_secret: bytes | None,
    out: TextIO = sys.stderr,
) -> AsyncIterator[Folded]:
    """A temporary copy of the read models folded to ``cut``; dropped when the block ends, however it ends."""
    schema = f"report_{secrets.token_hex(6)}"
    tables = [t for p in projections() for t in copies.tables_of(p)]
    control = await connect(database_url)
    try:
        try:
            await copies.create(control, schema, tables, as_of=True)
        except (asyncpg.UndefinedTableError, asyncpg.UndefinedFunctionError) as why:
            missing = f"the database lacks the read models' tables ({why}); apply the migrations with `kim up`"
            raise CutRefused(missing) from None
        try:
            targets = {(topic_prefix + t, p): o for t, parts in cut.items() for p, o in parts.items()}
            progress = _Quiet(sum(targets.values()), f"report: folding the log up to the cut into {schema}", out)
            result = await catch_up_many(
                projections(),
                kafka,
                database_url,
                platform_secret=platform_secret,
                topic_prefix=topic_prefix,
                progress=progress,
                targets=targets,
                search_path=f"{schema}, public",
                on_rejected=_kept,
            )
            rejected = await control.fetchval(f"SELECT count(*) FROM {schema}.rejections")
            yield Folded(schema, result.read, rejected)
        finally:
            await copies.drop(control, schema)
    finally:
        await control.close()


class _Quiet(Progress):
    """Progress on stderr (rate, ETA, totals) only for a fold that takes more than a second."""

    def __init__(self, total: int, label: str, out: TextIO) -> None:
        super().__init__(total, label, out=out, delay=1.0, unit="records")

    def finish(self, summary: bool = True) -> str:
        return super().finish(summary and self.elapsed >= self.delay)


def _kept(conn: asyncpg.Connection) -> OnRejected:
    async def keep(rejections: list[Rejection]) -> None:
        await copies.record_rejections(conn, rejections)

    return keep
