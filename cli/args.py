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


def add_services(parser: argparse.ArgumentParser, verb: str) -> None:
    """The optional services `kim up`, `kim down` and `kim restart` act on (none named: every one)."""
    from infra.services import SERVICES

    parser.add_argument(
        "services",
        nargs="*",
        type=_service,
        metavar="SERVICE",
        help=f"{verb} only these, in any order: {', '.join(SERVICES)} (none named: everything)",
    )


def _service(text: str) -> str:
    """One of the services (argparse's ``choices`` cannot be combined with ``nargs="*"`` and no value)."""
    from infra.services import SERVICES

    if text not in SERVICES:
        raise argparse.ArgumentTypeError(f"{text!r} is not a service: name {', '.join(SERVICES)}")
    return text
