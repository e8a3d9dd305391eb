"""The outcomes fold, one behaviour at a time: goals and how they end, first contact, endings, and the link
between a client's cases that an erasure removes (the oracle comparison is in test_projection_folds.py)."""

from __future__ import annotations

from datetime import date, timedelta

from projections.outcomes.fold import fold
from schemas import Event
from tests.unit.events import T0, closed, envelope, opened
from tests.unit.test_erasure import case_erased


def event(event_type: str, payload: dict, day: int, agency: str = "JOBCENTER") -> Event:
    return Event(event_type, envelope(event_type, agency, T0 + timedelta(days=day)), payload)


def agreed(case_id: str, goal_id: str, day: int = 2, agency: str = "JOBCENTER") -> Event:
    payload = {"case_id": case_id, "goal_id": goal_id, "lebenslage": "WORK", "target_date": date(2025, 6, 30)}
    return event("GoalAgreed", payload, day, agency)


def achieved(case_id: str, goal_id: str, day: int = 20, agency: str = "JOBCENTER") -> Event:
    return event("GoalAchieved", {"case_id": case_id, "goal_id": goal_id}, day, agency)


def abandoned(case_id: str, goal_id: str, day: int = 20) -> Event:
    return event("GoalAbandoned", {"case_id": case_id, "goal_id": goal_id, "reason": "NOT_ACHIEVABLE"}, day)


def assigned(case_id: str, day: int, agency: str = "JOBCENTER") -> Event:
    return event("CaseManagerAssigned", {"case_id": case_id, "case_manager_ref": "CM-JC-1", "agency": agency}, day)


def test_a_goal_is_agreed_then_achieved_or_abandoned_once() -> None:
    result = fold({}, [opened("DO-1"), agreed("DO-1", "G-1"), achieved("DO-1", "G-1"), agreed("DO-1", "G-2")])
    goals = {g.goal_id: g for g in result.goals.values()}
    assert (goals["G-1"].status, goals["G-1"].resolved_at) == ("achieved", T0 + timedelta(days=20))
    assert (goals["G-2"].status, goals["G-2"].district, goals["G-2"].agency) == ("agreed", "EVING", "JOBCENTER")
    again = fold({}, [opened("DO-1"), agreed("DO-1", "G-1"), abandoned("DO-1", "G-1"), achieved("DO-1", "G-1", 21)])
    assert [reason for _, reason in again.rejected] == ["goal G-1 of case DO-1 was already abandoned"]
    never = fold({}, [opened("DO-1"), achieved("DO-1", "G-9")])
    assert [reason for _, reason in never.rejected] == ["goal G-9 of case DO-1 was never agreed"]


def test_goal_events_need_an_open_case_and_an_agency_responsible_for_it() -> None:
    result = fold(
        {},
        [
            agreed("DO-0", "G-1"),  # never opened
            opened("DO-1"),
            agreed("DO-1", "G-1", agency="JUGENDAMT"),  # no part in the case
            closed("DO-1", day=10),
            agreed("DO-1", "G-2", day=11),  # closed
        ],
    )
    reasons = [reason for _, reason in result.rejected]
    assert reasons[0] == "case DO-0 was never opened"
    assert reasons[1].startswith("JUGENDAMT has no part in case DO-1")
    assert reasons[2] == "case DO-1 is already closed"
    assert result.goals == {}


def test_first_contact_is_the_first_assignment_and_the_ending_keeps_its_reason() -> None:
    result = fold({}, [opened("DO-1"), assigned("DO-1", 5), assigned("DO-1", 9), closed("DO-1", "MOVED_AWAY", 30)])
    case = result.cases["DO-1"]
    assert case.first_contact_at == T0 + timedelta(days=5)
    assert (case.status, case.closure_reason, case.closed_at) == ("closed", "MOVED_AWAY", T0 + timedelta(days=30))


def test_a_clients_cases_are_linked_by_key_id_until_an_erasure_removes_the_link() -> None:
    first, second = opened("DO-1"), opened("DO-2", day=200)  # the same test key seals both: one client
    linked = fold({}, [first, closed("DO-1", day=100), second])
    assert linked.cases["DO-1"].client_key_id == linked.cases["DO-2"].client_key_id is not None
    erased = fold(
        {},
        [first, closed("DO-1", day=100), second, case_erased("DO-1", day=300), case_erased("DO-2", day=300, seed=1)],
    )
    assert [c.client_key_id for c in erased.cases.values()] == [None, None]
    assert all(c.case_id.startswith("erased-") for c in erased.cases.values())
    assert erased.rejected == []
