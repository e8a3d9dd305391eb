import itertools

from hypothesis import given, settings
from hypothesis import strategies as st

from projections.caseload.fold import CaseRow, fold
from schemas import Event
from tests.unit.events import closed, opened


def test_open_then_close() -> None:
    result = fold(
        {},
        [
            opened("a", agency="JUGENDAMT", district="HOERDE"),
            closed("a", reason="MOVED_AWAY", day=3, agency="JUGENDAMT"),
        ],
    )
    row = result.changed["a"]
    assert (row.agency, row.district, row.status, row.closure_reason) == ("JUGENDAMT", "HOERDE", "closed", "MOVED_AWAY")
    assert row.closed_at is not None and row.closed_at > row.opened_at
    assert result.rejected == []


def test_contradictions_are_rejected_with_a_reason_not_applied() -> None:
    result = fold({}, [closed("ghost"), opened("a"), opened("a"), closed("a"), closed("a")])
    assert [i for i, _ in result.rejected] == [0, 2, 4]
    assert "never opened" in result.rejected[0][1]
    assert "already opened" in result.rejected[1][1]
    assert "already closed" in result.rejected[2][1]
    assert result.changed["a"].status == "closed"


def test_events_of_other_types_leave_the_caseload_alone() -> None:
    other = Event("ConsentGranted", opened("a").envelope, {"case_id": "a"})
    assert fold({}, [other]).changed == {}


def _history(spec: list[tuple[int, bool]]) -> list[Event]:
    events = []
    for case, closes in spec:
        events.append(opened(f"c{case}", district=["EVING", "MENGEDE", "BRACKEL"][case % 3]))
        if closes:
            events.append(closed(f"c{case}"))
    return events


def _replay_in_batches(events: list[Event], cuts: list[int]) -> dict[str, CaseRow]:
    rows: dict[str, CaseRow] = {}
    bounds = [0, *sorted(set(c % (len(events) + 1) for c in cuts)), len(events)]
    for start, end in itertools.pairwise(bounds):
        rows.update(fold(rows, events[start:end]).changed)
    return rows


@settings(max_examples=200)
@given(
    spec=st.lists(st.tuples(st.integers(0, 30), st.booleans()), max_size=40),
    cuts=st.lists(st.integers(0, 200), max_size=10),
    duplicate=st.booleans(),
)
def test_any_split_into_batches_gives_the_same_rows(spec, cuts, duplicate) -> None:
    events = _history(spec)
    if duplicate and events:  # a contradicting repeat is rejected the same way in every split
        events.append(events[0])
    assert _replay_in_batches(events, cuts) == _replay_in_batches(events, [])
