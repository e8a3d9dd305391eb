"""Reference referrals: per case, keep the events that fit the ones kept before; per referral, read its
lifecycle off the kept answers; compute every analyst answer with plain Python."""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import datetime

from schemas import Event
from tests.oracles.caseload import consent_refusal, consents_of, outsider
from tests.oracles.common import anonymous, by_key, days_between, id64, local_day, percentile, walk

ANSWERS = ("ReferralAccepted", "ReferralDeclined", "ReferralCompleted")
TYPES = frozenset(
    {"CaseOpened", "CaseClosed", "ConsentGranted", "ConsentWithdrawn", "ReferralIssued", "CaseErased", *ANSWERS}
    | {"CaseManagerAssigned", "CaseHandedOver"}  # who may act on the case
)


def _of(history: list[Event], *types: str) -> list[Event]:
    return [e for e in history if e.event_type in types]


def _about(history: list[Event], referral_id: str, *types: str) -> list[Event]:
    return [e for e in _of(history, *types) if e.payload["referral_id"] == referral_id]


def _refusal(history: list[Event], event: Event) -> str | None:
    kind, p = event.event_type, event.payload
    if kind in ANSWERS:
        issued = _about(history, p["referral_id"], "ReferralIssued")
        if not issued:
            return "unknown referral"
        if event.source_agency != issued[0].payload["to_agency"]:
            return "answered by another agency"
        answers = [e.event_type for e in _about(history, p["referral_id"], *ANSWERS)]
        if kind == "ReferralCompleted":
            return None if answers == ["ReferralAccepted"] else "not accepted or already finished"
        return None if not answers else "already answered"
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
        return "withdrawn twice" if any(e.event_type == "ConsentWithdrawn" for e in same) else None
    if _of(history, "CaseClosed"):
        return "closed"
    if kind == "ConsentGranted":
        return "granted twice" if any(e.payload["consent_id"] == p["consent_id"] for e in _of(history, kind)) else None
    if kind == "CaseHandedOver":
        return consent_refusal(history, p["consent_id"], p["to_agency"], event.occurred_at)
    if kind == "ReferralIssued":
        if _about(history, p["referral_id"], "ReferralIssued"):
            return "issued twice"
        return consent_refusal(history, p["consent_id"], p["to_agency"], event.occurred_at)
    return None


def _parties(history: list[Event]) -> dict:
    handovers = _of(history, "CaseHandedOver")
    assignments = _of(history, "CaseManagerAssigned")
    return {
        "holder": handovers[-1].payload["to_agency"] if handovers else _of(history, "CaseOpened")[0].source_agency,
        "manager_agency": assignments[-1].payload["agency"] if assignments else None,
        "receivers": sorted({e.source_agency for e in _of(history, "ReferralAccepted")}),
    }


def _referral(history: list[Event], issued: Event) -> dict:
    p = issued.payload
    answers = {e.event_type: e for e in _about(history, p["referral_id"], *ANSWERS)}
    accepted, declined, completed = (answers.get(t) for t in ANSWERS)
    status = "completed" if completed else "declined" if declined else "accepted" if accepted else "issued"
    return {
        "case_id": p["case_id"],
        "referral_id": p["referral_id"],
        "from_agency": p["from_agency"],
        "to_agency": p["to_agency"],
        "lebenslage": p["lebenslage"],
        "consent_id": p["consent_id"],
        "due_by": p["due_by"],
        "status": status,
        "issued_at": issued.occurred_at,
        "accepted_at": accepted.occurred_at if accepted else None,
        "declined_at": declined.occurred_at if declined else None,
        "completed_at": completed.occurred_at if completed else None,
        "decline_reason": declined.payload["reason"] if declined else None,
        "outcome": completed.payload["outcome"] if completed else None,
    }


@dataclass
class Referrals:
    cases: dict[str, dict]
    referrals: dict[tuple[str, str], dict]
    rejected: list[Event]


