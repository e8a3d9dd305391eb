"""The gateway benchmark's rounds keep every case's order, whichever agencies speak about it."""

from __future__ import annotations

from dataclasses import dataclass

from hypothesis import given
from hypothesis import strategies as st

from benchmarks.gateway import rounds
from streams.sdk.draft import EventDraft


@dataclass
class _Event:
    agency: str
    draft: EventDraft


events = st.lists(st.tuples(st.sampled_from("ABC"), st.sampled_from(["c1", "c2", "c3"])), max_size=40).map(
    lambda pairs: [
        _Event(agency, EventDraft("GoalAgreed", {"case_id": case, "n": i})) for i, (agency, case) in enumerate(pairs)
    ]
)


@given(events)
def test_every_event_once_and_each_case_in_order_across_rounds(sent: list[_Event]) -> None:
    placed = {
        id(e): (n, agency) for n, round_ in enumerate(rounds(sent)) for agency, run in round_.items() for e in run
    }
    assert len(placed) == len(sent)
    for round_ in rounds(sent):
        for agency, run in round_.items():
            assert all(e.agency == agency for e in run)
            assert [e.draft.payload["n"] for e in run] == sorted(e.draft.payload["n"] for e in run)
    latest: dict[str, _Event] = {}
    for event in sent:
        before = latest.get(event.draft.payload["case_id"])
        if before is not None:
            then, now = placed[id(before)][0], placed[id(event)][0]
            # the same agency: the same round or later (its requests go in order); another: a later round
            assert now >= then if before.agency == event.agency else now > then
        latest[event.draft.payload["case_id"]] = event
