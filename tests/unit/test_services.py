"""`kim up`, `kim down` and `kim restart` act on every service or on those named, in a fixed order."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cli import main
from infra.services import SERVICES, are_up, everything, start_order, stop_order


def test_none_named_means_every_service() -> None:
    assert start_order([]) == ("kafka", "postgres", "workers")
    assert stop_order([]) == ("workers", "kafka", "postgres")  # the workers first, then as `kim down` always did
    assert everything(start_order([]))


@given(st.lists(st.sampled_from(SERVICES), min_size=1))
def test_services_named_act_once_each_in_their_own_order(named: list[str]) -> None:
    started = start_order(named)
    assert set(started) == set(named) and len(started) == len(set(named))
    assert list(started) == sorted(started, key=SERVICES.index)  # kafka, postgres, then workers
    if "workers" in named:
        assert stop_order(named)[0] == "workers"
    assert everything(started) == (set(named) == set(SERVICES))


def test_an_unknown_service_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown service 'kafak'"):
        start_order(["kafak"])


def test_the_closing_line_names_what_is_up() -> None:
    assert are_up(["kafka"]) == "Kafka is up"
    assert are_up(["workers", "kafka"]) == "Kafka and the projection workers are up"
    assert are_up(SERVICES) == "Kafka, PostgreSQL and the projection workers are up"


@pytest.mark.parametrize("command", ["up", "down", "restart"])
def test_up_down_and_restart_take_services_in_any_order(command: str) -> None:
    assert main.parser([command]).parse_args([command]).services == []
    args = main.parser([command]).parse_args([command, "workers", "kafka"])
    assert args.services == ["workers", "kafka"]


def test_a_mistyped_service_is_a_usage_error_naming_the_services(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stopped:
        main.parser(["down"]).parse_args(["down", "kafak"])
    assert stopped.value.code == 2
    assert "'kafak' is not a service: name kafka, postgres, workers" in capsys.readouterr().err
