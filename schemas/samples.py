"""One valid, realistic payload per event type, for tests, demos and simulations.

All samples tell one (invented) story, so ids line up across types and topics: a long-tolerated
client in Innenstadt-Nord, working part-time with a Jobcenter top-up, comes to KIM case management
through a referral. Residence law is urgent: the goal is a residence permit for sustainable
integration (§ 25b AufenthG), which needs spoken German at A2 and a mostly secured livelihood — so
the case manager refers the client to a language course provider, and the immigration office asks
for passport, proof of income and language certificate. The declined referral (``…-R2``) and the
abandoned goal (``…-G2``) are a second referral and goal of the same case.

Dates are counted from the event's day, so every sample passes the deadline rules for the
``occurred_at`` it is given (default ``SAMPLE_AT``).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from schemas.event import Event
from schemas.rules import LOCAL_TIME, event_date
from schemas.sealing import ERASURES, KeyRing

SAMPLE_AT = datetime(2025, 3, 10, 9, 30, tzinfo=UTC)
CASE_ID = "DO-2025-004711"
CLIENT_REF = "P-7f3a9c2e41b8"
CASE_MANAGER_REF = "CM-DO-017"
CONSENT_ID = f"{CASE_ID}-C1"
GOAL_ID = f"{CASE_ID}-G1"
REFERRAL_ID = f"{CASE_ID}-R1"
APPLICATION_ID = "ABH-2025-018342"
ERASURE_ID = "ER-2026-0001"
# The samples' client key: public, for samples and tests only. Real keys live in `client_keys`.
SAMPLE_KEYS = KeyRing()
SAMPLE_KEYS.add(CLIENT_REF, "k-sample0000000000000000000000000", bytes(range(32)))
SAMPLE_NONCE = bytes(12)

CASE_MANAGEMENT = "KIM_CASE_MANAGEMENT"
COURSE_PROVIDER = "INTEGRATIONSKURSTRAEGER"
IMMIGRATION_OFFICE = "AUSLAENDERBEHOERDE"
PLATFORM_AGENCY = "KOMMUNALES_INTEGRATIONSZENTRUM"  # the agency `kim erase` publishes as (it runs the platform)

_CASE = {"case_id": CASE_ID}
_APPLICATION = {"application_id": APPLICATION_ID}
_DOCUMENTS = ["PASSPORT", "PROOF_OF_INCOME", "LANGUAGE_CERTIFICATE"]


def _payloads(day: date) -> dict[str, Callable[[], dict[str, Any]]]:
    def days(n: int) -> date:
        return day + timedelta(days=n)

    return {
        "CaseOpened": lambda: {
            **_CASE,
            "client_ref": CLIENT_REF,
            "district": "INNENSTADT_NORD",
            "access_route": "REFERRAL",
            "target_group": "LONG_RESIDENT",
            "rechtskreise": ["SGB_II", "AUFENTHG"],
        },
        "ConsentGranted": lambda: {
            **_CASE,
            "consent_id": CONSENT_ID,
            "recipients": [IMMIGRATION_OFFICE, "JOBCENTER", COURSE_PROVIDER],
            "data_categories": [
                "IDENTITY_AND_CONTACT",
                "RESIDENCE_STATUS",
                "LANGUAGE_SKILLS",
                "EMPLOYMENT",
                "CASE_PLAN",
            ],
            "valid_until": days(365),
        },
        "ConsentWithdrawn": lambda: {**_CASE, "consent_id": CONSENT_ID},
        "CaseManagerAssigned": lambda: {**_CASE, "case_manager_ref": CASE_MANAGER_REF, "agency": CASE_MANAGEMENT},
        "NeedsAssessed": lambda: {
            **_CASE,
            "needs": [
                {"lebenslage": "RESIDENCE_LAW", "priority": "URGENT"},
                {"lebenslage": "LANGUAGE", "priority": "HIGH"},
                {"lebenslage": "WORK", "priority": "NORMAL"},
                {"lebenslage": "HOUSING", "priority": "NORMAL"},
            ],
        },
        "GoalAgreed": lambda: {**_CASE, "goal_id": GOAL_ID, "lebenslage": "RESIDENCE_LAW", "target_date": days(180)},
        "GoalAchieved": lambda: {**_CASE, "goal_id": GOAL_ID},
        "GoalAbandoned": lambda: {**_CASE, "goal_id": f"{CASE_ID}-G2", "reason": "REPLACED_BY_NEW_GOAL"},
        "ReferralIssued": lambda: {
            **_CASE,
            "referral_id": REFERRAL_ID,
            "from_agency": CASE_MANAGEMENT,
            "to_agency": COURSE_PROVIDER,
            "lebenslage": "LANGUAGE",
            "due_by": days(14),
            "consent_id": CONSENT_ID,
        },
        "ReferralAccepted": lambda: {**_CASE, "referral_id": REFERRAL_ID},
        "ReferralDeclined": lambda: {**_CASE, "referral_id": f"{CASE_ID}-R2", "reason": "NO_CAPACITY"},
        "ReferralCompleted": lambda: {**_CASE, "referral_id": REFERRAL_ID, "outcome": "NEED_MET"},
        "CaseHandedOver": lambda: {
            **_CASE,
            "from_agency": CASE_MANAGEMENT,
            "to_agency": "JOBCENTER",
            "consent_id": CONSENT_ID,
        },
        "CasePaused": lambda: {
            **_CASE,
            "reason": "WAITING_FOR_DECISION",
            "resume_by": days(42),
            "expected_resume_on": days(56),
        },
        "CaseResumed": lambda: dict(_CASE),
        "CaseClosed": lambda: {**_CASE, "reason": "HANDED_OVER_TO_REGELSYSTEM"},
        "ApplicationFiled": lambda: {
            **_APPLICATION,
            "client_ref": CLIENT_REF,
            "procedure": "AUFENTHG_25B",
            "channel": "IN_PERSON",
            "case_id": CASE_ID,
        },
        "DocumentsRequested": lambda: {**_APPLICATION, "documents": list(_DOCUMENTS), "due_by": days(28)},
        "DocumentsReceived": lambda: {**_APPLICATION, "documents": list(_DOCUMENTS)},
        "ApplicationCompleted": lambda: dict(_APPLICATION),
        "AppointmentScheduled": lambda: {
            **_APPLICATION,
            "appointment_at": datetime.combine(days(21), time(10, 0), LOCAL_TIME).astimezone(UTC),
        },
        "DecisionIssued": lambda: {**_APPLICATION, "outcome": "GRANTED"},
        "PermitHandedOver": lambda: {**_APPLICATION, "valid_until": days(730)},  # § 25b: at most two years
        "ApplicationWithdrawn": lambda: {**_APPLICATION, "reason": "OTHER_PROCEDURE_CHOSEN"},
        "CaseErased": lambda: {**_CASE, "erasure_id": ERASURE_ID},
        "ApplicationErased": lambda: {**_APPLICATION, "erasure_id": ERASURE_ID},
    }


EVENT_TYPES: tuple[str, ...] = tuple(_payloads(SAMPLE_AT.date()))
_ANSWERED_BY_RECEIVER = frozenset({"ReferralAccepted", "ReferralDeclined", "ReferralCompleted"})


def _publisher(event_type: str, payload: dict[str, Any]) -> str:
    """Who publishes the sample: the referring agency issues a referral, the receiving one answers it."""
    if event_type in ERASURES:
        return PLATFORM_AGENCY
    if "application_id" in payload:
        return IMMIGRATION_OFFICE
    return COURSE_PROVIDER if event_type in _ANSWERED_BY_RECEIVER else CASE_MANAGEMENT


SOURCE_AGENCY: dict[str, str] = {t: _publisher(t, make()) for t, make in _payloads(SAMPLE_AT.date()).items()}


def sample_payload(event_type: str, at: datetime = SAMPLE_AT) -> dict[str, Any]:
    """A fresh valid payload of ``event_type`` for an event that occurs at ``at``."""
    payloads = _payloads(event_date(at))
    if event_type not in payloads:
        raise KeyError(f"no sample for {event_type!r}; samples exist for: {', '.join(sorted(payloads))}")
    return payloads[event_type]()


def sample_envelope(event_type: str, at: datetime = SAMPLE_AT) -> dict[str, Any]:
    """An envelope from the sample's publisher; the event id is derived from type and time (repeatable)."""
    event_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"kim:sample:{event_type}:{at.isoformat()}"))
    return {
        "event_id": event_id,
        "event_type": event_type,
        "occurred_at": at,
        "recorded_at": at,
        "source_agency": SOURCE_AGENCY[event_type],
        "correlation_id": event_id,
        "causation_id": None,
    }


def sample_event(event_type: str, at: datetime = SAMPLE_AT) -> Event:
    """A complete valid event as it goes on the log: ``Codec().encode(e.event_type, e.envelope, e.payload)``
    succeeds. CaseOpened and ApplicationFiled carry the client sealed with ``SAMPLE_KEYS`` (``sample_payload``
    is what a partner sends: the pseudonym in clear)."""
    payload = SAMPLE_KEYS.seal_payload(event_type, sample_payload(event_type, at), nonce=SAMPLE_NONCE)
    return Event(event_type, sample_envelope(event_type, at), payload)
