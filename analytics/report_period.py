"""The period a steering report covers: a quarter, a year, a month, or two days — as Dortmund calendar days.

Pure. The label names the report's files (``kim-report-<label>.json``), so it is kept short and file-safe.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date

from schemas.errors import KimError

_QUARTER = re.compile(r"^(\d{4})-Q([1-4])$", re.IGNORECASE)
_YEAR = re.compile(r"^(\d{4})$")
_MONTH = re.compile(r"^(\d{4})-(\d{2})$")
EXAMPLES = "2025-Q4, 2025, 2025-03, or --from 2025-01-01 --to 2025-06-30"


class ReportInputError(KimError):
    """A period, moment or report file the user gave cannot be used; the message says how to fix it."""


@dataclass(frozen=True)
class Period:
    label: str
    from_day: date
    to_day: date  # inclusive


def parse_period(text: str) -> Period:
    """``2025-Q4``, ``2025`` or ``2025-03``."""
    text = text.strip()
    if found := _QUARTER.match(text):
        year, quarter = int(found[1]), int(found[2])
        first = 3 * quarter - 2
        return Period(f"{year}-Q{quarter}", date(year, first, 1), _month_end(year, first + 2))
    if found := _YEAR.match(text):
        year = int(found[1])
        if year >= 1:
            return Period(str(year), date(year, 1, 1), date(year, 12, 31))
    if (found := _MONTH.match(text)) and 1 <= int(found[2]) <= 12 and int(found[1]) >= 1:
        year, month = int(found[1]), int(found[2])
        return Period(f"{year}-{month:02d}", date(year, month, 1), _month_end(year, month))
    raise ReportInputError(f"--period {text!r} is not a period; use e.g. {EXAMPLES}")


def between(from_text: str, to_text: str) -> Period:
    """Two days, both inclusive."""
    from_day, to_day = _day(from_text, "--from"), _day(to_text, "--to")
    if from_day > to_day:
        raise ReportInputError(f"--from {from_day} is after --to {to_day}; give the earlier day first")
    return Period(f"{from_day}_{to_day}", from_day, to_day)


def choose(period: str | None, from_text: str | None, to_text: str | None) -> Period | None:
    """The period the options name (None: none named), refusing a half or double choice."""
    if period is not None and (from_text or to_text):
        raise ReportInputError("give either --period or --from/--to, not both")
    if period is not None:
        return parse_period(period)
    if from_text or to_text:
        if not (from_text and to_text):
            raise ReportInputError("--from and --to go together (e.g. --from 2025-01-01 --to 2025-06-30)")
        return between(from_text, to_text)
    return None


def _day(text: str, option: str) -> date:
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise ReportInputError(f"{option} {text!r} is not a day like 2025-01-01") from None


def _month_end(year: int, month: int) -> date:
    return date(year, month, calendar.monthrange(year, month)[1])
