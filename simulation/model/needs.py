"""A client's needs and Rechtskreise: which Lebenslagen need work and how pressing (by target group), the goals
agreed for the most pressing ones, the needs found again when a case is reassessed for a second phase, and the
Rechtskreise the opener, the needs and the target group point to.
"""

from __future__ import annotations

import simulation.parameters as P
from simulation.model.context import Context, ordered
from simulation.model.records import Case

RECHTSKREIS_ORDER = ("SGB_II", "SGB_III", "SGB_VIII", "SGB_XII", "ASYLBLG", "AUFENTHG", "STAG")
PRIORITY_RANK = {"URGENT": 0, "HIGH": 1, "NORMAL": 2}


def sample_needs(ctx: Context, group: str) -> list[tuple[str, str]]:
    """(Lebenslage, priority) for each need a client of ``group`` has; at least one."""
    rng = ctx.rng
    needs: list[tuple[str, str]] = []
    for lebenslage, (share, urgent, high) in P.NEEDS[group].items():
        if rng.random() < share:
            u = rng.random()
            needs.append((lebenslage, "URGENT" if u < urgent else "HIGH" if u < urgent + high else "NORMAL"))
    if not needs:
        needs.append((next(iter(P.NEEDS[group])), "HIGH"))
    return needs


def reassess(ctx: Context, case: Case) -> list[tuple[str, str]]:
    """The needs at a second phase: some of the earlier ones kept, up to two new ones."""
    kept = [(s, p) for s, p in case.needs if ctx.chance("need_kept_at_reassessment")]
    fresh = sample_needs(ctx, case.target_group)
    seen = {s for s, _ in kept}
    return kept + [(s, p) for s, p in fresh if s not in seen][:2] or fresh


def choose_goals(ctx: Context, needs: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """The needs that get a goal: the most pressing first, normal ones only at times, at most ``MAX_GOALS``."""
    ranked = sorted(needs, key=lambda n: PRIORITY_RANK[n[1]])
    chosen = [n for n in ranked if n[1] != "NORMAL" or ctx.chance("normal_need_gets_goal")][: P.MAX_GOALS]
    return chosen or ranked[:1]


def rechtskreise(ctx: Context, case: Case, opener: str) -> list[str]:
    """The Rechtskreise of the case, in the catalog's order; at least one."""
    rng = ctx.rng
    kinds: set[str] = set()
    if opener in P.AGENCY_RECHTSKREIS:
        kinds.add(P.AGENCY_RECHTSKREIS[opener])
    needs = {s for s, _ in case.needs}
    newcomer = case.target_group == "NEWCOMER"
    chance = P.RECHTSKREIS_CHANCES
    aufenthg = chance["AUFENTHG if newcomer"] if newcomer else chance["AUFENTHG otherwise"]
    if "RESIDENCE_LAW" in needs or rng.random() < aufenthg:
        kinds.add("AUFENTHG")
    if ("LIVELIHOOD" in needs or "WORK" in needs) and rng.random() < chance["SGB_II if work or livelihood need"]:
        kinds.add("SGB_II")
    if newcomer and rng.random() < chance["ASYLBLG if newcomer"]:
        kinds.add("ASYLBLG")
    if ("FAMILY" in needs or "EDUCATION" in needs) and rng.random() < chance["SGB_VIII if family or education need"]:
        kinds.add("SGB_VIII")
    if "WORK" in needs and rng.random() < chance["SGB_III if work need"]:
        kinds.add("SGB_III")
    if rng.random() < chance["SGB_XII"]:
        kinds.add("SGB_XII")
    if not newcomer and rng.random() < chance["STAG if long-resident"]:
        kinds.add("STAG")
    return ordered(kinds, RECHTSKREIS_ORDER) or ["AUFENTHG"]
