"""A PostgreSQL server that refuses connections is named by what it is doing (infra/postgres_state.py)."""

from __future__ import annotations

import asyncpg
import pytest
from hypothesis import given
from hypothesis import strategies as st

from infra.postgres_state import (
    IN_RECOVERY,
    NO_SLOT,
    REFUSING,
    SHUTTING_DOWN,
    STANDBY,
    STARTING_UP,
    ServerState,
    refusal_line,
    refusal_state,
)

WHERE = "127.0.0.1:15432"


@pytest.mark.parametrize(
    ("message", "state"),
    [
        ("the database system is shutting down", SHUTTING_DOWN),
        ("the database system is starting up", STARTING_UP),
        ("the database system is in recovery mode", IN_RECOVERY),
        ("the database system is not yet accepting connections", IN_RECOVERY),  # recovery not yet consistent
        ("the database system is not accepting connections", STANDBY),  # hot_standby = off
        ("das Datenbanksystem fährt herunter", REFUSING),  # 57P03 in a language we do not read
    ],
)
def test_each_message_of_sqlstate_57p03_names_its_state(message: str, state: ServerState) -> None:
    assert refusal_state(asyncpg.CannotConnectNowError(message)) is state


def test_too_many_clients_is_a_refusal_worth_waiting_for() -> None:
    assert refusal_state(asyncpg.TooManyConnectionsError("sorry, too many clients already")) is NO_SLOT
    assert NO_SLOT.passing


@pytest.mark.parametrize(
    "error",
    [
        ConnectionRefusedError(111, "Connect call failed"),
        asyncpg.InvalidPasswordError("password authentication failed for user kim"),
        asyncpg.InvalidCatalogNameError('database "kim" does not exist'),
        TimeoutError(),
    ],
)
def test_other_failures_are_no_server_state(error: BaseException) -> None:
    assert refusal_state(error) is None


@given(st.text())
def test_only_sqlstate_decides_whether_a_failure_is_a_refusal(message: str) -> None:
    assert refusal_state(ValueError(message)) is None
    assert refusal_state(asyncpg.CannotConnectNowError(message)) is not None


def test_waiting_helps_while_it_starts_or_recovers_but_not_while_it_shuts_down() -> None:
    assert not SHUTTING_DOWN.passing and not STANDBY.passing
    assert STARTING_UP.passing and IN_RECOVERY.passing and REFUSING.passing


def test_a_shutting_down_server_is_named_with_what_to_do() -> None:
    local = refusal_line(SHUTTING_DOWN, WHERE, "the database system is shutting down", local=True)
    assert local == (
        "PostgreSQL at 127.0.0.1:15432 is shutting down (a smart shutdown waits for every session to end); "
        "wait for it to stop or stop it with `kim down postgres`, then `kim up postgres`"
    )
    external = refusal_line(SHUTTING_DOWN, WHERE, "the database system is shutting down", local=False)
    assert external.startswith("PostgreSQL at 127.0.0.1:15432 is shutting down")
    assert "kim down" not in external and "KIM_DATABASE_URL" in external  # kim cannot stop what it does not run


@pytest.mark.parametrize(
    ("state", "named"),
    [
        (STARTING_UP, "is starting up"),
        (IN_RECOVERY, "is in recovery"),
        (STANDBY, "is a standby"),
        (NO_SLOT, "has no connection slot free"),
        (REFUSING, "accepts no connections now (what the server said)"),
    ],
)
def test_every_state_gets_one_line_naming_it(state: ServerState, named: str) -> None:
    line = refusal_line(state, WHERE, "what the server said", local=True)
    assert line.startswith(f"PostgreSQL at {WHERE} {named}")
    assert "\n" not in line
