"""Where a shared read of several projections' topics starts and stops, and what each projection takes of it: pure.

``catch_up_many`` reads each partition once for all projections reading it. Each projection has its own
checkpoints and its own bound per partition (the end offsets, or for ``kim replay all`` its live checkpoints),
so the read of a partition starts at the lowest checkpoint among the projections still short of their bound
there and stops at the highest such bound. A projection whose bound is lower than where the read stops takes
only the records below its bound (``trim``): a rebuild's copy never runs ahead of the live projection it chases.
"""

from __future__ import annotations

from collections.abc import Mapping

from projections.records import TopicPartition
from streams.runtime.batch import Prepared

Offsets = Mapping[TopicPartition, int]


def plan(bounds: Mapping[str, Offsets], seen: Mapping[str, Offsets]) -> dict[TopicPartition, tuple[int, int]]:
    """Per partition to read, ``(start, end)``: from the lowest checkpoint of the projections short of their bound
    there, to the highest of their bounds. ``bounds``: per projection, where it stops per partition it reads;
    ``seen``: per projection, its checkpoints (a partition missing: nothing applied yet). Partitions every reader
    has reached are left out."""
    short: dict[TopicPartition, list[tuple[int, int]]] = {}
    for name, bound in bounds.items():
        mine = seen.get(name, {})
        for tp, end in bound.items():
            start = mine.get(tp, 0)
            if start < end:
                short.setdefault(tp, []).append((start, end))
    return {tp: (min(s for s, _ in spans), max(e for _, e in spans)) for tp, spans in short.items()}


def limits(
    bounds: Mapping[str, Offsets], reads: Mapping[str, set[TopicPartition]], ends: Offsets
) -> dict[str, Offsets]:
    """The bounds of the projections that must not take everything the read fetches: those reading a partition
    (``reads``: per projection, the read partitions of its topics) that the read takes past their own bound."""
    return {
        name: bound
        for name, bound in bounds.items()
        if any(ends[tp] > bound.get(tp, 0) for tp in reads.get(name, ()) if tp in ends)
    }


def trim(prepared: Prepared, limit: Offsets) -> Prepared:
    """Only the records below the projection's bound on their partition (a partition without one: none)."""
    keep = [i for i, r in enumerate(prepared.records) if r.offset < limit.get((r.topic, r.partition), 0)]
    if len(keep) == len(prepared.records):
        return prepared
    return Prepared([prepared.records[i] for i in keep], [prepared.events[i] for i in keep], prepared.verified)
