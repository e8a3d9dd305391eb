"""Domain rules that Avro cannot express, reported like validation.py: ``payload.to_agency: must differ …``.

Each rule sees one event whose envelope and payload already match their schema (``Codec.validate``
checks the schema first), so fields are present and typed. Rules that need history — does the
consent cover ``to_agency`` and is it still valid, is the referral still open — cannot be decided
from one event; they belong to the stream side, which knows the case. The stream side also checks these
rules again for every event it applies (``streams/runtime/judge.py``): a raw producer can bypass the SDK. So a
rule made stricter later also refuses old events on a replay — tighten one only with that in mind (a unit
test runs every stored sample of every published version through the stream-side checks).

Decisions:
- An agency speaks only for itself (docs/domain.md rule 3): a referral's or hand-over's ``from_agency``
  must be the publishing ``source_agency``. The field stays in the payload so that a referral reads
  completely on its own (from→to matrix) — the rule keeps the two from ever disagreeing.
- Only the immigration and naturalisation offices publish on ``kim.immigration``.
- Deadlines are calendar days in Dortmund: they are compared with ``occurred_at`` in Europe/Berlin,
  so an event at 23:30 UTC on 6 January counts as 7 January.
- Error messages never echo an identifier or pseudonym: if a name was put there by mistake, it must
  not spread into logs and dead-letter reasons.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo

from schemas.catalog import load_catalog
from schemas.topics import IMMIGRATION

Rule = Callable[[str, dict[str, Any], dict[str, Any]], list[str]]

LOCAL_TIME = ZoneInfo("Europe/Berlin")
# A pseudonym is a generated token: letters, digits, '_' and '-' only. Rejects what a name, an
# e-mail address, a postal address or a birth date typed by hand needs: spaces, '@', '.', ',', '/',
# umlauts. At least 6 characters so that a counter or initials cannot pass as one; at most 64 to
# keep it a token. A single word like "Yilmaz1" still passes: the pseudonymisation service, not
# this check, is the guarantee — the check catches the common slips.
PSEUDONYM = re.compile(r"[A-Za-z0-9_-]{6,64}")
PSEUDONYM_RULE = "must be a pseudonym: 6 to 64 of A-Z a-z 0-9 _ - (no names, e-mail addresses or spaces)"
WHITESPACE = re.compile(r"\s")  # the characters str.isspace() names, found in C rather than per character
# An id (`*_id`) is made by a system, never typed from a person's details: a prefix of 1 to 4 capital letters
# (DO, ABH, EBH, ER), then 1 to 6 parts of letters and digits joined by '-', 64 characters at most. A part of
# three or more letters needs a digit (a word — a name — does not pass), and no part or run of parts may form a
# calendar date (YYYY-MM-DD, DD-MM-YYYY, or eight digits YYYYMMDD / DDMMYYYY from 1900 to 2099). Like the
# pseudonym check, this refuses the common slips (`Mustermann_Max_1990-05-01`), not every encoding.
ID_FORMAT = re.compile(r"[A-Z]{1,4}(?:-[A-Za-z0-9]{1,32}){1,6}")
_WORD = re.compile(r"[A-Za-z]{3,}")
_DATE_RUN = re.compile(
    r"(?:^|-)(?:(?:19|20)\d\d-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12]\d|3[01])"
    r"|(?:0[1-9]|[12]\d|3[01])-(?:0[1-9]|1[0-2])-(?:19|20)\d\d)(?:-|$)"
)
_EIGHT_DIGITS = re.compile(
    r"(?:19|20)\d\d(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])|(?:0[1-9]|[12]\d|3[01])(?:0[1-9]|1[0-2])(?:19|20)\d\d"
)
ID_RULE = (
    "must be an id like DO-2025-004711: 1 to 4 capital letters, then parts of letters and digits joined by '-'"
    " (a part of three or more letters needs a digit); no names, dates or spaces"
)


def valid_id(value: str) -> bool:
    """Whether ``value`` has the shape of a system-made id (``ID_FORMAT``, no word, no date)."""
    if len(value) > 64 or not ID_FORMAT.fullmatch(value):
        return False
    parts = value.split("-")[1:]
    if any(_WORD.fullmatch(part) for part in parts):
        return False
    if any(len(part) == 8 and _EIGHT_DIGITS.fullmatch(part) for part in parts):
        return False
    return not _DATE_RUN.search(value[value.index("-") :])


DEADLINES = ("due_by", "target_date", "valid_until", "resume_by", "expected_resume_on")
MUST_NAME_ONE = ("needs", "documents", "recipients", "data_categories")
IMMIGRATION_OFFICES = ("AUSLAENDERBEHOERDE", "EINBUERGERUNGSBEHOERDE")
PLATFORM_EVENTS = ("CaseErased", "ApplicationErased")  # published by `kim erase` only (streams/runtime/authenticity.py)
CLOCK_SKEW = timedelta(minutes=5)
# No event of the network happened before this: KIM and its predecessors (the Integration Points of 2015) start
# later. An earlier occurred_at is a typo (the year 0044) or a forged date, and would become a projection's
# "last event time" or fall outside every period an analyst asks about.
EARLIEST_EVENT_TIME = datetime(2015, 1, 1, tzinfo=UTC)


def rule_errors(event_type: str, envelope: dict[str, Any], payload: dict[str, Any]) -> list[str]:
    """Every domain-rule violation of one schema-valid event, as ``path: reason`` strings: each rule asked.

    ``schemas.domain.domain_errors`` asks a compiled yes/no check first and comes here only when it says no.
    """
    rules = _RULES_OF.get(event_type) or _rules_of(event_type)
    return [error for rule in rules for error in rule(event_type, envelope, payload)]


def event_date(occurred_at: datetime) -> date:
    """The calendar day in Dortmund on which the event happened."""
    return occurred_at.astimezone(LOCAL_TIME).date()


def _envelope_type(event_type: str, envelope: dict[str, Any], _: dict[str, Any]) -> list[str]:
    """The envelope names the type the event is encoded as."""
    if envelope["event_type"] == event_type:
        return []
    return [f"envelope.event_type: must be {event_type!r}, the type the event is encoded as"]


def _recorded_after_it_happened(_: str, envelope: dict[str, Any], __: dict[str, Any]) -> list[str]:
    """`occurred_at` is not after `recorded_at` (5 minutes' clock skew allowed)."""
    if envelope["occurred_at"] <= envelope["recorded_at"] + CLOCK_SKEW:
        return []
    return ["envelope.occurred_at: must not be after recorded_at (an event is recorded after it happens)"]


def _not_before_the_network(_: str, envelope: dict[str, Any], __: dict[str, Any]) -> list[str]:
    """`occurred_at` is not before 2015-01-01, the earliest event time the network accepts."""
    if envelope["occurred_at"] >= EARLIEST_EVENT_TIME:
        return []
    return [
        f"envelope.occurred_at: must not be before {EARLIEST_EVENT_TIME.date().isoformat()}, the earliest event time "
        "the network accepts (a typo in the year?)"
    ]


def _identifiers(_: str, __: dict[str, Any], payload: dict[str, Any]) -> list[str]:
    """Ids (`*_id`) look made by a system, like `DO-2025-004711`: 1 to 4 capital letters, then parts of letters and
    digits joined by `-` (a part of three or more letters needs a digit), no date; refs (`*_ref`: client, case
    manager) look like pseudonyms."""
    errors = []
    for name, value in payload.items():
        if not isinstance(value, str):
            continue
        if name.endswith("_ref") and not PSEUDONYM.fullmatch(value):
            errors.append(f"payload.{name}: {PSEUDONYM_RULE}")
        elif name.endswith("_id") and not value:
            errors.append(f"payload.{name}: must not be empty")
        elif name.endswith("_id") and WHITESPACE.search(value):
            errors.append(f"payload.{name}: must not contain whitespace")
        elif name.endswith("_id") and not valid_id(value):
            errors.append(f"payload.{name}: {ID_RULE}")
    return errors


def _deadlines(_: str, envelope: dict[str, Any], payload: dict[str, Any]) -> list[str]:
    """`due_by`, `target_date`, `valid_until`, `resume_by`, `expected_resume_on` are not before the event's day
    (Europe/Berlin)."""
    named = [name for name in DEADLINES if payload.get(name) is not None]
    if not named:  # most events have none: no time-zone conversion
        return []
    day = event_date(envelope["occurred_at"])
    return [
        f"payload.{name}: {payload[name].isoformat()} is before the event's date {day.isoformat()}"
        for name in named
        if payload[name] < day
    ]


def _appointment(_: str, envelope: dict[str, Any], payload: dict[str, Any]) -> list[str]:
    """`appointment_at` is not before `occurred_at`."""
    at = payload.get("appointment_at")
    if at is None or at >= envelope["occurred_at"]:
        return []
    return ["payload.appointment_at: must not be before occurred_at (an appointment is scheduled ahead)"]


def _two_agencies(_: str, envelope: dict[str, Any], payload: dict[str, Any]) -> list[str]:
    """A referral or hand-over names two different agencies, and `from_agency` is the source agency."""
    if "from_agency" not in payload:
        return []
    errors = []
    if payload["to_agency"] == payload["from_agency"]:
        errors.append("payload.to_agency: must differ from from_agency")
    if payload["from_agency"] != envelope["source_agency"]:
        errors.append(
            f"payload.from_agency: must be the source agency {envelope['source_agency']} "
            "(an agency speaks only for itself)"
        )
    return errors


def _names_at_least_one(_: str, __: dict[str, Any], payload: dict[str, Any]) -> list[str]:
    """`needs`, `documents`, `recipients` and `data_categories` name at least one entry."""
    return [f"payload.{name}: must name at least one" for name in MUST_NAME_ONE if payload.get(name) == []]


def _no_duplicates(_: str, __: dict[str, Any], payload: dict[str, Any]) -> list[str]:
    """No list names an entry twice; `needs` has at most one entry per Lebenslage."""
    errors = []
    for name, value in payload.items():
        if not isinstance(value, list):
            continue
        if name == "needs":
            counts = Counter(need["lebenslage"] for need in value)
            errors += [f"payload.needs: Lebenslage {s} is assessed more than once" for s, n in counts.items() if n > 1]
        elif len(set(value)) < len(value):  # lists of enum symbols; counted only when one repeats
            counts = Counter(value)
            errors += [f"payload.{name}: {s} is listed more than once" for s, n in counts.items() if n > 1]
    return errors


def _immigration_offices(event_type: str, envelope: dict[str, Any], _: dict[str, Any]) -> list[str]:
    """Only AUSLAENDERBEHOERDE and EINBUERGERUNGSBEHOERDE publish on `kim.immigration` (and `kim erase`)."""
    if _topic_of().get(event_type) != IMMIGRATION or envelope["source_agency"] in IMMIGRATION_OFFICES:
        return []
    if event_type in PLATFORM_EVENTS:
        return []
    offices = " or ".join(IMMIGRATION_OFFICES)
    return [f"envelope.source_agency: {event_type} is published by the immigration offices only ({offices})"]


def known_type(event_type: str) -> bool:
    """Whether the catalog has this event type."""
    return event_type in _topic_of()


@cache
def _topic_of() -> dict[str, str]:
    """The topic of each event type (the stream side checks every event: a lookup, not a catalog scan)."""
    catalog = load_catalog()
    return {event_type: catalog.current(event_type).topic for event_type in catalog.event_types()}


# schemas/fast_rules.py mirrors every rule as one compiled yes/no check per type: change a rule, change it
# there too (tests/unit/test_fast_rules.py holds the two to the same answers).
RULES: tuple[Rule, ...] = (
    _envelope_type,
    _recorded_after_it_happened,
    _not_before_the_network,
    _immigration_offices,
    _identifiers,
    _two_agencies,
    _deadlines,
    _appointment,
    _names_at_least_one,
    _no_duplicates,
)


# What a rule needs to be able to find anything; a rule not named here runs for every type.
_NEEDS: dict[Rule, Callable[[set[str], bool, str | None], bool]] = {
    _immigration_offices: lambda fields, arrays, topic: topic == IMMIGRATION,
    _two_agencies: lambda fields, arrays, topic: "from_agency" in fields,
    _deadlines: lambda fields, arrays, topic: bool(fields.intersection(DEADLINES)),
    _appointment: lambda fields, arrays, topic: "appointment_at" in fields,
    _names_at_least_one: lambda fields, arrays, topic: bool(fields.intersection(MUST_NAME_ONE)),
    _no_duplicates: lambda fields, arrays, topic: arrays,
}
_RULES_OF: dict[str, tuple[Rule, ...]] = {}


def _rules_of(event_type: str) -> tuple[Rule, ...]:
    """The rules that can find something in an event of this type (by the fields of any of its versions).

    The stream side checks every event it applies, so rules that cannot apply are left out once per type
    rather than asked for every event. An unknown type gets every rule.
    """
    versions = [s for s in load_catalog().schemas if s.event_type == event_type]
    if not versions:
        return RULES
    fields = {f["name"] for s in versions for f in s.payload_schema["fields"]}
    arrays = any('"array"' in json.dumps(f["type"]) for s in versions for f in s.payload_schema["fields"])
    topic = _topic_of().get(event_type)
    rules = tuple(rule for rule in RULES if rule not in _NEEDS or _NEEDS[rule](fields, arrays, topic))
    _RULES_OF[event_type] = rules
    return rules
