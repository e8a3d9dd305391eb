"""A progress line for long operations (replay, bulk publish, uploads): done/total, rate, ETA.

On a terminal the line rewrites itself; in a log (not a TTY) a plain line is written every few
seconds instead, so logs stay readable. Nothing is shown for work that ends within ``delay``.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO


class Progress:
    def __init__(
        self,
        total: int,
        label: str,
        out: TextIO = sys.stderr,
        every: float | None = None,
        delay: float = 0.0,
        unit: str = "events",
    ) -> None:
        self.total = total
        self.label = label
        self.out = out
        self.tty = out.isatty()
        self.every = every if every is not None else (0.5 if self.tty else 5.0)
        self.delay = delay
        self.unit = unit
        self.done = 0
        self.detail = ""
        self.started = time.monotonic()
        self._shown: float | None = None

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.started

    @property
    def rate(self) -> float:
        return self.done / self.elapsed if self.elapsed > 0 else 0.0

    def line(self) -> str:
        rate = self.rate
        left = max(self.total - self.done, 0)
        eta = f"ETA {left / rate:,.0f} s" if rate > 0 and left else "ETA -"
        share = f" ({100 * self.done / self.total:.0f}%)" if self.total else ""
        return f"{self.label}: {self.done:,}/{self.total:,} {self.unit}{share}{self.detail}, {rate:,.0f}/s, {eta}"

    def advance(self, n: int) -> None:
        self.update(self.done + n)

    def update(self, done: int, detail: str = "") -> None:
        """``done`` of ``total`` units are through; ``detail`` is appended (e.g. accepted/rejected counts)."""
        self.done, self.detail = done, detail
        now = time.monotonic()
        if now - self.started < self.delay or (self._shown is not None and now - self._shown < self.every):
            return
        self._shown = now
        self.out.write(f"\r{self.line()}\x1b[K" if self.tty else self.line() + "\n")
        self.out.flush()

    def finish(self, summary: bool = True) -> str:
        """End the line; with ``summary``, print the totals and the overall rate."""
        text = f"{self.label}: {self.done:,} {self.unit} in {self.elapsed:.1f} s ({self.rate:,.0f}/s)"
        if self.tty and self._shown is not None:
            self.out.write("\r\x1b[K")
        if summary:
            self.out.write(text + "\n")
        self.out.flush()
        return text
