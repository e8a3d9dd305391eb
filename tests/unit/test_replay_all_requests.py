"""`kim replay all`'s arguments: a rebuild request per projection, and as-of options refused in one clear line."""

from __future__ import annotations

import argparse

import pytest

from cli.replay import ALL, all_requests
from infra.errors import SetupError
from projections.registry import PROJECTIONS


def _args(**kw: object) -> argparse.Namespace:
    base = {"projection": ALL, "until": None, "since": None, "name": None, "accept_differences": False}
    return argparse.Namespace(**{**base, "batch": 5000, **kw})


def test_all_makes_a_rebuild_of_every_projection_into_its_own_copy() -> None:
    requests = all_requests(_args(accept_differences=True), "p.", "ops")
    assert [r.projection.name for r in requests] == sorted(PROJECTIONS)
    assert [r.schema for r in requests] == [f"rebuild_{n}" for n in sorted(PROJECTIONS)]
    assert {(r.kind, r.topic_prefix, r.batch, r.accept_differences, r.actor) for r in requests} == {
        ("rebuild", "p.", 5000, True, "ops")
    }
    assert ALL not in PROJECTIONS  # `all` can never name a projection


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"until": "2025-03-31"}, "as-of copy of one projection"),
        ({"since": "2025-01-01"}, "as-of copy of one projection"),
        ({"name": "mine"}, "as-of copy of one projection"),
        ({"batch": 0}, "--batch"),
    ],
)
def test_as_of_options_and_a_bad_batch_are_one_clear_error(kw: dict, message: str) -> None:
    with pytest.raises(SetupError, match=message):
        all_requests(_args(**kw), "")
