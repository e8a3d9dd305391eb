"""A progress line on stderr for work that takes more than a moment: totals, events/s, ETA.

On a terminal the line rewrites itself; in a log (not a TTY) a new line is written every few
seconds instead, so logs stay readable. Nothing is shown for work that ends within ``delay``.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO


class ProgressLine:
    def __init__(self, total: int, out: TextIO = sys.stderr, delay: float = 1.0, every: float | None = None) -> None:
        self.total = total
        self.out = out
        self.delay = delay
        self.tty = out.isatty()
        self.every = every if every is not None else (0.5 if self.tty else 5.0)
        self.started = time.monotonic()
        self._shown_at: float | None = None

    def update(self, done: int, detail: str = "") -> None:
        """``done`` of ``total`` units are through; ``detail`` is appended (e.g. accepted/rejected counts)."""
        now = time.monotonic()
        elapsed = now - self.started
        if elapsed < self.delay or (self._shown_at is not None and now - self._shown_at < self.every):
            return
        self._shown_at = now
        rate = done / elapsed if elapsed > 0 else 0.0
        eta = f"ETA {(self.total - done) / rate:,.0f} s" if rate > 0 and done < self.total else "ETA -"
        share = f" ({100 * done / self.total:.0f}%)" if self.total else ""
        line = f"{done:,}/{self.total:,} lines{share}{detail}, {rate:,.0f} events/s, {eta}"
        self.out.write(f"\r{line}\x1b[K" if self.tty else line + "\n")
        self.out.flush()

    def finish(self) -> None:
        """End the rewritten line so what follows starts on a fresh one."""
        if self.tty and self._shown_at is not None:
            self.out.write("\r\x1b[K")
            self.out.flush()
