"""What a PostgreSQL server that refuses a connection is doing, read from its refusal. Pure: no I/O.

A server that runs but is shutting down, starting up or recovering refuses new connections with SQLSTATE
57P03 (``cannot_connect_now``, asyncpg's ``CannotConnectNowError``) and a message naming the state. Waiting
helps only while it starts or recovers; a smart shutdown (``pg_ctl stop -m smart``, SIGTERM) lasts until
every session has ended — as long as the workers are connected, for ever — so the readiness wait names that
state at once instead of polling until its timeout and then calling the server "not running".
"""

from __future__ import annotations

from dataclasses import dataclass

CANNOT_CONNECT_NOW = "57P03"
TOO_MANY_CONNECTIONS = "53300"


@dataclass(frozen=True)
class ServerState:
    """A state a running server refuses connections in: its name, and whether waiting makes it ready."""

    name: str
    passing: bool


SHUTTING_DOWN = ServerState("shutting down", passing=False)
STARTING_UP = ServerState("starting up", passing=True)
IN_RECOVERY = ServerState("in recovery", passing=True)
STANDBY = ServerState("a standby without connections", passing=False)  # hot_standby = off
NO_SLOT = ServerState("out of connection slots", passing=True)
REFUSING = ServerState("not accepting connections", passing=True)  # 57P03 in words we do not know (a translation)

# PostgreSQL's messages (LC_MESSAGES=C), most specific first: "the database system is not yet accepting
# connections" is a recovery that has not reached a consistent state; "… is not accepting connections" (without
# "yet") is a standby with hot_standby off.
_PHRASES: tuple[tuple[str, ServerState], ...] = (
    ("shutting down", SHUTTING_DOWN),
    ("starting up", STARTING_UP),
    ("recovery mode", IN_RECOVERY),
    ("not yet accepting", IN_RECOVERY),
    ("not accepting connections", STANDBY),
)


def refusal_state(error: BaseException) -> ServerState | None:
    """The state a connection refusal names, or None when ``error`` is no such refusal (refused port, password…)."""
    sqlstate = getattr(error, "sqlstate", None)
    if sqlstate == TOO_MANY_CONNECTIONS:
        return NO_SLOT
    if sqlstate != CANNOT_CONNECT_NOW:
        return None
    text = str(error).lower()
    return next((state for phrase, state in _PHRASES if phrase in text), REFUSING)


def refusal_line(state: ServerState, endpoint: str, server_says: str, *, local: bool) -> str:
    """The one line for a server found in ``state``: what it is doing and what to do (``local``: kim runs it)."""
    where = f"PostgreSQL at {endpoint}"
    if state is SHUTTING_DOWN:
        then = (
            "wait for it to stop or stop it with `kim down postgres`, then `kim up postgres`"
            if local
            else "wait until it has stopped and its operator has started it again (KIM_DATABASE_URL)"
        )
        return f"{where} is shutting down (a smart shutdown waits for every session to end); {then}"
    if state is STARTING_UP:
        return f"{where} is starting up and accepts no connections yet; wait a moment and retry"
    if state is IN_RECOVERY:
        return (
            f"{where} is in recovery (replaying its write-ahead log, e.g. after a crash) and accepts no connections "
            "yet; wait until it has finished and retry (its log says how far it is)"
        )
    if state is STANDBY:
        return (
            f"{where} is a standby that accepts no connections (hot_standby is off); "
            "point KIM_DATABASE_URL at the primary"
        )
    if state is NO_SLOT:
        return f"{where} has no connection slot free (max_connections); close idle sessions or raise max_connections"
    return f"{where} accepts no connections now ({server_says}); wait a moment and retry"
