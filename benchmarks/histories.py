"""The simulated histories every benchmark publishes: kim.cases events, and the kim.immigration events beside them."""

from __future__ import annotations

from collections.abc import Iterator

from simulation import SimEvent, SimulationConfig, simulate, simulate_list

CASE_EVENTS_PER_YEAR = 33_000  # kim.cases events in a simulated year of all of Dortmund (scale 1.0)
IMMIGRATION_SCALE = 0.12  # of the immigration offices' volume: about one kim.immigration event per 2 case events
IMMIGRATION_SHARE = 0.42  # kim.immigration events per case event at that scale (seen: 55,000 per 133,500)


def case_events(count: int, seed: int) -> list:
    """Exactly ``count`` kim.cases events from the simulator, in event-time order (every case's history in order).

    The suite measures the caseload path, which reads kim.cases: so a year of Dortmund's case management
    (``immigration_scale=0``: only the applications of KIM clients, which are left out here), scaled up until
    the year holds ``count`` case events.
    """
    scale = max(0.01, 1.25 * count / CASE_EVENTS_PER_YEAR)
    while True:
        config = SimulationConfig(years=1.0, seed=seed, scale=scale, immigration_scale=0.0)
        events = [e for e in simulate_list(config) if "application_id" not in e.draft.payload][:count]
        if len(events) == count:
            return events
        scale *= 2


def history(count: int, seed: int) -> tuple[list, list]:
    """``count`` kim.cases events as ``case_events`` gives them, and the kim.immigration events of the same year.

    The immigration offices run at ``IMMIGRATION_SCALE`` of their volume so the backlog rows and the
    rebuild have applications to read without doubling the run's length.
    """
    scale = max(0.01, 1.25 * count / CASE_EVENTS_PER_YEAR)
    while True:
        config = SimulationConfig(years=1.0, seed=seed, scale=scale, immigration_scale=IMMIGRATION_SCALE)
        events = simulate_list(config)
        cases = [e for e in events if "application_id" not in e.draft.payload][:count]
        if len(cases) == count:
            return cases, [e for e in events if "application_id" in e.draft.payload]
        scale *= 2


def streamed_history(count: int, seed: int) -> Iterator[SimEvent]:
    """Both topics' events in ``occurred_at`` order, generated as they are consumed, until ``count`` case events.

    For histories too long to hold in memory (millions of events): unlike ``history`` the immigration events
    stop where the case events do, and the year is not regenerated if it holds fewer than ``count`` case
    events (its scale leaves a quarter to spare), so the stream may end short of ``count``.
    """
    scale = max(0.01, 1.25 * count / CASE_EVENTS_PER_YEAR)
    config = SimulationConfig(years=1.0, seed=seed, scale=scale, immigration_scale=IMMIGRATION_SCALE)
    cases = 0
    for event in simulate(config):
        if "application_id" not in event.draft.payload:
            if cases == count:
                return
            cases += 1
        yield event
