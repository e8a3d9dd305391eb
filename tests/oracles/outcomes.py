"""Reference outcomes: per case, keep the events that fit the ones kept before; read the case's beginning and
end and each goal's lifecycle off what was kept, with plain Python."""

from __future__ import annotations

from dataclasses import dataclass

from schemas import Event
from tests.oracles.caseload import consent_refusal, consents_of, outsider
from tests.oracles.common import anonymous, by_key, id64, sealed_key_id, walk

GOALS = ("GoalAgreed", "GoalAchieved", "GoalAbandoned")
TYPES = frozenset(
    {"CaseOpened", "CaseClosed", "CaseManagerAssigned", "CaseHandedOver", "ConsentGranted", "ConsentWithdrawn"}
    | {"CaseErased", *GOALS}
)


def _of(history: list[Event], *types: str) -> list[Event]:
    return [e for e in history if e.event_type in types]


def _about_goal(history: list[Event], goal_id: str) -> list[Event]:
    return [e for e in _of(history, *GOALS) if e.payload["goal_id"] == goal_id]


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
        return "withdrawn twice" if any(e.event_type == "ConsentWithdrawn" for e in same) else None
    if _of(history, "CaseClosed"):
        return "closed"
    if kind == "ConsentGranted":
        return "granted twice" if any(e.payload["consent_id"] == p["consent_id"] for e in _of(history, kind)) else None
    if kind == "CaseHandedOver":
        return consent_refusal(history, p["consent_id"], p["to_agency"], event.occurred_at)
    if kind == "GoalAgreed":
        return "agreed twice" if _about_goal(history, p["goal_id"]) else None
    if kind in ("GoalAchieved", "GoalAbandoned"):
        earlier = [e.event_type for e in _about_goal(history, p["goal_id"])]
        return None if earlier == ["GoalAgreed"] else "not agreed, or already ended"
    return None


def _goal(history: list[Event], agreed: Event, district: str) -> dict:
    p = agreed.payload
    ends = [e for e in _about_goal(history, p["goal_id"]) if e.event_type != "GoalAgreed"]
    end = ends[0] if ends else None
    return {
        "case_id": p["case_id"],
        "goal_id": p["goal_id"],
        "lebenslage": p["lebenslage"],
        "agency": agreed.source_agency,
        "district": district,
        "agreed_at": agreed.occurred_at,
        "target_date": p["target_date"],
        "status": {None: "agreed", "GoalAchieved": "achieved", "GoalAbandoned": "abandoned"}[end and end.event_type],
        "resolved_at": end.occurred_at if end else None,
        "abandon_reason": end.payload["reason"] if end and end.event_type == "GoalAbandoned" else None,
    }


def _case(case_id: str, kept: list[Event]) -> dict:
    opening = _of(kept, "CaseOpened")[0]
    closing = _of(kept, "CaseClosed")
    handovers = _of(kept, "CaseHandedOver")
    assignments = _of(kept, "CaseManagerAssigned")
    return {
        "case_id": case_id,
        "district": opening.payload["district"],
        "target_group": opening.payload["target_group"],
        "opened_at": opening.occurred_at,
        "opened_by": opening.source_agency,
        "status": "closed" if closing else "open",
        "holder": handovers[-1].payload["to_agency"] if handovers else opening.source_agency,
        "manager_agency": assignments[-1].payload["agency"] if assignments else None,
        "first_contact_at": assignments[0].occurred_at if assignments else None,
        "closed_at": closing[0].occurred_at if closing else None,
        "closure_reason": closing[0].payload["reason"] if closing else None,
        "handovers": len(handovers),
        "client_key_id": sealed_key_id(opening.payload),
        "consents": consents_of(kept),
        "seen": [id64(e) for e in kept],
    }


@dataclass
class Outcomes:
    cases: dict[str, dict]
    goals: dict[tuple[str, str], dict]
    rejected: list[Event]


def replay(events: list[Event]) -> Outcomes:
    cases, goals, rejected = {}, {}, []
    for case_id, stream in by_key(events, "case_id", TYPES).items():
        kept, erasure, refused = walk(stream, _refusal)
        rejected += refused
        if not kept:
            continue
        case = _case(case_id, kept)
        agreed = [_goal(kept, e, case["district"]) for e in _of(kept, "GoalAgreed")]
        if erasure is not None:  # erased: anonymous ids (goals numbered in the order agreed), no client link
            token = anonymous(erasure)
            case = {**case, "case_id": token, "client_key_id": None, "consents": {}, "seen": []}
            ordered = sorted(agreed, key=lambda g: (g["agreed_at"], g["goal_id"]))
            agreed = [{**g, "case_id": token, "goal_id": f"{token}-G{n}"} for n, g in enumerate(ordered, 1)]
        cases[case["case_id"]] = case
        for goal in agreed:
            goals[(goal["case_id"], goal["goal_id"])] = goal
    return Outcomes(cases, goals, rejected)
