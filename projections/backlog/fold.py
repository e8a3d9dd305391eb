"""The immigration-office backlog fold: pure, no I/O. ``evolve(row, event) -> row`` per application.

An application is *pending* from ApplicationFiled until a decision or a withdrawal. While pending
it is in one state: ``received`` (nothing asked yet), ``waiting_for_documents``, ``complete`` or
``appointment_scheduled`` — the last state-changing event decides. A grant ends the procedure with
PermitHandedOver (appointments to hand the permit over may come in between and change no state),
a refusal or a withdrawal ends it at once.

Each pending state is also kept as an interval in event time, ``(application, seq, state,
valid_from, valid_to)``, so the backlog on any past day can be counted (``backlog_daily``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import NamedTuple

from projections.authority import application_refusal
from projections.common import Rejected, fold_by_key, replaced, seen_id
from projections.erasure import anonymous_id, client_key_id
from schemas import Event

__all__ = [
    "APPLICATION_COLUMNS",
    "INTERVAL_COLUMNS",
    "PENDING",
    "RELEVANT",
    "ApplicationRow",
    "FoldResult",
    "IntervalRow",
    "Rejected",
    "evolve",
    "fold",
]

RELEVANT = frozenset(
    {
        "ApplicationFiled",
        "DocumentsRequested",
        "DocumentsReceived",
        "ApplicationCompleted",
        "AppointmentScheduled",
        "DecisionIssued",
        "PermitHandedOver",
        "ApplicationWithdrawn",
        "ApplicationErased",
    }
)
PENDING = ("received", "waiting_for_documents", "complete", "appointment_scheduled")
_PENDING = frozenset(PENDING)


class ApplicationRow(NamedTuple):
    """A row of ``backlog_applications``; field names are its column names."""

    application_id: str
    office: str
    procedure: str
    channel: str
    case_id: str | None
    filed_at: datetime
    state: str  # one of PENDING, or granted | refused | withdrawn | permit_handed_over
    state_since: datetime
    seq: int  # number of the latest pending-state interval
    documents_requested: int = 0
    documents_outstanding: list[str] = []  # noqa: RUF012 - never changed in place
    completed_at: datetime | None = None
    appointment_at: datetime | None = None
    decided_at: datetime | None = None
    decision: str | None = None
    left_at: datetime | None = None  # when it stopped being pending (decision or withdrawal)
    withdrawal_reason: str | None = None
    permit_handed_over_at: datetime | None = None
    permit_valid_until: date | None = None
    seen: list[int] = []  # noqa: RUF012
    client_key_id: str | None = None  # the client's key (sealed pseudonym); finds it for `kim erase`


class IntervalRow(NamedTuple):
    """A row of ``backlog_intervals``: one stretch of one pending state; ``valid_to`` None while it lasts."""

    application_id: str
    seq: int
    procedure: str
    state: str
    valid_from: datetime
    valid_to: datetime | None


APPLICATION_COLUMNS: tuple[str, ...] = ApplicationRow._fields
INTERVAL_COLUMNS: tuple[str, ...] = IntervalRow._fields


def _move(row: ApplicationRow, state: str, at: datetime, seen: list[int], **changes: object) -> ApplicationRow:
    if state == row.state:
        return replaced(row, seen=seen, **changes)
    seq = row.seq + 1 if state in _PENDING else row.seq
    return replaced(row, state=state, state_since=at, seq=seq, seen=seen, **changes)


def evolve(row: ApplicationRow | None, event: Event) -> ApplicationRow | None:
    """The application after ``event``; raises ``Rejected`` when the event contradicts its history."""
    kind = event.event_type
    if kind not in RELEVANT:
        return row
    payload = event.payload
    application_id = payload["application_id"]
    at = event.occurred_at
    sid = seen_id(event)
    if row is not None and sid is not None and sid in row.seen:
        return row  # the same event delivered again
    if kind == "ApplicationErased":  # projections/erasure.py: the row stays, anonymous, and keeps counting
        if row is None or row.application_id != application_id:
            return row  # nothing to erase (never applied, or erased earlier in this batch)
        return replaced(row, application_id=anonymous_id(event), case_id=None, client_key_id=None, seen=[])
    if row is not None and row.application_id != application_id:
        raise Rejected(f"application {application_id} was erased")
    if kind == "ApplicationFiled":
        if row is not None:
            raise Rejected(f"application {application_id} was already filed at {row.filed_at.isoformat()}")
        return ApplicationRow(
            application_id=application_id,
            office=event.source_agency,
            procedure=payload["procedure"],
            channel=payload["channel"],
            case_id=payload.get("case_id"),
            filed_at=at,
            state="received",
            state_since=at,
            seq=1,
            seen=[] if sid is None else [sid],
            client_key_id=client_key_id(payload),
        )
    if row is None:
        raise Rejected(f"application {application_id} was never filed")
    refused = application_refusal(kind, event.source_agency, application_id, row.office)
    if refused:
        raise Rejected(refused)
    seen = row.seen if sid is None else [*row.seen, sid]
    if kind == "PermitHandedOver":
        if row.state != "granted":
            why = "no grant was issued" if row.state in _PENDING else f"it is {row.state}"
            raise Rejected(f"no permit can be handed over for application {application_id}: {why}")
        return _move(
            row, "permit_handed_over", at, seen, permit_handed_over_at=at, permit_valid_until=payload.get("valid_until")
        )
    if kind == "AppointmentScheduled" and row.state == "granted":  # to hand the permit over
        return replaced(row, appointment_at=payload["appointment_at"], seen=seen)
    if row.state not in _PENDING:
        raise Rejected(f"application {application_id} is no longer pending ({row.state})")
    if kind == "DocumentsRequested":
        outstanding = sorted({*row.documents_outstanding, *payload["documents"]})
        return _move(
            row,
            "waiting_for_documents",
            at,
            seen,
            documents_requested=row.documents_requested + 1,
            documents_outstanding=outstanding,
        )
    if kind == "DocumentsReceived":
        received = set(payload["documents"])
        return replaced(
            row, documents_outstanding=[d for d in row.documents_outstanding if d not in received], seen=seen
        )
    if kind == "ApplicationCompleted":
        return _move(row, "complete", at, seen, completed_at=at)
    if kind == "AppointmentScheduled":
        return _move(row, "appointment_scheduled", at, seen, appointment_at=payload["appointment_at"])
    if kind == "DecisionIssued":
        decision = payload["outcome"]
        state = "granted" if decision == "GRANTED" else "refused"
        return _move(row, state, at, seen, decided_at=at, decision=decision, left_at=at)
    # ApplicationWithdrawn
    return _move(row, "withdrawn", at, seen, left_at=at, withdrawal_reason=payload["reason"])


def intervals(old: ApplicationRow | None, new: ApplicationRow) -> list[IntervalRow]:
    """The interval rows one step from ``old`` to ``new`` closes and opens."""
    if old is not None and old.state == new.state:
        return []
    out = []
    if old is not None and old.state in _PENDING:
        out.append(IntervalRow(old.application_id, old.seq, old.procedure, old.state, old.state_since, new.state_since))
    if new.state in _PENDING:
        out.append(IntervalRow(new.application_id, new.seq, new.procedure, new.state, new.state_since, None))
    return out


@dataclass(frozen=True)
class FoldResult:
    changed: dict[str, ApplicationRow]
    intervals: dict[tuple[str, int], IntervalRow]
    rejected: list[tuple[int, str]]


def fold(rows: Mapping[str, ApplicationRow], events: Iterable[Event]) -> FoldResult:
    """Apply events in order; return changed applications, changed intervals and (index, reason) rejects."""
    changed: dict[str, ApplicationRow] = {}
    spans: dict[tuple[str, int], IntervalRow] = {}

    def keep(application_id: str, old: ApplicationRow | None, new: ApplicationRow) -> None:
        changed[application_id] = new
        for span in intervals(old, new):
            spans[(span.application_id, span.seq)] = span

    rejected = fold_by_key(dict(rows), events, RELEVANT, "application_id", evolve, keep)
    return FoldResult(changed, spans, rejected)
