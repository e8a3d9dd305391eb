"""What a projection is, as the runtime, the rebuilds and the registry see it: one interface in its own module.

Kept apart from any implementation so that the runtime (``streams.runtime``) and the projections import it
from below, never each other.
"""

from __future__ import annotations

from typing import Protocol

import asyncpg

from projections.records import Applied, Rejection


class Projection(Protocol):
    """One read model: which records it reads, which tables it writes, and how a batch changes them."""

    name: str  # the registry key; also names its checkpoints, its consumer group and its metrics
    source_topics: tuple[str, ...]  # catalog topic names, without a deployment's prefix
    event_types: frozenset[str] | None  # the types its fold reads; None: every type
    tables: tuple[str, ...]  # every table ``apply`` writes (`kim replay` copies, compares and swaps these)

    async def apply(self, conn: asyncpg.Connection, batch: list[Applied]) -> list[Rejection]:
        """Fold the batch into the tables inside the caller's transaction; return what it could not apply."""
        ...
