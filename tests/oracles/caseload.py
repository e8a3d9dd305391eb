"""Reference caseload: for each case, walk its whole event list, keep the events that do not
contradict the ones kept before, and read the answers off the kept list with plain Python.

Written apart from projections/caseload on purpose (no shared code, no incremental state), so
that agreement between the two is evidence, not tautology.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal

from schemas import Event
from tests.oracles.common import (
    anonymous,
    bucket,
    by_key,
    days_between,
    id64,
    local_day,
    monday,
    percentile,
    sealed_key_id,
    walk,
)

TYPES = frozenset(
    {
        "CaseOpened",
        "CaseClosed",
        "CaseManagerAssigned",
        "NeedsAssessed",
        "CaseHandedOver",
        "CasePaused",
        "CaseResumed",
        "ConsentGranted",
        "ConsentWithdrawn",
        "CaseErased",
    }
)


CASE_MANAGEMENT = frozenset({"KIM_CASE_MANAGEMENT", "MIGRATIONSBERATUNG_MBE", "JUGENDMIGRATIONSDIENST", "JOBCENTER"})


def _of(history: list[Event], *types: str) -> list[Event]:
    return [e for e in history if e.event_type in types]


def outsider(history: list[Event], event: Event) -> bool:
    """The publisher has no part in the (opened) case: it neither holds it (opened it, or received its last
    hand-over) nor employs its case manager; it may still take a case nobody manages by assigning one of its own
    staff when it does case management, and issue a further referral when it accepted one."""
    by = event.source_agency
    handovers = _of(history, "CaseHandedOver")
    holder = handovers[-1].payload["to_agency"] if handovers else _of(history, "CaseOpened")[0].source_agency
    assignments = _of(history, "CaseManagerAssigned")
    manager = assignments[-1].payload["agency"] if assignments else None
    if by in (holder, manager):
        return False
    if event.event_type == "CaseManagerAssigned":
        return not (manager is None and by in CASE_MANAGEMENT and event.payload["agency"] == by)
    if event.event_type == "ReferralIssued":
        return not any(e.source_agency == by for e in _of(history, "ReferralAccepted"))
    return True


def consent_refusal(history: list[Event], consent_id: str, agency: str, at: datetime) -> str | None:
    grants = [e for e in _of(history, "ConsentGranted") if e.payload["consent_id"] == consent_id]
    if not grants:
        return "no such consent"
    if agency not in grants[0].payload["recipients"]:
        return "agency not covered"
    if any(e.payload["consent_id"] == consent_id and e.occurred_at <= at for e in _of(history, "ConsentWithdrawn")):
        return "withdrawn"
    until = grants[0].payload.get("valid_until")
    if until is not None and local_day(at) > until:
        return "expired"
    return None


def consents_of(history: list[Event]) -> dict:
    out = {}
    for grant in _of(history, "ConsentGranted"):
        cid = grant.payload["consent_id"]
        withdrawals = [e for e in _of(history, "ConsentWithdrawn") if e.payload["consent_id"] == cid]
        until = grant.payload.get("valid_until")
        out[cid] = {
            "to": sorted(grant.payload["recipients"]),
            "until": until.isoformat() if until else None,
            "withdrawn": withdrawals[0].occurred_at.isoformat() if withdrawals else None,
        }
    return out


def _paused(history: list[Event]) -> bool:
    marks = _of(history, "CasePaused", "CaseResumed", "CaseClosed")
    return bool(marks) and marks[-1].event_type == "CasePaused"


def _refusal(history: list[Event], event: Event) -> str | None:
    kind, p = event.event_type, event.payload
    opened = bool(_of(history, "CaseOpened"))
    if kind == "CaseOpened":
        return "opened twice" if opened else None
    if not opened:
        return "never opened"
    if outsider(history, event):
        return "no part in the case"
    if kind == "ConsentWithdrawn":
        same = [
            e for e in _of(history, "ConsentGranted", "ConsentWithdrawn") if e.payload["consent_id"] == p["consent_id"]
        ]
        if not any(e.event_type == "ConsentGranted" for e in same):
            return "consent never granted"
        return "consent withdrawn twice" if any(e.event_type == "ConsentWithdrawn" for e in same) else None
    if _of(history, "CaseClosed"):
        return "closed"
    if kind == "ConsentGranted":
        return (
            "consent granted twice"
            if any(e.payload["consent_id"] == p["consent_id"] for e in _of(history, kind))
            else None
        )
    if kind == "CasePaused":
        return "paused twice" if _paused(history) else None
    if kind == "CaseResumed":
        return None if _paused(history) else "not paused"
    if kind == "CaseHandedOver":
        return consent_refusal(history, p["consent_id"], p["to_agency"], event.occurred_at)
    return None


def _row(history: list[Event]) -> dict:
    opening = history[0]
    closing = _of(history, "CaseClosed")
    assignments = _of(history, "CaseManagerAssigned")
    needs = _of(history, "NeedsAssessed")
    handovers = _of(history, "CaseHandedOver")
    pauses = _of(history, "CasePaused")
    return {
        "case_id": opening.payload["case_id"],
        "agency": handovers[-1].payload["to_agency"] if handovers else opening.source_agency,
        "district": opening.payload["district"],
        "status": "closed" if closing else "open",
        "opened_at": opening.occurred_at,
        "closed_at": closing[0].occurred_at if closing else None,
        "closure_reason": closing[0].payload["reason"] if closing else None,
        "opened_by": opening.source_agency,
        "target_group": opening.payload["target_group"],
        "access_route": opening.payload["access_route"],
        "case_manager_ref": assignments[-1].payload["case_manager_ref"] if assignments else None,
        "manager_agency": assignments[-1].payload["agency"] if assignments else None,
        "assigned_at": assignments[-1].occurred_at if assignments else None,
        "first_assigned_at": assignments[0].occurred_at if assignments else None,
        "lebenslagen": [n["lebenslage"] for n in needs[-1].payload["needs"]] if needs else [],
        "priorities": [n["priority"] for n in needs[-1].payload["needs"]] if needs else [],
        "paused_since": pauses[-1].occurred_at if _paused(history) else None,
        "pauses": len(pauses),
        "handovers": len(handovers),
        "handed_over_at": handovers[-1].occurred_at if handovers else None,
        "consents": consents_of(history),
        "seen": [id64(e) for e in history],
        "client_key_id": sealed_key_id(opening.payload),
    }


@dataclass
class Caseload:
    rows: dict[str, dict]
    rejected: list[Event]


def replay(events: list[Event]) -> Caseload:
    rows, rejected = {}, []
    for case_id, stream in by_key(events, "case_id", TYPES).items():
        kept, erasure, refused = walk(stream, _refusal)
        rejected += refused
        if kept and erasure is None:
            rows[case_id] = _row(kept)
        elif kept:  # erased: the same row under an anonymous id, without what links it to a person
            row = {**_row(kept), "case_id": anonymous(erasure), "client_key_id": None, "case_manager_ref": None}
            rows[row["case_id"]] = {**row, "consents": {}, "seen": []}
    return Caseload(rows, rejected)


# --- analyst answers, from the rows --------------------------------------------------------------


def views(rows: dict[str, dict], as_of: datetime) -> dict[str, dict]:
    cases = list(rows.values())
    is_open = [c for c in cases if c["status"] == "open"]
    out: dict[str, dict] = {}

    by_agency: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    for c in cases:
        by_agency[c["agency"]][0] += c["status"] == "open"
        by_agency[c["opened_by"]][1] += 1
        by_agency[c["agency"]][2] += c["status"] == "closed"
    out["caseload_by_agency"] = {k: tuple(v) for k, v in by_agency.items()}

    by_district: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    for c in cases:
        by_district[c["district"]][0] += c["status"] == "open"
        by_district[c["district"]][1] += 1
        by_district[c["district"]][2] += c["status"] == "closed"
    out["caseload_by_district"] = {k: tuple(v) for k, v in by_district.items()}

    managers: dict[tuple, list[int]] = defaultdict(lambda: [0, 0])
    for c in is_open:
        if c["case_manager_ref"] is not None:
            managers[(c["manager_agency"], c["case_manager_ref"])][0] += 1
            managers[(c["manager_agency"], c["case_manager_ref"])][1] += c["paused_since"] is not None
    out["caseload_open_by_manager"] = {k: tuple(v) for k, v in managers.items()}

    load: dict[str, list[int]] = defaultdict(list)
    for (agency, _), (n, _) in managers.items():
        load[agency].append(n)
    out["caseload_manager_load"] = {
        a: (len(ns), sum(ns), (Decimal(sum(ns)) / len(ns)).quantize(Decimal("0.1"), ROUND_HALF_UP), max(ns))
        for a, ns in load.items()
    }

    needs: dict[str, Counter] = defaultdict(Counter)
    for c in is_open:
        for lebenslage, priority in zip(c["lebenslagen"], c["priorities"], strict=True):
            needs[lebenslage]["all"] += 1
            needs[lebenslage][priority] += 1
    out["caseload_open_by_lebenslage"] = {k: (v["all"], v["URGENT"], v["HIGH"], v["NORMAL"]) for k, v in needs.items()}

    weekly: dict[tuple, list[int]] = defaultdict(lambda: [0, 0])
    for c in cases:
        weekly[(monday(c["opened_at"]), c["opened_by"], c["district"])][0] += 1
        if c["status"] == "closed":
            weekly[(monday(c["closed_at"]), c["agency"], c["district"])][1] += 1
    out["caseload_weekly"] = {k: tuple(v) for k, v in weekly.items()}

    reasons = Counter((c["agency"], c["closure_reason"]) for c in cases if c["status"] == "closed")
    out["caseload_closure_reasons"] = {k: (v,) for k, v in reasons.items()}

    def open_at(c: dict) -> bool:
        return c["opened_at"] <= as_of and (c["closed_at"] is None or c["closed_at"] > as_of)

    waiting: dict[str, list[float]] = defaultdict(list)
    for c in cases:
        if open_at(c) and (c["first_assigned_at"] is None or c["first_assigned_at"] > as_of):
            waiting[c["agency"]].append(days_between(c["opened_at"], as_of))
    out["caseload_waiting"] = {a: (len(w), percentile(w, 0.5), max(w)) for a, w in waiting.items()}

    ages = Counter()
    for c in cases:
        if open_at(c):
            days = int(days_between(c["opened_at"], as_of) // 1)
            name = bucket(days, [(30, "0-30"), (90, "31-90"), (180, "91-180"), (365, "181-365")], ">365")
            ages[(c["agency"], name)] += 1
    out["caseload_age_buckets"] = {k: (v,) for k, v in ages.items()}
    return out
