"""CPU seconds of the record loop's pure stages, timed where they run (the benchmark's accounting).

``StageClock.install()`` wraps, in the running process, the functions every path calls once per batch: decode +
judge (``batch.prepare`` / ``prepare_many`` as the record loop imported them), the signature screen, each
projection's fold and the clocked garbage collection. They are synchronous, so nothing else runs inside them and
``time.process_time`` around each call is that stage's own CPU; two clock reads per batch cost nothing measurable.
Whatever the process spends besides is the edges: fetching (aiokafka, or faust on the live path) and the database.
"""

from __future__ import annotations

import importlib
import time
from collections import defaultdict
from collections.abc import Callable
from typing import Any

from projections.registry import PROJECTIONS

DECODE_JUDGE = "decode + judge"
SCREEN = "signature screen"
GC = "garbage collection"
WRITE_EVERY_S = 0.5  # how often an accounted worker (benchmarks.accounted_worker) writes its figures


class StageClock:
    """CPU seconds and calls per stage, from wrapping synchronous functions."""

    def __init__(self) -> None:
        self.cpu_s: dict[str, float] = defaultdict(float)
        self.calls: dict[str, int] = defaultdict(int)

    def timed(self, stage: str, function: Callable[..., Any]) -> Callable[..., Any]:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            started = time.process_time()
            try:
                return function(*args, **kwargs)
            finally:
                self.cpu_s[stage] += time.process_time() - started
                self.calls[stage] += 1

        return wrapper

    def wrap(self, stage: str, module: str, name: str) -> None:
        """Time ``module.name`` as ``stage`` where it is called from (the name the caller imported)."""
        owner = importlib.import_module(module)
        setattr(owner, name, self.timed(stage, getattr(owner, name)))

    def install(self) -> StageClock:
        """Time the record loop's stages in this process (before it runs)."""
        self.wrap(DECODE_JUDGE, "streams.runtime.loop", "prepare")
        self.wrap(DECODE_JUDGE, "streams.runtime.loop", "prepare_many")
        self.wrap(SCREEN, "streams.runtime.authenticity_io", "screened")
        for name in PROJECTIONS:
            self.wrap(f"fold {name}", f"projections.{name}.sink", "fold")
        collector = importlib.import_module("streams.runtime.collector").ClockedCollection
        collector.tick = self.timed(GC, collector.tick)
        return self

    def snapshot(self) -> dict[str, float]:
        return dict(self.cpu_s)
