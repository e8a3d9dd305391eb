"""Builders of decoded events for pure tests (no broker, no database)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from schemas import Event
from schemas.sealing import ClientKey, seal

T0 = datetime(2025, 1, 6, 9, 0, tzinfo=UTC)
TEST_KEY = ClientKey.of("k-" + "0" * 32, bytes(32))  # one key for every test client: the log shape, not secrecy


def envelope(event_type: str, agency: str, at: datetime) -> dict:
    event_id = str(uuid.uuid4())
    return {
        "event_id": event_id,
        "event_type": event_type,
        "occurred_at": at,
        "recorded_at": at,
        "source_agency": agency,
        "correlation_id": event_id,
        "causation_id": None,
    }


def opened(
    case_id: str, agency: str = "JOBCENTER", district: str = "EVING", day: int = 0, *, sealed: bool = True
) -> Event:
    """``sealed``: the pseudonym as the platform's publishers put it on the log since v2; else in clear (v1, drafts)."""
    client_ref = f"P-{case_id:0>6}"
    client = {"client_ref": None, "client_sealed": seal(TEST_KEY, client_ref, "CaseOpened", case_id)}
    payload = {
        "case_id": case_id,
        **(client if sealed else {"client_ref": client_ref}),
        "district": district,
        "access_route": "SELF",
        "target_group": "NEWCOMER",
        "rechtskreise": ["SGB_II"],
    }
    return Event("CaseOpened", envelope("CaseOpened", agency, T0 + timedelta(days=day)), payload)


def closed(case_id: str, reason: str = "GOALS_ACHIEVED", day: int = 1, agency: str = "JOBCENTER") -> Event:
    """Closed by ``agency``: by default the one ``opened`` lets hold the case."""
    return Event(
        "CaseClosed",
        envelope("CaseClosed", agency, T0 + timedelta(days=day)),
        {"case_id": case_id, "reason": reason},
    )
