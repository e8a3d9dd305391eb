"""The model's wiring: the parts share one context, the arrivals of clients and applications start the processes
(a Poisson stream each, thinned by season), and the engine runs them in time order."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from math import cos, pi

import simulation.parameters as P
from simulation.calendar import DAY
from simulation.engine import Process, SimEvent
from simulation.model.caseload import Caseload
from simulation.model.cases import Cases
from simulation.model.consent import Consents
from simulation.model.context import Context
from simulation.model.offices import Offices
from simulation.model.referrals import Referrals
from simulation.parameters import SimulationConfig


class DortmundModel:
    """The Dortmund KIM network for one config; ``run()`` yields its events in ``occurred_at`` order."""

    def __init__(self, config: SimulationConfig) -> None:
        self.config = c = config
        self.ctx = ctx = Context(config)
        doy = ctx.cal.day_of_year
        self.case_season = [1 + c.case_seasonal_amplitude * cos(2 * pi * (d - 285) / 365.25) for d in doy]
        self.office_season = [
            1 + c.immigration_seasonal_amplitude * cos(2 * pi * (d - c.immigration_peak_day) / 365.25) for d in doy
        ]
        self.caseload = Caseload(ctx)
        self.consents = Consents(ctx, self.caseload)
        self.offices = Offices(ctx)
        self.referrals = Referrals(ctx, self.caseload, self.consents, self.offices)
        self.cases = Cases(ctx, self.caseload, self.consents, self.referrals)

    def run(self) -> Iterator[SimEvent]:
        """Start the arrivals and the offices' working days; the events as the engine produces them."""
        c, engine = self.config, self.ctx.engine
        clients = c.case_inflow_per_year * c.scale
        engine.spawn(self._arrivals(clients, c.case_seasonal_amplitude, self.case_season, self.cases.new_case))
        applications = sum(P.APPLICATIONS_PER_YEAR.values()) * c.immigration_scale * c.scale
        arrive = self.offices.new_application
        engine.spawn(self._arrivals(applications, c.immigration_seasonal_amplitude, self.office_season, arrive))
        self.offices.open()
        return engine.run()

    def _arrivals(
        self, per_year: float, amplitude: float, season: list[float], arrive: Callable[[int], bool]
    ) -> Process:
        """A Poisson stream with a seasonal rate (thinning): ``arrive(t)`` at each arrival, until it returns False."""
        if per_year <= 0:
            return
        rng, end = self.ctx.rng, self.ctx.cal.end
        peak = 1 + amplitude
        rate = per_year * peak / (365.2425 * DAY)
        t = 0.0
        while True:
            t += rng.expovariate(rate)
            if t >= end:
                return
            yield int(t)
            if rng.random() * peak < season[int(t) // DAY] and not arrive(int(t)):
                return
