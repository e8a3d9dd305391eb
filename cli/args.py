"""Argument types the commands share, each failing with one line that shows a valid example."""

from __future__ import annotations

import argparse
from datetime import datetime


def iso_time(text: str) -> datetime:
    """An ISO date or time; without a zone it is local time (``2026-11-01``, ``2026-11-01T08:00+01:00``)."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an ISO date or time (e.g. 2026-11-01T08:00+01:00)") from None
    return moment if moment.tzinfo else moment.astimezone()
