"""A yes/no domain-rule check compiled once per event type: the stream side's fast path.

``rules.rule_errors`` runs every rule of a type as a function that builds a list, and ``_identifiers``
and ``_no_duplicates`` walk every payload item, for every event of a projection rebuild. Nearly every
event passes, so ``schemas.domain.domain_errors`` first asks this check; only an event it does not pass is judged again
by the rules, which name each problem. ``passes(envelope, payload)`` is true only if the rules would
return ``[]`` without raising (a hypothesis test holds the two to that, and to exact agreement on
schema-valid events).

Each check is Python source generated from the fields of every catalog version of its type (as
``rules._rules_of`` picks rules) and compiled once: ids and refs are checked by name, deadlines only
those of the type, lists and kim.immigration only where the type has them. Anything the source did not
foresee — an unknown type or field, a list where no list belongs — is answered "no" (or raises), and
the full rules decide as before.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from datetime import UTC, timedelta
from typing import Any

import schemas.rules as rules
from schemas.catalog import load_catalog

Passes = Callable[[dict[str, Any], dict[str, Any]], bool]

ONE_DAY = timedelta(days=1)
# An id recurs in every event of its case or application: each string is judged once (a rebuild judged 240,000
# ids of 150,000 events, ~10% of its time). Not a string (unhashable): the check raises and the rules decide.
_valid_id = functools.lru_cache(maxsize=1 << 16)(rules.valid_id)
# The rules mirrored below. A rule added to rules.RULES is not: its types get no fast check until it is.
MIRRORED = frozenset(
    {
        rules._envelope_type,
        rules._recorded_after_it_happened,
        rules._not_before_the_network,
        rules._immigration_offices,
        rules._identifiers,
        rules._two_agencies,
        rules._deadlines,
        rules._appointment,
        rules._names_at_least_one,
        rules._no_duplicates,
    }
)


def compile_passes(event_type: str) -> Passes:
    """The fast check of ``event_type``; one that never passes where ``passes_source`` has none."""
    source = passes_source(event_type)
    if source is None:
        return _never
    namespace = {
        "KNOWN": frozenset(f["name"] for fields in _versions(event_type) for f in fields),
        "CLOCK_SKEW": rules.CLOCK_SKEW,
        "EARLIEST": rules.EARLIEST_EVENT_TIME,
        "OFFICES": rules.IMMIGRATION_OFFICES,
        "pseudonym": rules.PSEUDONYM.fullmatch,
        "valid_id": _valid_id,
        "event_date": rules.event_date,
        "UTC": UTC,
        "ONE_DAY": ONE_DAY,
    }
    exec(compile(source, f"<fast rules of {event_type}>", "exec"), namespace)
    return namespace["passes"]


def passes_source(event_type: str) -> str | None:
    """The Python source of the check, readable in one place; ``None`` for a type the catalog does not know
    or one with a rule not mirrored here."""
    versions = _versions(event_type)
    chosen = set(rules._rules_of(event_type))
    if not versions or not chosen <= MIRRORED:
        return None
    fields = {f["name"] for fields in versions for f in fields}
    arrays = {f["name"] for fields in versions for f in fields if '"array"' in json.dumps(f["type"])}
    lines = [
        "def passes(e, p):",
        "    if not p.keys() <= KNOWN:  # a field no version has: the rules look at every field",
        "        return False",
        f"    if not e['event_type'] == {event_type!r}:",
        "        return False",
        "    if not e['occurred_at'] <= e['recorded_at'] + CLOCK_SKEW:",
        "        return False",
        "    if not e['occurred_at'] >= EARLIEST:",
        "        return False",
    ]
    if rules._immigration_offices in chosen:
        if event_type in rules.PLATFORM_EVENTS:  # `kim erase` publishes as the platform; read as the rules do
            lines.append("    e['source_agency']")
        else:
            lines += ["    if e['source_agency'] not in OFFICES:", "        return False"]
    checked = set(arrays)  # fields whose test below is False or raises for a list (the rules count every list)
    for name in sorted(fields):
        # The rules skip a value that is not a string. None (or absent) is skipped here too; any other
        # value makes the test true or raise, and the rules decide. A valid id is never empty and has no
        # whitespace, so ``valid_id`` alone says what the three id rules say together.
        if name.endswith("_ref"):
            bad = "v is not None and not pseudonym(v)"
        elif name.endswith("_id"):
            bad = "v is not None and not valid_id(v)"
        else:
            continue
        checked.add(name)
        lines += [f"    v = p.get({name!r})", f"    if {bad}:", "        return False"]
    if rules._two_agencies in chosen:
        lines += [
            "    if 'from_agency' in p:",
            "        f = p['from_agency']",
            "        if p['to_agency'] == f or f != e['source_agency']:",
            "            return False",
        ]
    deadlines = [name for name in rules.DEADLINES if name in fields]
    if rules._deadlines in chosen and deadlines:
        # The day in Berlin is the UTC day or the next: a deadline after the UTC day needs no time zone.
        lines += [
            "    o = e['occurred_at']",
            "    after = o.date() if o.tzinfo is UTC else event_date(o) - ONE_DAY",
        ]
        for name in deadlines:
            checked.add(name)
            lines += [
                f"    d = p.get({name!r})",
                "    if d is not None and not d > after and d < event_date(o):",
                "        return False",
            ]
    if rules._appointment in chosen:
        checked.add("appointment_at")
        lines += [
            "    a = p.get('appointment_at')",
            "    if a is not None and not a >= e['occurred_at']:",
            "        return False",
        ]
    must_name = (
        {name for name in rules.MUST_NAME_ONE if name in fields} if rules._names_at_least_one in chosen else set()
    )
    duplicates = arrays if rules._no_duplicates in chosen else set()
    for name in sorted(must_name | duplicates):
        distinct = "{n['lebenslage'] for n in v}" if name == "needs" else "set(v)"
        tests = ["v == []"] if name in must_name else []
        tests += [f"isinstance(v, list) and len({distinct}) < len(v)"] if name in duplicates else []
        lines += [f"    v = p.get({name!r})", f"    if {' or '.join(tests)}:", "        return False"]
    if rules._no_duplicates in chosen:
        for name in sorted(fields - checked):
            lines += [f"    if isinstance(p.get({name!r}), list):", "        return False"]
    lines.append("    return True")
    return "\n".join(lines) + "\n"


def _versions(event_type: str) -> list[list[dict[str, Any]]]:
    """The payload fields of each catalog version of the type."""
    return [s.payload_schema["fields"] for s in load_catalog().schemas if s.event_type == event_type]


def _never(_envelope: dict[str, Any], _payload: dict[str, Any]) -> bool:
    return False
