"""The caseload fold: pure, no I/O. ``evolve(row, event) -> row`` per case, ``fold`` for a batch."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime

from schemas import Event

RELEVANT = frozenset({"CaseOpened", "CaseClosed"})


@dataclass(frozen=True, slots=True)
class CaseRow:
    case_id: str
    agency: str
    district: str
    status: str
    opened_at: datetime
    closed_at: datetime | None = None
    closure_reason: str | None = None


class Rejected(Exception):
    """The event contradicts the case's history; it is dead-lettered, never applied."""


def evolve(row: CaseRow | None, event: Event) -> CaseRow | None:
    payload = event.payload
    if event.event_type == "CaseOpened":
        if row is not None:
            raise Rejected(f"case {payload['case_id']} was already opened at {row.opened_at.isoformat()}")
        return CaseRow(
            case_id=payload["case_id"],
            agency=event.source_agency,
            district=payload["district"],
            status="open",
            opened_at=event.occurred_at,
        )
    if event.event_type == "CaseClosed":
        if row is None:
            raise Rejected(f"case {payload['case_id']} was never opened")
        if row.status == "closed":
            raise Rejected(f"case {payload['case_id']} is already closed")
        return replace(row, status="closed", closed_at=event.occurred_at, closure_reason=payload["reason"])
    return row


@dataclass(frozen=True)
class FoldResult:
    changed: dict[str, CaseRow]
    rejected: list[tuple[int, str]]


def fold(rows: Mapping[str, CaseRow], events: Iterable[Event]) -> FoldResult:
    """Apply events in order to the known rows; return the rows that changed and (index, reason) rejects."""
    state: dict[str, CaseRow | None] = dict(rows)
    changed: dict[str, CaseRow] = {}
    rejected: list[tuple[int, str]] = []
    for index, event in enumerate(events):
        if event.event_type not in RELEVANT:
            continue
        case_id = event.payload["case_id"]
        try:
            new = evolve(state.get(case_id), event)
        except Rejected as why:
            rejected.append((index, str(why)))
            continue
        if new is not None and new != state.get(case_id):
            state[case_id] = new
            changed[case_id] = new
    return FoldResult(changed, rejected)
