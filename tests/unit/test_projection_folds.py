"""The three folds against the oracle, and batch-split invariance, on generated histories (no services)."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from schemas import Event
from tests.oracles import compare
from tests.oracles.history import generate

FOLDS = {
    "caseload": compare.fold_caseload,
    "referrals": compare.fold_referrals,
    "backlog": compare.fold_backlog,
    "outcomes": compare.fold_outcomes,
}


def _ids(events: list[Event]) -> list[str]:
    return sorted(str(e.envelope["event_id"]) for e in events)


def _with_repeats(events: list[Event], picks: list[int]) -> list[Event]:
    """The same event objects (same ids) delivered again a little later."""
    out = list(events)
    for pick in picks:
        if events:
            original = pick % len(events)
            out.insert(min(len(out), original + 1 + pick % 7), events[original])
    return out


@pytest.fixture(scope="module")
def history() -> list[Event]:
    return compare.as_events(generate(seed=21, cases=600, applications=300), seed=5)


@pytest.mark.parametrize("name", FOLDS)
def test_each_fold_equals_the_oracle_on_a_generated_history(name: str, history: list[Event]) -> None:
    events = _with_repeats(history, list(range(0, 4000, 37)))
    expected = compare.oracle(events)
    folded = FOLDS[name](events, cuts=[13, 500, 501, 2000])
    compare.assert_same(folded.tables, {t: expected.tables[t] for t in compare.PROJECTION_TABLES[name]})
    assert _ids(folded.rejected) == _ids(expected.rejected[name])
    assert folded.tables[compare.PROJECTION_TABLES[name][0]], "the history should give rows"


def test_the_history_exercises_every_rejection_kind(history: list[Event]) -> None:
    from projections.backlog.fold import fold as backlog
    from projections.caseload.fold import fold as caseload
    from projections.outcomes.fold import fold as outcomes
    from projections.referrals.fold import fold as referrals

    reasons = " | ".join(r for f in (caseload, referrals, backlog, outcomes) for _, r in f({}, history).rejected)
    for expected in (
        "was never agreed",
        "was already agreed",
        "was already achieved",
        "was never opened",
        "was never issued",
        "does not cover",
        "was withdrawn",
        "cannot be completed",
        "no permit can be handed over",
        "was never filed",
    ):
        assert expected in reasons


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    name=st.sampled_from(sorted(FOLDS)),
    seed=st.integers(0, 10_000),
    cases=st.integers(1, 25),
    applications=st.integers(0, 15),
    cuts=st.lists(st.integers(0, 1000), max_size=12),
    repeats=st.lists(st.integers(0, 1000), max_size=6),
)
def test_any_split_into_batches_gives_the_same_rows_and_rejections(
    name: str, seed: int, cases: int, applications: int, cuts: list[int], repeats: list[int]
) -> None:
    events = _with_repeats(compare.as_events(generate(seed, cases, applications), seed=seed), repeats)
    whole = FOLDS[name](events)
    split = FOLDS[name](events, cuts)
    assert split.tables == whole.tables
    assert _ids(split.rejected) == _ids(whole.rejected)
    expected = compare.oracle(events)
    compare.assert_same(whole.tables, {t: expected.tables[t] for t in compare.PROJECTION_TABLES[name]})