def replay(events: list[Event]) -> Referrals:
    cases, referrals, rejected = {}, {}, []
    for case_id, stream in by_key(events, "case_id", TYPES).items():
        kept, erasure, refused = walk(stream, _refusal)
        rejected += refused
        if not kept:
            continue
        opening = _of(kept, "CaseOpened")[0]
        closing = _of(kept, "CaseClosed")
        case = {
            "case_id": case_id,
            "status": "closed" if closing else "open",
            "opened_at": opening.occurred_at,
            "closed_at": closing[0].occurred_at if closing else None,
            "consents": consents_of(kept),
            "seen": [id64(e) for e in kept],
            **_parties(kept),
        }
        issued = [_referral(kept, e) for e in _of(kept, "ReferralIssued")]
        if erasure is not None:  # erased: anonymous ids, numbered in the order the referrals were issued
            token = anonymous(erasure)
            case = {**case, "case_id": token, "consents": {}, "seen": []}
            ordered = sorted(issued, key=lambda r: (r["issued_at"], r["referral_id"]))
            issued = [
                {**r, "case_id": token, "referral_id": f"{token}-R{n}", "consent_id": "erased"}
                for n, r in enumerate(ordered, 1)
            ]
        cases[case["case_id"]] = case
        for referral in issued:
            referrals[(referral["case_id"], referral["referral_id"])] = referral
    return Referrals(cases, referrals, rejected)


def views(referrals: dict[tuple[str, str], dict], as_of: datetime) -> dict[str, dict]:
    items = list(referrals.values())
    out: dict[str, dict] = {}

    matrix: dict[tuple, Counter] = defaultdict(Counter)
    for r in items:
        m = matrix[(r["from_agency"], r["to_agency"])]
        m["issued"] += 1
        m["accepted"] += r["accepted_at"] is not None
        m["declined"] += r["declined_at"] is not None
        m["completed"] += r["completed_at"] is not None
        m["open"] += r["status"] in ("issued", "accepted")
    out["referral_matrix"] = {
        k: (
            m["issued"],
            m["accepted"],
            m["declined"],
            m["completed"],
            m["open"],
            m["accepted"] / (m["accepted"] + m["declined"]) if m["accepted"] + m["declined"] else None,
            m["completed"] / m["accepted"] if m["accepted"] else None,
        )
        for k, m in matrix.items()
    }

    def lead(group: list[dict]) -> tuple:
        to_accept = [days_between(r["issued_at"], r["accepted_at"]) for r in group if r["accepted_at"]]
        to_complete = [days_between(r["issued_at"], r["completed_at"]) for r in group if r["completed_at"]]
        return (
            len(to_accept),
            percentile(to_accept, 0.5),
            percentile(to_accept, 0.9),
            len(to_complete),
            percentile(to_complete, 0.5),
            percentile(to_complete, 0.9),
        )

    per_agency: dict[str, list[dict]] = defaultdict(list)
    for r in items:
        per_agency[r["to_agency"]].append(r)
    out["referral_lead_times"] = {a: lead(group) for a, group in per_agency.items()}
    out["referral_lead_times"]["ALL"] = lead(items)

    declines = Counter((r["to_agency"], r["decline_reason"]) for r in items if r["status"] == "declined")
    out["referral_decline_reasons"] = {k: (v,) for k, v in declines.items()}

    today = local_day(as_of)

    def by(at: datetime | None) -> bool:
        return at is not None and at <= as_of

    opened: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    overdue = {}
    for r in items:
        if r["issued_at"] > as_of or by(r["declined_at"]) or by(r["completed_at"]):
            continue
        counts = opened[r["to_agency"]]
        counts[0] += 1
        if not by(r["accepted_at"]):
            counts[1] += 1
            if today > r["due_by"]:
                counts[2] += 1
                overdue[(r["case_id"], r["referral_id"])] = (
                    r["from_agency"],
                    r["to_agency"],
                    r["lebenslage"],
                    r["issued_at"],
                    r["due_by"],
                    (today - r["due_by"]).days,
                )
    out["referrals_open"] = {k: tuple(v) for k, v in opened.items()}
    out["referrals_overdue"] = overdue
    return out
