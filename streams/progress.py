"""A one-line progress report for long operations: done/total, rate, ETA."""

from __future__ import annotations

import sys
import time
from typing import TextIO


class Progress:
    def __init__(self, total: int, label: str, out: TextIO = sys.stderr, every: float = 0.5) -> None:
        self.total = total
        self.label = label
        self.out = out
        self.every = every
        self.done = 0
        self.started = time.monotonic()
        self._shown = 0.0

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.started

    @property
    def rate(self) -> float:
        return self.done / self.elapsed if self.elapsed > 0 else 0.0

    def line(self) -> str:
        rate = self.rate
        left = max(self.total - self.done, 0)
        eta = f"{left / rate:.0f} s" if rate > 0 else "?"
        share = f" ({100 * self.done / self.total:.0f}%)" if self.total else ""
        return f"{self.label}: {self.done:,}/{self.total:,}{share}  {rate:,.0f}/s  ETA {eta}"

    def advance(self, n: int) -> None:
        self.done += n
        now = time.monotonic()
        if now - self._shown >= self.every:
            self._shown = now
            self.out.write("\r" + self.line() + "  ")
            self.out.flush()

    def finish(self) -> str:
        summary = f"{self.label}: {self.done:,} in {self.elapsed:.1f} s ({self.rate:,.0f}/s)"
        self.out.write("\r" + summary + " " * 20 + "\n")
        self.out.flush()
        return summary
