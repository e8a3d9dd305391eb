"""What every part of the model shares: the config, the seed's one random stream, the calendar, the engine,
and the small draws from them — a categorical choice, a duration, an office-hours moment, an id.

Everything random comes from ``Context.rng``, one ``random.Random(seed)``; ids are counters plus a tag
drawn from it; times come from the simulated calendar. So the same config gives the same events.
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from datetime import date
from typing import Any

import simulation.parameters as P
from simulation.calendar import DAY, Calendar
from simulation.engine import Engine
from simulation.parameters import SimulationConfig


def ordered(items: Iterable[str], order: tuple[str, ...]) -> list[str]:
    """The distinct ``items`` in the order of ``order`` (items not in it are left out)."""
    present = set(items)
    return [x for x in order if x in present]


class Weighted:
    """A fixed categorical distribution, sampled with one ``random()`` and a bisect."""

    def __init__(self, weights: dict[Any, float]) -> None:
        self.keys = list(weights)
        total = 0.0
        self.cum: list[float] = []
        for w in weights.values():
            total += w
            self.cum.append(total)
        self.total = total

    def __call__(self, rng: random.Random) -> Any:
        return rng.choices(self.keys, cum_weights=self.cum)[0]


def file_tag(bits: int) -> str:
    """The run's tag in every file number: six hex digits, the last one a digit when all six would be letters.

    An id part of three or more letters reads as a word, and the catalog's id rule refuses it (names must not
    hide in ids); one tag in ~360 (``ABCDEF``, …) made every id of its run invalid and the run's first event
    was refused. Changing only those tags leaves every other seed's history as it was.
    """
    tag = f"{bits:06X}"
    return tag[:-1] + str(bits % 10) if tag.isalpha() else tag


class Context:
    """One run's config, random stream, calendar and engine, and the draws every process makes."""

    def __init__(self, config: SimulationConfig) -> None:
        self.config = config
        self.rng = rng = random.Random(config.seed)
        self.cal = Calendar(config.start, config.days)
        self.engine = Engine(self.cal)
        self.tag = file_tag(rng.getrandbits(24))
        self._counters: dict[tuple[str, int], int] = {}

    def next_number(self, prefix: str) -> str:
        """The next file number of ``prefix`` this year: ``prefix-year-tag-000001``."""
        year = self.cal.date_of(self.engine.now).year
        n = self._counters.get((prefix, year), 0) + 1
        self._counters[(prefix, year)] = n
        return f"{prefix}-{year}-{self.tag}-{n:06d}"

    def pseudonym(self) -> str:
        return f"P-{self.rng.getrandbits(48):012x}"

    def days(self, lo: float, hi: float) -> int:
        """A duration of ``lo`` to ``hi`` days, in seconds."""
        return int(self.rng.uniform(lo, hi) * DAY)

    def office_in(self, lo: float, hi: float) -> int:
        """An office-hours moment ``lo`` to ``hi`` days from now."""
        return self.cal.office(self.engine.now + self.days(lo, hi), self.rng)

    def office_after(self, step: str) -> int:
        """An office-hours moment after the duration of ``step`` (``parameters.DAYS``)."""
        return self.office_in(*P.DAYS[step])

    def chance(self, share: str) -> bool:
        """True with the probability ``parameters.SHARES[share]``."""
        return self.rng.random() < P.SHARES[share]

    def today(self) -> date:
        return self.cal.date_of(self.engine.now)
