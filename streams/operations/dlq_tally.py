"""The dead-letter tally: letters per projection in the DLQ, kept per partition so that each count
continues where the last one stopped (pure; stored by ``streams/operations/dlq_tally_io.py``).

A partition's tally covers the offsets ``[from_offset, next_offset)`` of its log: ``from_offset`` is the
log start offset when the counting began, ``next_offset`` the first offset not counted yet. When the log
start has moved past ``from_offset`` (retention deleted letters that were counted) or the log ends before
``next_offset`` (the topic was recreated), the partition is counted again from its current start: the
tally then holds exactly the letters still in the log, as a full read would.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True)
class PartitionTally:
    from_offset: int
    next_offset: int
    letters: Mapping[str, int] = field(default_factory=dict)  # per projection (header kim.projection; "" if none)


Tally = Mapping[int, PartitionTally]  # partition -> its tally


def restarts(stored: Tally, starts: Mapping[int, int], ends: Mapping[int, int]) -> set[int]:
    """Partitions the topic has whose stored tally no longer describes the log (see the module doc)."""
    return {
        p
        for p, tally in stored.items()
        if p in starts and (starts[p] > tally.from_offset or ends[p] < tally.next_offset)
    }


def plan(stored: Tally, starts: Mapping[int, int], ends: Mapping[int, int]) -> dict[int, PartitionTally]:
    """The tally to continue from, for the partitions the topic has now (``starts``: their log start offsets).

    A stored partition is kept; a restarted or new one begins empty at its log start; a stored partition
    the topic no longer has is left out.
    """
    again = restarts(stored, starts, ends)
    return {
        p: stored[p] if p in stored and p not in again else PartitionTally(start, start) for p, start in starts.items()
    }


def add(tally: PartitionTally, letters: Iterable[tuple[int, str]], position: int, end: int) -> PartitionTally:
    """``tally`` with the letters ``(offset, projection)`` read from its partition counted, up to ``end``.

    Offsets below ``next_offset`` were counted before and offsets from ``end`` on are left for the next
    count; ``position`` (where the reader stands after them) steps over offsets that hold no record.
    """
    counts = Counter(tally.letters)
    last = tally.next_offset
    for offset, projection in letters:
        if tally.next_offset <= offset < end:
            counts[projection] += 1
            last = max(last, offset + 1)
    return PartitionTally(tally.from_offset, max(last, min(position, end)), dict(counts))


def totals(tally: Tally) -> Counter[str]:
    """Letters per projection over all partitions."""
    out: Counter[str] = Counter()
    for part in tally.values():
        out.update(part.letters)
    return out


def done(tally: Tally, ends: Mapping[int, int]) -> bool:
    """Whether every partition is counted up to ``ends``."""
    return all(part.next_offset >= ends[p] for p, part in tally.items())
