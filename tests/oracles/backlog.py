"""Reference backlog: per application, keep the events that fit the ones kept before, derive its
state timeline from the kept list, and count everything with plain Python."""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from schemas import Event
from tests.oracles.common import (
    anonymous,
    bucket,
    by_key,
    day_end,
    days_between,
    id64,
    monday,
    percentile,
    sealed_key_id,
    walk,
)

TYPES = frozenset(
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
STATE_OF = {
    "ApplicationFiled": "received",
    "DocumentsRequested": "waiting_for_documents",
    "ApplicationCompleted": "complete",
    "AppointmentScheduled": "appointment_scheduled",
    "ApplicationWithdrawn": "withdrawn",
    "PermitHandedOver": "permit_handed_over",
}


def _state_after(event: Event) -> str | None:
    if event.event_type == "DecisionIssued":
        return "granted" if event.payload["outcome"] == "GRANTED" else "refused"
    return STATE_OF.get(event.event_type)


def _timeline(history: list[Event]) -> list[tuple[str, datetime]]:
    """(state, since) for every change of state."""
    timeline: list[tuple[str, datetime]] = []
    for event in history:
        state = _state_after(event)
        if timeline and timeline[-1][0] == "granted" and event.event_type == "AppointmentScheduled":
            continue  # an appointment to hand over the permit
        if state is not None and (not timeline or timeline[-1][0] != state):
            timeline.append((state, event.occurred_at))
    return timeline


def _refusal(history: list[Event], event: Event) -> str | None:
    if event.event_type == "ApplicationFiled":
        return "filed twice" if history else None
    if not history:
        return "never filed"
    if event.source_agency != history[0].source_agency:
        return "not the office that filed it"
    state = _timeline(history)[-1][0]
    if event.event_type == "PermitHandedOver":
        return None if state == "granted" else "no grant"
    if event.event_type == "AppointmentScheduled" and state == "granted":
        return None
    return None if state in PENDING else "not pending"


def _row(history: list[Event]) -> tuple[dict, list[dict]]:
    filing = history[0]
    timeline = _timeline(history)
    last = lambda *types: [e for e in history if e.event_type in types][-1:]  # noqa: E731
    requested = [e for e in history if e.event_type == "DocumentsRequested"]
    outstanding: set[str] = set()
    for e in history:
        if e.event_type == "DocumentsRequested":
            outstanding |= set(e.payload["documents"])
        elif e.event_type == "DocumentsReceived":
            outstanding -= set(e.payload["documents"])
    decision, withdrawal, permit = last("DecisionIssued"), last("ApplicationWithdrawn"), last("PermitHandedOver")
    completed, appointment = last("ApplicationCompleted"), last("AppointmentScheduled")
    ended = decision or withdrawal
    pending_spans = []
    for n, (state, since) in enumerate(timeline):
        if state in PENDING:
            until = timeline[n + 1][1] if n + 1 < len(timeline) else None
            pending_spans.append((state, since, until))
    spans = [
        {
            "application_id": filing.payload["application_id"],
            "seq": i + 1,
            "procedure": filing.payload["procedure"],
            "state": state,
            "valid_from": since,
            "valid_to": until,
        }
        for i, (state, since, until) in enumerate(pending_spans)
    ]
    row = {
        "application_id": filing.payload["application_id"],
        "office": filing.source_agency,
        "procedure": filing.payload["procedure"],
        "channel": filing.payload["channel"],
        "case_id": filing.payload.get("case_id"),
        "filed_at": filing.occurred_at,
        "state": timeline[-1][0],
        "state_since": timeline[-1][1],
        "seq": len(pending_spans),
        "documents_requested": len(requested),
        "documents_outstanding": sorted(outstanding),
        "completed_at": completed[0].occurred_at if completed else None,
        "appointment_at": appointment[0].payload["appointment_at"] if appointment else None,
        "decided_at": decision[0].occurred_at if decision else None,
        "decision": decision[0].payload["outcome"] if decision else None,
        "left_at": ended[0].occurred_at if ended else None,
        "withdrawal_reason": withdrawal[0].payload["reason"] if withdrawal else None,
        "permit_handed_over_at": permit[0].occurred_at if permit else None,
        "permit_valid_until": permit[0].payload.get("valid_until") if permit else None,
        "seen": [id64(e) for e in history],
        "client_key_id": sealed_key_id(filing.payload),
    }
    return row, spans


@dataclass
class Backlog:
    rows: dict[str, dict]
    intervals: dict[tuple[str, int], dict]
    rejected: list[Event]


def replay(events: list[Event]) -> Backlog:
    rows, intervals, rejected = {}, {}, []
    for stream in by_key(events, "application_id", TYPES).values():
        kept, erasure, refused = walk(stream, _refusal)
        rejected += refused
        if kept:
            row, spans = _row(kept)
            if erasure is not None:  # erased: an anonymous id, no link to a case or a client
                token = anonymous(erasure)
                row = {**row, "application_id": token, "case_id": None, "client_key_id": None, "seen": []}
                spans = [{**s, "application_id": token} for s in spans]
            rows[row["application_id"]] = row
            intervals.update({(s["application_id"], s["seq"]): s for s in spans})
    return Backlog(rows, intervals, rejected)


AGE_BOUNDS = [(30, "0-30"), (90, "31-90"), (180, "91-180")]


def views(backlog: Backlog, as_of: datetime, weeks: int, days: tuple[date, date]) -> dict[str, dict]:
    apps = list(backlog.rows.values())
    spans = list(backlog.intervals.values())
    out: dict[str, dict] = {}

    now: dict[tuple, list] = {}
    for a in apps:
        if a["state"] in PENDING:
            key = (a["procedure"], a["state"])
            count, oldest = now.get(key, (0, a["filed_at"]))
            now[key] = (count + 1, min(oldest, a["filed_at"]))
    out["backlog_by_procedure_state"] = now

    def live(s: dict, at: datetime) -> bool:
        return s["valid_from"] <= at and (s["valid_to"] is None or s["valid_to"] > at)

    at_as_of = [s for s in spans if live(s, as_of)]
    out["backlog_at"] = {k: (v,) for k, v in Counter((s["procedure"], s["state"]) for s in at_as_of).items()}

    filed = {a["application_id"]: a["filed_at"] for a in apps}
    ages = Counter(
        (s["procedure"], bucket(int(days_between(filed[s["application_id"]], as_of) // 1), AGE_BOUNDS, ">180"))
        for s in at_as_of
    )
    out["backlog_age_buckets"] = {k: (v,) for k, v in ages.items()}

    flow: dict[tuple, list[int]] = defaultdict(lambda: [0, 0, 0, 0, 0])
    for a in apps:
        flow[(monday(a["filed_at"]), a["procedure"])][0] += 1
        if a["left_at"] is not None:
            f = flow[(monday(a["left_at"]), a["procedure"])]
            f[1] += 1
            f[2] += a["decision"] == "GRANTED"
            f[3] += a["decision"] == "REFUSED"
            f[4] += a["withdrawal_reason"] is not None
    out["backlog_flow_weekly"] = {k: tuple(v) for k, v in flow.items()}

    def processing(group: list[dict]) -> tuple:
        took = [days_between(a["filed_at"], a["decided_at"]) for a in group]
        return (len(took), percentile(took, 0.5), percentile(took, 0.9))

    decided = [a for a in apps if a["decided_at"] is not None]
    per_procedure: dict[str, list[dict]] = defaultdict(list)
    for a in decided:
        per_procedure[a["procedure"]].append(a)
    out["backlog_processing_time"] = {p: processing(g) for p, g in per_procedure.items()}
    out["backlog_processing_time"]["ALL"] = processing(decided)

    window_start = as_of - timedelta(days=7 * weeks)
    clear = {}
    for procedure in {a["procedure"] for a in apps if a["filed_at"] <= as_of}:
        pending = sum(1 for s in at_as_of if s["procedure"] == procedure)
        gone = sum(
            1 for a in apps if a["procedure"] == procedure and a["left_at"] and window_start < a["left_at"] <= as_of
        )
        clear[procedure] = (pending, gone)
    clear["ALL"] = (sum(p for p, _ in clear.values()), sum(g for _, g in clear.values()))
    out["backlog_weeks_to_clear"] = {
        k: (p, g, g / weeks, p / (g / weeks) if g else None) for k, (p, g) in clear.items()
    }

    daily = Counter()
    day = days[0]
    while day <= days[1]:
        end = day_end(day)
        for s in spans:
            if s["valid_from"] < end and (s["valid_to"] is None or s["valid_to"] >= end):
                daily[(day, s["procedure"], s["state"])] += 1
        day += timedelta(days=1)
    out["backlog_daily"] = {k: (v,) for k, v in daily.items()}
    return out
