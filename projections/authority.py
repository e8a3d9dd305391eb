"""Who may say what about which case: one rule table, applied by every fold and by the gate before publishing.

An agency that can publish at all (its login, its signing key) may still act only on cases it has a part in.
The parts a case knows of, from its own history:

- the **holder**: the agency that opened the case, or the one it was last handed over to;
- the **case manager's agency**: the agency of the case manager last assigned;
- the **receivers**: the agencies that accepted a referral of the case.

The table (``WHO``, part of the contract: ``schemas/publishers.py``) says, per event type, which of them may
publish it. A case-management agency (``CASE_MANAGEMENT``) may also take a case that has no case manager yet, by
assigning one of its own staff — how the KIM case management, the migration counselling services and the
Jobcenter's case management pick up a case a partner opened. Answers to a referral are its receiver's (the
referrals fold checks that with the referral), erasures the platform's (``authenticity``), and an application's
events the office that filed it.

Pure, no I/O: the caseload, referrals, backlog and outcomes folds and the case gate before publishing
(``streams/usecases/case_gate.py``) all ask ``case_refusal`` / ``answer_refusal`` / ``application_refusal`` with
the parties they keep, so the same event is refused everywhere with the same reason.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, NamedTuple

from schemas.publishers import CASE_MANAGEMENT, WHO

# Checked elsewhere: the opening creates the parts, an answer is judged with its referral, an erasure by its signer.
_NOT_HERE = frozenset(
    {"CaseOpened", "ApplicationFiled", "ReferralAccepted", "ReferralDeclined", "ReferralCompleted"}
    | {"CaseErased", "ApplicationErased"}
)


class Parties(NamedTuple):
    """The agencies a case knows of, as a fold keeps them."""

    holder: str | None
    manager: str | None = None
    receivers: tuple[str, ...] = ()


def case_refusal(
    event_type: str, publisher: str, case_id: str, parties: Parties, payload: dict[str, Any]
) -> str | None:
    """Why ``publisher`` may not publish this event about the case, or None when it may."""
    if event_type in _NOT_HERE or event_type not in WHO:
        return None
    if parties.holder is None:  # a row from before the read model kept parties (migration 0133 found no opener):
        return None  # not judged until a rebuild derives them from the log
    allowed = {a for a in (parties.holder, parties.manager) if a is not None}
    if publisher in allowed:
        return None
    if event_type == "ReferralIssued" and publisher in parties.receivers:
        return None
    if (
        event_type == "CaseManagerAssigned"
        and parties.manager is None
        and publisher in CASE_MANAGEMENT
        and payload.get("agency") == publisher
    ):
        return None
    return _refused(event_type, publisher, f"case {case_id}", allowed | _receivers(event_type, parties.receivers))


def answer_refusal(event_type: str, publisher: str, case_id: str, referral_id: str, to_agency: str) -> str | None:
    """Why ``publisher`` may not answer the referral (sent to ``to_agency``), or None when it may."""
    if publisher == to_agency:
        return None
    return _refused(event_type, publisher, f"referral {referral_id} of case {case_id}", {to_agency})


def application_refusal(event_type: str, publisher: str, application_id: str, office: str | None) -> str | None:
    """Why ``publisher`` may not publish this event about the application, or None when it may."""
    if event_type in _NOT_HERE or event_type not in WHO or office is None or publisher == office:
        return None
    return _refused(event_type, publisher, f"application {application_id}", {office})


def _receivers(event_type: str, receivers: Iterable[str]) -> set[str]:
    return set(receivers) if event_type == "ReferralIssued" else set()


def _refused(event_type: str, publisher: str, what: str, allowed: set[str]) -> str:
    named = ", ".join(sorted(allowed)) or "nobody yet"
    return f"{publisher} has no part in {what}: {event_type} is published by {WHO[event_type]} ({named})"


def with_receiver(parties: Parties, agency: str) -> Parties:
    """The parties once ``agency`` accepted a referral of the case."""
    if agency in parties.receivers:
        return parties
    return parties._replace(receivers=(*parties.receivers, agency))
