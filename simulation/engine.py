"""A small discrete-event engine: processes are generators, the agenda is a heap keyed by (time, sequence).

A process yields the simulated time (``int`` seconds) at which it wants to continue, or ``None``
to sleep until another process wakes it (``wake``). Events a process emits are stamped with the
current time; since the agenda is processed in time order, events come out in ``occurred_at``
order, and ties keep the order in which they were emitted (the sequence number breaks ties, so
the result does not depend on anything but the seed).
"""

from __future__ import annotations

import heapq
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from simulation.calendar import Calendar
from streams.sdk.publisher import EventDraft

Process = Generator[int | None, None, Any]


@dataclass(frozen=True, slots=True)
class SimEvent:
    """One simulated event and the agency that publishes it (its source agency)."""

    agency: str
    draft: EventDraft  # draft.occurred_at is set


class Engine:
    def __init__(self, calendar: Calendar) -> None:
        self.calendar = calendar
        self.now = 0
        self.current: Process | None = None
        self._agenda: list[tuple[int, int, Process]] = []
        self._seq = 0
        self._out: list[SimEvent] = []
        self._stamp_t = -1
        self._stamp: datetime | None = None

    def spawn(self, process: Process, at: int | None = None) -> None:
        """Start ``process`` at ``at`` (default: now)."""
        self._push(self.now if at is None else at, process)

    def wake(self, process: Process, at: int | None = None) -> None:
        """Continue a sleeping process at ``at`` (default: now)."""
        self._push(self.now if at is None else at, process)

    def _push(self, at: int, process: Process) -> None:
        if at < self.now:
            raise ValueError(f"cannot schedule at {at}, before now ({self.now})")
        heapq.heappush(self._agenda, (at, self._seq, process))
        self._seq += 1

    def emit(self, agency: str, event_type: str, payload: dict[str, Any]) -> None:
        if self._stamp_t != self.now:
            self._stamp_t = self.now
            self._stamp = self.calendar.utc(self.now)
        self._out.append(SimEvent(agency, EventDraft(event_type, payload, occurred_at=self._stamp)))

    def run(self) -> Iterator[SimEvent]:
        """Process the agenda until the calendar's end; yield the events in time order."""
        agenda, out, end = self._agenda, self._out, self.calendar.end
        pop, push = heapq.heappop, heapq.heappush
        while agenda:
            at, _, process = pop(agenda)
            if at >= end:
                break
            self.now = at
            self.current = process
            try:
                then = process.send(None)
            except StopIteration:
                then = None
            if then is not None:
                if then < at:
                    raise ValueError(f"a process asked to continue at {then}, before now ({at})")
                push(agenda, (then, self._seq, process))
                self._seq += 1
            if out:
                yield from out
                out.clear()
        self._agenda.clear()
