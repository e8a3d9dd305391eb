"""Upcasters: what an event written by an older version means in the current version.

Avro resolution (``Codec.decode``) changes the *shape* of an old event into the current schema: new
fields get their defaults, dropped fields disappear. When a new version also changes what a field
*means*, resolution alone would put old values under new meanings. An upcaster fixes that: keyed by
``(event type, from_version)``, it turns the meaning of ``from_version`` into that of
``from_version + 1``. ``Codec.decode`` applies them after resolution, only to events whose writer
is older than the current reader, in order (v1→v2, v2→v3, …).

Rules for an upcaster:
- a pure function ``(payload, envelope) -> payload`` of one event: no clock, no lookups, no history;
- it receives the payload already in the *current* shape (resolved), and returns a new dict;
- it is part of the contract: the stored sample of every old version (``schemas/history``) pins
  what today's readers make of it, so changing an upcaster fails a test until the change is meant;
- when a later version renames or drops a field an upcaster reads, update the upcaster with it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Upcaster = Callable[[dict[str, Any], dict[str, Any]], dict[str, Any]]

UPCASTERS: dict[tuple[str, int], Upcaster] = {}


def upcaster(event_type: str, from_version: int) -> Callable[[Upcaster], Upcaster]:
    """Register ``function`` as the upcaster of ``event_type`` from ``from_version`` to the next version."""

    def register(function: Upcaster) -> Upcaster:
        key = (event_type, from_version)
        if key in UPCASTERS:
            raise ValueError(f"{event_type} v{from_version} already has an upcaster")
        UPCASTERS[key] = function
        return function

    return register


def chain(event_type: str, writer_version: int, reader_version: int) -> tuple[Upcaster, ...]:
    """The upcasters that bring an event written by ``writer_version`` to the meaning of ``reader_version``."""
    return tuple(
        UPCASTERS[(event_type, version)]
        for version in range(writer_version, reader_version)
        if (event_type, version) in UPCASTERS
    )


@upcaster("CasePaused", 1)
def case_paused_v1(payload: dict[str, Any], _: dict[str, Any]) -> dict[str, Any]:
    """v1 had one date for two things. `resume_by` stays the review date (Wiedervorlage); for a `CLIENT_AWAY` pause
    it was also the day the client is expected back, so that becomes `expected_resume_on`. For any other reason a
    v1 event says nothing about when the case resumes: `expected_resume_on` stays null."""
    if payload["reason"] == "CLIENT_AWAY" and payload.get("expected_resume_on") is None:
        return {**payload, "expected_resume_on": payload["resume_by"]}
    return payload


@upcaster("CaseOpened", 1)
@upcaster("ApplicationFiled", 1)
def client_sealed_v1(payload: dict[str, Any], _: dict[str, Any]) -> dict[str, Any]:
    """Since v2 the pseudonym is on the log only sealed (``schemas/sealing.py``). A v1 event carries it in clear;
    it cannot be removed from the log, but readers no longer see it: ``client_ref`` reads as null, like in v2."""
    return {**payload, "client_ref": None}
