"""A small, realistic batch of case events from several agencies, for `kim demo`. Pure: same seed, same events.

District weights: population by Stadtbezirk (Dortmunder Statistik, "Bevölkerungsstand", see
docs/domain.md) for Innenstadt-Nord, Innenstadt-Ost, Hombruch and Huckarde; the other districts are
approximate (assumed). Innenstadt-Nord, the arrival district, gets three times its share
(assumed). Agency shares and closure rates are assumed.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from streams.sdk.publisher import EventDraft

POPULATION = {
    "INNENSTADT_NORD": 61_065,
    "INNENSTADT_OST": 58_520,
    "HOMBRUCH": 57_380,
    "HUCKARDE": 36_565,
    # assumed (approximate):
    "INNENSTADT_WEST": 53_000,
    "EVING": 39_000,
    "SCHARNHORST": 45_500,
    "BRACKEL": 56_000,
    "APLERBECK": 56_000,
    "HOERDE": 56_000,
    "LUETGENDORTMUND": 48_000,
    "MENGEDE": 38_500,
}
ARRIVAL_FACTOR = {"INNENSTADT_NORD": 3.0}  # assumed

OPENING_AGENCY = {  # assumed shares of who opens a case
    "KIM_CASE_MANAGEMENT": 40,
    "JOBCENTER": 15,
    "MIGRATIONSBERATUNG_MBE": 12,
    "JUGENDMIGRATIONSDIENST": 8,
    "AUSLAENDERBEHOERDE": 8,
    "JUGENDAMT": 7,
    "SOZIALAMT": 6,
    "INTEGRATIONSKURSTRAEGER": 4,
}
AGENCY_RECHTSKREIS = {
    "JOBCENTER": "SGB_II",
    "AGENTUR_FUER_ARBEIT": "SGB_III",
    "JUGENDAMT": "SGB_VIII",
    "SOZIALAMT": "SGB_XII",
    "AUSLAENDERBEHOERDE": "AUFENTHG",
}
CLOSURE_REASONS = {  # assumed
    "GOALS_ACHIEVED": 40,
    "HANDED_OVER_TO_REGELSYSTEM": 30,
    "MOVED_AWAY": 12,
    "NO_CONTACT": 12,
    "CLIENT_WITHDREW": 6,
}
CLOSED_SHARE = 0.3  # assumed


@dataclass(frozen=True)
class DemoEvent:
    agency: str
    draft: EventDraft


def _pick(rng: random.Random, weights: dict[str, float]) -> str:
    return rng.choices(list(weights), weights=list(weights.values()))[0]


def demo_events(seed: int, cases: int, until: datetime, weeks: int = 12) -> tuple[list[DemoEvent], list[DemoEvent]]:
    """(openings, closings): publish the first list before the second so every close follows its open."""
    rng = random.Random(seed)
    district_weights = {d: p * ARRIVAL_FACTOR.get(d, 1.0) for d, p in POPULATION.items()}
    openings, closings = [], []
    for _ in range(cases):
        agency = _pick(rng, OPENING_AGENCY)
        case_id = f"DO-{uuid.UUID(int=rng.getrandbits(128)).hex[:12]}"
        opened = until - timedelta(days=rng.uniform(0, weeks * 7))
        rechtskreise = sorted(
            {AGENCY_RECHTSKREIS.get(agency, "AUFENTHG"), rng.choice(["SGB_II", "AUFENTHG", "SGB_III"])}
        )
        openings.append(
            DemoEvent(
                agency,
                EventDraft(
                    "CaseOpened",
                    {
                        "case_id": case_id,
                        "client_ref": f"P-{uuid.UUID(int=rng.getrandbits(128)).hex[:16]}",
                        "district": _pick(rng, district_weights),
                        "access_route": rng.choice(["SELF", "REFERRAL", "REFERRAL", "OUTREACH"]),
                        "target_group": rng.choice(["NEWCOMER", "NEWCOMER", "LONG_RESIDENT"]),
                        "rechtskreise": rechtskreise,
                    },
                    occurred_at=opened,
                ),
            )
        )
        if rng.random() < CLOSED_SHARE:
            closed = opened + (until - opened) * rng.uniform(0.2, 1.0)
            closings.append(
                DemoEvent(
                    agency,  # the agency holding the case closes it (projections/authority.py)
                    EventDraft(
                        "CaseClosed",
                        {"case_id": case_id, "reason": _pick(rng, CLOSURE_REASONS)},
                        occurred_at=closed,
                    ),
                )
            )
    return openings, closings
