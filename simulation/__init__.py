"""A synthetic Dortmund KIM partner network that produces realistic, internally consistent event histories.

    from simulation import SimulationConfig, simulate
    for event in simulate(SimulationConfig(years=1, scale=0.1, seed=7)):
        event.agency, event.draft   # the publishing agency and an EventDraft with occurred_at set

The model is in ``simulation/model/`` (its modules listed there), every parameter and its source in
``simulation/parameters.py``; ``simulation.jsonl`` writes and reads the events as JSON lines.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from itertools import islice

from simulation.engine import SimEvent
from simulation.model import DortmundModel
from simulation.parameters import SimulationConfig

__all__ = ["SimEvent", "SimulationConfig", "simulate", "simulate_list"]


def simulate(config: SimulationConfig) -> Iterator[SimEvent]:
    """The events of ``config``'s simulated years in ``occurred_at`` order; the same config, the same events."""
    yield from DortmundModel(config).run()


def simulate_list(config: SimulationConfig, limit: int | None = None) -> list[SimEvent]:
    """The first ``limit`` events (default: all) as a list.

    Faster than ``list(simulate(config))`` for big runs: Python's cyclic garbage collector would
    rescan every event already in the list again and again (a quarter of a million events made
    generation four times slower). It is paused while the list is built; the model breaks its own
    reference cycles, so memory stays what the events need.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        return list(islice(simulate(config), limit))
    finally:
        if enabled:
            gc.enable()
