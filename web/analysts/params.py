"""Query parameters of the read API: parsed and checked, every mistake a 400 naming the parameter."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from analytics.queries import DISTRICTS, Filters
from schemas.labels import AGENCY, PROCEDURES
from web.problems import Problem

MAX_LIMIT = 1000
DEFAULT_LIMIT = 100
MAX_WAIT = 30.0
OFFSET = re.compile(r"([^:,]+):([0-9]+):([0-9]+)")  # topic:partition:offset, as the gateway and the SDK return them


@dataclass(frozen=True)
class Param:
    name: str
    schema: dict[str, Any]
    description: str


PARAMS: dict[str, Param] = {
    p.name: p
    for p in (
        Param("as_of", {"type": "string", "format": "date-time"}, "the moment for ages and backlogs (default: now)"),
        Param("district", {"type": "string", "enum": list(DISTRICTS)}, "only this Stadtbezirk"),
        Param("agency", {"type": "string", "enum": sorted(AGENCY)}, "only this agency (referrals: the referring one)"),
        Param("to_agency", {"type": "string", "enum": sorted(AGENCY)}, "referrals: only to this agency"),
        Param("procedure", {"type": "string", "enum": list(PROCEDURES)}, "only this procedure"),
        Param(
            "from",
            {"type": "string", "format": "date"},
            "first day of the period (YYYY-MM-DD); not after `to` (else 400)",
        ),
        Param("to", {"type": "string", "format": "date"}, "last day of the period (YYYY-MM-DD)"),
        Param("weeks", {"type": "integer", "minimum": 1, "maximum": 104, "default": 8}, "weeks of throughput"),
        Param(
            "group_by",
            {"type": "string", "enum": ["district", "agency"], "default": "district"},
            "rows: per Stadtbezirk or agency (caseloads: the responsible one; returns: the one holding the case at "
            "its end)",
        ),
        Param(
            "goals_by",
            {"type": "string", "enum": ["lebenslage", "agency", "district"], "default": "lebenslage"},
            "outcomes: rows per Lebenslage, agreeing agency or Stadtbezirk",
        ),
        Param("limit", {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": DEFAULT_LIMIT}, "page size"),
        Param("offset", {"type": "integer", "minimum": 0, "default": 0}, "rows to skip"),
        Param("format", {"type": "string", "enum": ["json", "csv"], "default": "json"}, "or Accept: text/csv"),
        Param(
            "min_offsets",
            {"type": "string", "pattern": f"^{OFFSET.pattern}(,{OFFSET.pattern})*$"},
            "read-your-writes: topic:partition:offset,… (offsets as the gateway or SDK returned them); the answer "
            "waits until the projection has applied them (or header X-KIM-Min-Offsets). Only the topics the "
            "endpoint's projection reads (another topic: 400)",
        ),
        Param(
            "wait",
            {"type": "number", "minimum": 0, "maximum": MAX_WAIT, "default": 5},
            "seconds to wait for min_offsets",
        ),
    )
}
COMMON = ("limit", "offset", "format", "min_offsets", "wait")


@dataclass(frozen=True)
class Request:
    filters: Filters
    limit: int
    offset: int
    fmt: str
    min_offsets: dict[tuple[str, int], int]
    wait: float


def _bad(name: str, reason: str) -> Problem:
    return Problem(400, f"invalid parameter {name}: {reason}", [{"field": name, "reason": reason}])


def _int(name: str, text: str, low: int, high: int | None = None) -> int:
    try:
        value = int(text)
    except ValueError:
        raise _bad(name, f"{text!r} is not a whole number") from None
    if value < low or (high is not None and value > high):
        raise _bad(name, f"{value} is outside {low}..{high if high is not None else '∞'}")
    return value


def _day(name: str, text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise _bad(name, f"{text!r} is not a day like 2025-06-30") from None


def _moment(name: str, text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text.replace(" ", "+"))  # a '+' in a URL query arrives as a space
    except ValueError:
        raise _bad(name, f"{text!r} is not an ISO 8601 time like 2025-12-31T12:00:00+01:00") from None
    if moment.tzinfo is None:
        raise _bad(name, f"{text!r} has no time zone (add Z or +01:00)")
    return moment


def _enum(name: str, text: str) -> str:
    allowed = PARAMS[name].schema["enum"]
    if text not in allowed:
        raise _bad(name, f"{text!r} is not one of {', '.join(allowed)}")
    return text


def offsets_schema(topics: Iterable[str]) -> dict[str, Any]:
    """``min_offsets`` of an endpoint whose projection reads ``topics``: a topic it does not read is a 400, so the
    pattern names them (partitions and offsets in ASCII digits, as ``parse_offsets`` takes them)."""
    topic = "(?:" + "|".join(t.replace(".", r"\.") for t in sorted(topics)) + ")"
    item = f"{topic}:[0-9]+:[0-9]+"
    return {**PARAMS["min_offsets"].schema, "pattern": f"^{item}(,{item})*$"}


def parse_offsets(name: str, text: str) -> dict[tuple[str, int], int]:
    if not text:
        raise _bad(name, "is empty: leave it out, or give topic:partition:offset,…")
    wanted: dict[tuple[str, int], int] = {}
    for item in text.split(","):
        found = OFFSET.fullmatch(item)
        if found is None:
            raise _bad(name, f"{item!r} is not topic:partition:offset (partition and offset in digits 0-9)")
        key = (found[1], int(found[2]))
        wanted[key] = max(int(found[3]), wanted.get(key, 0))
    return wanted


def _grouping(q: Mapping[str, str], allowed: tuple[str, ...]) -> str:
    """The rows asked for: ``goals_by`` (outcomes) or ``group_by`` (the others); each endpoint allows one of them."""
    name = "goals_by" if "goals_by" in allowed else "group_by"
    return _enum(name, q[name]) if name in q else PARAMS[name].schema["default"]


def parse(query: Mapping[str, str], allowed: tuple[str, ...], header_offsets: str | None = None) -> Request:
    """The request's parameters; anything unknown to this endpoint, malformed or out of range is a 400."""
    for name in query:
        if name not in allowed and name not in COMMON:
            raise _bad(name, f"not a parameter of this endpoint (allowed: {', '.join((*allowed, *COMMON))})")
    q = dict(query)
    from_day = _day("from", q["from"]) if "from" in q else None
    to_day = _day("to", q["to"]) if "to" in q else None
    if from_day and to_day and from_day > to_day:
        raise _bad("from", f"{from_day} is after to={to_day}")
    filters = Filters(
        as_of=_moment("as_of", q["as_of"]) if "as_of" in q else None,
        district=_enum("district", q["district"]) if "district" in q else None,
        agency=_enum("agency", q["agency"]) if "agency" in q else None,
        to_agency=_enum("to_agency", q["to_agency"]) if "to_agency" in q else None,
        procedure=_enum("procedure", q["procedure"]) if "procedure" in q else None,
        from_day=from_day,
        to_day=to_day,
        weeks=_int("weeks", q["weeks"], 1, 104) if "weeks" in q else 8,
        group_by=_grouping(q, allowed),
    )
    offsets_text = q.get("min_offsets", header_offsets)
    wait = 5.0
    if "wait" in q:
        try:
            wait = float(q["wait"])
        except ValueError:
            raise _bad("wait", f"{q['wait']!r} is not a number of seconds") from None
        if not 0 <= wait <= MAX_WAIT:
            raise _bad("wait", f"{wait} is outside 0..{MAX_WAIT:g}")
    return Request(
        filters=filters,
        limit=_int("limit", q["limit"], 1, MAX_LIMIT) if "limit" in q else DEFAULT_LIMIT,
        offset=_int("offset", q["offset"], 0) if "offset" in q else 0,
        fmt=_enum("format", q["format"]) if "format" in q else "json",
        min_offsets=parse_offsets("min_offsets", offsets_text) if offsets_text is not None else {},
        wait=wait,
    )
