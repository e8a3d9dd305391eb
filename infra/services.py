"""The three services `kim up`, `kim down` and `kim restart` act on, and the order they act in. Pure: no I/O.

Kafka and PostgreSQL come first, the projection workers last: the workers read the one and write the other.
Starting goes in that order, stopping begins with the workers, whatever order a command line names them in.
"""

from __future__ import annotations

from collections.abc import Iterable

KAFKA = "kafka"
POSTGRES = "postgres"
WORKERS = "workers"
SERVICES: tuple[str, ...] = (KAFKA, POSTGRES, WORKERS)  # the order they start in
_STOP: tuple[str, ...] = (WORKERS, KAFKA, POSTGRES)  # the workers first; then as `kim down` always did
LABELS = {KAFKA: "Kafka", POSTGRES: "PostgreSQL", WORKERS: "the projection workers"}


def start_order(names: Iterable[str]) -> tuple[str, ...]:
    """The services named, each once, in the order they start; none named means every service."""
    named = set(names)
    unknown = named - set(SERVICES)
    if unknown:
        raise ValueError(f"unknown service {sorted(unknown)[0]!r}; name {', '.join(SERVICES)}")
    return tuple(s for s in SERVICES if s in named) if named else SERVICES


def stop_order(names: Iterable[str]) -> tuple[str, ...]:
    """The services named, each once, in the order they stop (workers first); none named means every service."""
    chosen = start_order(names)
    return tuple(s for s in _STOP if s in chosen)


def everything(services: Iterable[str]) -> bool:
    """Whether ``services`` covers the whole platform (what `kim up` without arguments brings up)."""
    return set(services) >= set(SERVICES)


def are_up(services: Iterable[str]) -> str:
    """``Kafka and PostgreSQL are up``: the closing line of a `kim up` or `kim restart` of some services."""
    labels = [LABELS[s] for s in start_order(services)]
    named = labels[0] if len(labels) == 1 else ", ".join(labels[:-1]) + " and " + labels[-1]
    return f"{named[0].upper()}{named[1:]} {'is' if len(labels) == 1 else 'are'} up"
