"""The caseload fold: pure, no I/O. ``evolve(row, event) -> row`` per case, ``fold`` for a batch.

One row per case: where it stands (open/closed, paused), who is responsible (``agency``, changed by
CaseHandedOver), who opened it, its case manager, its current needs (Lebenslagen), its consents
(a hand-over needs one that covers the receiving agency) and the ids of the events it has applied
(a repeated event is dropped, not counted twice).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple

from projections.authority import Parties, case_refusal
from projections.common import (
    NO_CONSENTS,
    Rejected,
    consent_problem,
    fold_by_key,
    grant_consent,
    replaced,
    seen_id,
    withdraw_consent,
)
from projections.erasure import anonymous_id, client_key_id
from schemas import Event

__all__ = ["COLUMNS", "RELEVANT", "CaseRow", "FoldResult", "Rejected", "evolve", "fold"]

RELEVANT = frozenset(
    {
        "CaseOpened",
        "CaseClosed",
        "CaseManagerAssigned",
        "NeedsAssessed",
        "CaseHandedOver",
        "CasePaused",
        "CaseResumed",
        "ConsentGranted",
        "ConsentWithdrawn",
        "CaseErased",
    }
)


class CaseRow(NamedTuple):
    """A row of ``caseload_cases``; field names are its column names.

    A named tuple: built straight from a database record, copied cheaply with ``_replace``, and sent
    to COPY as it is. List fields are never changed in place (a change makes a new list).
    """

    case_id: str
    agency: str  # responsible agency now: the opener, then whoever it was handed over to
    district: str
    status: str  # open | closed
    opened_at: datetime
    closed_at: datetime | None = None
    closure_reason: str | None = None
    opened_by: str | None = None
    target_group: str | None = None
    access_route: str | None = None
    case_manager_ref: str | None = None
    manager_agency: str | None = None
    assigned_at: datetime | None = None
    first_assigned_at: datetime | None = None
    lebenslagen: list[str] = []  # noqa: RUF012 - never mutated
    priorities: list[str] = []  # noqa: RUF012
    paused_since: datetime | None = None
    pauses: int = 0
    handovers: int = 0
    handed_over_at: datetime | None = None
    consents: str = NO_CONSENTS
    seen: list[int] = []  # noqa: RUF012
    client_key_id: str | None = None  # the client's key (sealed pseudonym); finds the case for `kim erase`


COLUMNS: tuple[str, ...] = CaseRow._fields


def _seen(row: CaseRow, sid: int | None) -> list[int]:
    return row.seen if sid is None else [*row.seen, sid]


def evolve(row: CaseRow | None, event: Event) -> CaseRow | None:
    """The case after ``event``; raises ``Rejected`` when the event contradicts the case's history."""
    kind = event.event_type
    if kind not in RELEVANT:
        return row
    payload = event.payload
    case_id = payload["case_id"]
    at = event.occurred_at
    sid = seen_id(event)
    if row is not None and sid is not None and sid in row.seen:
        return row  # the same event delivered again
    if kind == "CaseErased":  # projections/erasure.py: the row stays, anonymous, and keeps counting
        if row is None or row.case_id != case_id:
            return row  # nothing to erase (never applied, or erased earlier in this batch)
        return replaced(
            row, case_id=anonymous_id(event), client_key_id=None, case_manager_ref=None, consents=NO_CONSENTS, seen=[]
        )
    if row is not None and row.case_id != case_id:
        raise Rejected(f"case {case_id} was erased")
    if kind == "CaseOpened":
        if row is not None:
            raise Rejected(f"case {case_id} was already opened at {row.opened_at.isoformat()}")
        return CaseRow(
            case_id=case_id,
            agency=event.source_agency,
            district=payload["district"],
            status="open",
            opened_at=at,
            opened_by=event.source_agency,
            target_group=payload["target_group"],
            access_route=payload["access_route"],
            seen=[] if sid is None else [sid],
            client_key_id=client_key_id(payload),
        )
    if row is None:
        raise Rejected(f"case {case_id} was never opened")
    refused = case_refusal(kind, event.source_agency, case_id, Parties(row.agency, row.manager_agency), payload)
    if refused:
        raise Rejected(refused)
    seen = _seen(row, sid)
    if kind == "ConsentWithdrawn":  # a client may withdraw consent after the case is closed
        return replaced(row, consents=withdraw_consent(row.consents, case_id, payload["consent_id"], at), seen=seen)
    if row.status == "closed":
        raise Rejected(f"case {case_id} is already closed")
    if kind == "CaseClosed":
        return replaced(
            row, status="closed", closed_at=at, closure_reason=payload["reason"], paused_since=None, seen=seen
        )
    if kind == "CaseManagerAssigned":
        return replaced(
            row,
            case_manager_ref=payload["case_manager_ref"],
            manager_agency=payload["agency"],
            assigned_at=at,
            first_assigned_at=row.first_assigned_at or at,
            seen=seen,
        )
    if kind == "NeedsAssessed":
        needs = payload["needs"]
        return replaced(
            row,
            lebenslagen=[n["lebenslage"] for n in needs],
            priorities=[n["priority"] for n in needs],
            seen=seen,
        )
    if kind == "CaseHandedOver":
        problem = consent_problem(row.consents, payload["consent_id"], payload["to_agency"], at)
        if problem:
            raise Rejected(f"hand-over of case {case_id} to {payload['to_agency']} refused: {problem}")
        return replaced(row, agency=payload["to_agency"], handovers=row.handovers + 1, handed_over_at=at, seen=seen)
    if kind == "CasePaused":
        if row.paused_since is not None:
            raise Rejected(f"case {case_id} is already paused")
        return replaced(row, paused_since=at, pauses=row.pauses + 1, seen=seen)
    if kind == "CaseResumed":
        if row.paused_since is None:
            raise Rejected(f"case {case_id} is not paused")
        return replaced(row, paused_since=None, seen=seen)
    # ConsentGranted
    return replaced(row, consents=grant_consent(row.consents, case_id, payload), seen=seen)


@dataclass(frozen=True)
class FoldResult:
    changed: dict[str, CaseRow]
    rejected: list[tuple[int, str]]


def fold(rows: Mapping[str, CaseRow], events: Iterable[Event]) -> FoldResult:
    """Apply events in order to the known rows; return the rows that changed and (index, reason) rejects."""
    changed: dict[str, CaseRow] = {}
    rejected = fold_by_key(
        dict(rows), events, RELEVANT, "case_id", evolve, lambda key, _, new: changed.update({key: new})
    )
    return FoldResult(changed, rejected)
