"""The simulated calendar: seconds since local midnight of the first day, working days, event times in UTC.

Simulated time is an ``int`` of seconds since 00:00 Europe/Berlin on ``start``. Working days are
Monday to Friday without the public holidays of North Rhine-Westphalia; office hours are
``OFFICE_OPENS_H`` to ``OFFICE_CLOSES_H``. Converting to UTC uses each day's offset at noon (no
office work happens in the hour a clock change skips or repeats).
"""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from simulation.parameters import CHRISTMAS_BREAK, OFFICE_CLOSES_H, OFFICE_OPENS_H, SUMMER_BREAK

LOCAL = ZoneInfo("Europe/Berlin")
DAY = 86_400
HOUR = 3_600
OPENS = OFFICE_OPENS_H * HOUR
CLOSES = OFFICE_CLOSES_H * HOUR


def easter(year: int) -> date:
    """Easter Sunday (Gregorian calendar; the anonymous algorithm)."""
    a, b, c = year % 19, year // 100, year % 100
    d, e = divmod(b, 4)
    f = (b + 8) // 25
    g = (b - f + 1) // 3
    h = (19 * a + b - d - g + 15) % 30
    i, k = divmod(c, 4)
    m = (32 + 2 * e + 2 * i - h - k) % 7
    n = (a + 11 * h + 22 * m) // 451
    month, day = divmod(h + m - 7 * n + 114, 31)
    return date(year, month, day + 1)


def nrw_holidays(year: int) -> set[date]:
    """Public holidays in North Rhine-Westphalia."""
    sunday = easter(year)
    moving = (-2, 1, 39, 50, 60)  # Good Friday, Easter Monday, Ascension, Whit Monday, Corpus Christi
    fixed = ((1, 1), (5, 1), (10, 3), (11, 1), (12, 25), (12, 26))
    return {sunday + timedelta(days=n) for n in moving} | {date(year, m, d) for m, d in fixed}


def _in_break(day: date, first: tuple[int, int], last: tuple[int, int]) -> bool:
    md = (day.month, day.day)
    return first <= md <= last if first <= last else md >= first or md <= last


class Calendar:
    """Day tables for ``days`` simulated days (plus a margin for deadlines and appointments beyond the end)."""

    def __init__(self, start: date, days: int, margin: int = 800) -> None:
        self.start = start
        self.days = days
        self.end = days * DAY
        total = days + margin
        holidays: set[date] = set()
        for year in range(start.year, (start + timedelta(days=total)).year + 1):
            holidays |= nrw_holidays(year)
        dates = [start + timedelta(days=i) for i in range(total)]
        self.dates = dates
        self.working = [d.weekday() < 5 and d not in holidays for d in dates]
        self.day_of_year = [d.timetuple().tm_yday for d in dates]
        self.offset = [int(datetime.combine(d, time(12), LOCAL).utcoffset().total_seconds()) for d in dates]
        self.summer = [_in_break(d, *SUMMER_BREAK) for d in dates]
        self.christmas = [_in_break(d, *CHRISTMAS_BREAK) for d in dates]
        self._base = datetime(start.year, start.month, start.day, tzinfo=UTC)
        # the next working day on or after each day
        following = [0] * total
        nxt = total + 7
        for i in range(total - 1, -1, -1):
            if self.working[i]:
                nxt = i
            following[i] = nxt
        self._next_working = following

    def date_of(self, t: int) -> date:
        return self.dates[t // DAY]

    def utc(self, t: int) -> datetime:
        """The UTC instant of simulated time ``t``."""
        return self._base + timedelta(seconds=t - self.offset[t // DAY])

    def in_office_hours(self, t: int) -> bool:
        day, second = divmod(t, DAY)
        return self.working[day] and OPENS <= second < CLOSES

    def office(self, t: int, rng: random.Random) -> int:
        """``t`` if it falls in office hours, else a random moment on the morning of the next working day."""
        day, second = divmod(t, DAY)
        if self.working[day] and OPENS <= second < CLOSES:
            return t
        if second >= CLOSES or not self.working[day]:
            day += 1
        day = self._next_working[day]
        return day * DAY + OPENS + rng.randrange(4 * HOUR)

    def working_day_start(self, day: int) -> int:
        """Opening time of the first working day on or after ``day``."""
        return self._next_working[day] * DAY + OPENS
