"""Whether a service the worker needs (Kafka, PostgreSQL) is reachable, told in a few log lines: pure.

During an outage the clients retry many times a second and each retry used to log a line. ``Outage`` turns the
stream of failures and successes into state changes instead: one line when the service goes down (what, since
when, why), one "still down for N s" line every ``STILL_DOWN_EVERY`` seconds while it stays down, and one line
when it is back. It is given the clock with every event, so a test replays any sequence without waiting;
``outage_log.py`` feeds it from the worker's log records and the record loop.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

STILL_DOWN_EVERY = 30.0  # seconds between "still down" lines


@dataclass(frozen=True)
class Line:
    """One log line to write: its level and text."""

    level: int
    text: str


class Outage:
    """One service's reachability: ``failed`` / ``succeeded`` / ``tick`` return the lines to log (mostly none)."""

    def __init__(self, service: str, every: float = STILL_DOWN_EVERY) -> None:
        if every <= 0:
            raise ValueError("every must be positive")
        self.service = service
        self.every = every
        self.since: float | None = None  # monotonic time of the first failure; None while reachable
        self.errors = 0  # failures seen since it went down
        self.last_reason = ""
        self._next_line = 0.0

    @property
    def down(self) -> bool:
        return self.since is not None

    def failed(self, now: float, wall: datetime, reason: str) -> list[Line]:
        """A connection to the service failed at ``now`` (monotonic seconds; ``wall`` the same moment)."""
        self.last_reason = reason
        if self.since is None:
            self.since, self.errors, self._next_line = now, 1, now + self.every
            text = (
                f"{self.service} unreachable since {wall:%Y-%m-%d %H:%M:%S} ({reason}); "
                f"retrying, a line every {self.every:.0f} s until it is back"
            )
            return [Line(logging.ERROR, text)]
        self.errors += 1
        return self.tick(now)

    def tick(self, now: float) -> list[Line]:
        """The clock moved on: a "still down" line once every ``every`` seconds of the outage."""
        if self.since is None or now < self._next_line:
            return []
        lasted = (now - self.since) // self.every * self.every  # 30, 60, … even when a tick came late
        self._next_line = self.since + lasted + self.every
        text = f"{self.service} still down for {lasted:.0f} s ({self.errors} failed attempts; last: {self.last_reason})"
        return [Line(logging.ERROR, text)]

    def succeeded(self, now: float) -> list[Line]:
        """The service answered at ``now``."""
        if self.since is None:
            return []
        lasted, self.since, self.errors = now - self.since, None, 0
        return [Line(logging.WARNING, f"{self.service} back after {max(lasted, 0.0):.0f} s")]
