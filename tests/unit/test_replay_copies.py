"""The pure parts of `kim replay`: copy names, time windows, the SQL it runs, summaries and arguments."""

from __future__ import annotations

import argparse
import asyncio
from datetime import UTC, datetime

import pytest

from cli.replay import make_request
from infra.errors import SetupError
from projections import copies
from projections.records import Applied, LogRecord
from projections.registry import PROJECTIONS
from schemas import Event


def test_every_projection_declares_the_tables_it_writes() -> None:
    assert copies.tables_of(PROJECTIONS["caseload"]) == ("caseload_cases",)
    assert set(copies.tables_of(PROJECTIONS["referrals"])) == {"referral_cases", "referrals"}
    assert set(copies.tables_of(PROJECTIONS["backlog"])) == {"backlog_applications", "backlog_intervals"}


def test_a_day_means_its_start_or_its_end_in_dortmund() -> None:
    end = copies.parse_moment("2025-03-31", end_of_day=True)
    assert end.astimezone(UTC) == datetime(2025, 3, 31, 21, 59, 59, 999999, tzinfo=UTC)  # CEST, UTC+2
    start = copies.parse_moment("2025-01-15", end_of_day=False)
    assert start.astimezone(UTC) == datetime(2025, 1, 14, 23, 0, tzinfo=UTC)  # CET, UTC+1
    assert copies.parse_moment("2025-03-31T12:00Z", end_of_day=True) == datetime(2025, 3, 31, 12, tzinfo=UTC)
    with pytest.raises(ValueError, match="not an ISO day or time"):
        copies.parse_moment("31.03.2025", end_of_day=True)


def test_as_of_copies_are_named_by_their_dortmund_day() -> None:
    until = copies.parse_moment("2025-03-31", end_of_day=True)
    assert copies.as_of_schema("caseload", until) == "asof_caseload_2025_03_31"
    since = copies.parse_moment("2025-01-01", end_of_day=False)
    assert copies.as_of_schema("backlog", until, since) == "asof_backlog_2025_03_31_from_2025_01_01"
    assert copies.rebuild_schema("referrals") == "rebuild_referrals"


@pytest.mark.parametrize("bad", ["public", "analytics", "pg_x", "Caps", "1abc", "a-b", "a;drop", "x" * 64, ""])
def test_copy_names_are_plain_identifiers_not_platform_schemas(bad: str) -> None:
    with pytest.raises(ValueError):
        copies.check_name(bad)
    assert copies.check_name("march_caseloads") == "march_caseloads"


def test_the_window_includes_both_ends() -> None:
    a, b = datetime(2025, 1, 1, tzinfo=UTC), datetime(2025, 2, 1, tzinfo=UTC)
    assert copies.within(a, a, b) and copies.within(b, a, b) and copies.within(a, None, None)
    assert not copies.within(datetime(2025, 2, 1, 0, 0, 1, tzinfo=UTC), a, b)
    assert not copies.within(datetime(2024, 12, 31, tzinfo=UTC), a, None)


class _Recorder:
    name = "caseload"
    source_topics = ("kim.cases",)
    tables = ("caseload_cases",)
    event_types = frozenset({"CaseOpened"})

    def __init__(self) -> None:
        self.seen: list[datetime] = []

    async def apply(self, conn, batch):
        self.seen += [a.event.occurred_at for a in batch]
        return []


def _applied(at: datetime) -> Applied:
    event = Event("CaseOpened", {"occurred_at": at, "source_agency": "JOBCENTER"}, {"case_id": "c"})
    return Applied(LogRecord("kim.cases", 0, 0, None, b""), event)


def test_a_window_hands_only_its_events_to_the_projection() -> None:
    inner = _Recorder()
    window = copies.Window(inner, datetime(2025, 1, 1, tzinfo=UTC), datetime(2025, 1, 31, tzinfo=UTC))
    assert window.name == "caseload" and window.event_types == inner.event_types
    days = [datetime(2024, 12, 31, tzinfo=UTC), datetime(2025, 1, 1, tzinfo=UTC), datetime(2025, 2, 1, tzinfo=UTC)]
    assert asyncio.run(window.apply(None, [_applied(d) for d in days])) == []
    assert inner.seen == [datetime(2025, 1, 1, tzinfo=UTC)]


def test_verify_compares_per_key_checksums_and_swap_deletes_then_inserts() -> None:
    sql = copies.verify_sql("rebuild_b", "backlog_intervals", ["application_id", "seq"])
    assert "FULL JOIN c ON l.application_id = c.application_id AND l.seq = c.seq" in sql
    assert "md5(t::text)" in sql and "public.backlog_intervals" in sql and "rebuild_b.backlog_intervals" in sql
    delete, insert = copies.swap_sql("rebuild_b", "backlog_intervals", ["application_id", "seq"])
    assert delete == "DELETE FROM public.backlog_intervals"  # never TRUNCATE: not MVCC-safe for readers
    assert insert.endswith("SELECT application_id, seq FROM rebuild_b.backlog_intervals")


def test_the_summary_names_what_differs() -> None:
    same = copies.TableCheck("caseload_cases", 10, 10, 0, 0, 0)
    other = copies.TableCheck("referrals", 10, 9, 2, 1, 3, ("only live c1/r1",))
    assert same.equal and not other.equal
    text = copies.describe([same, other])
    assert "caseload_cases: live 10 rows, copy 10 rows, every row equal" in text
    assert "only in live 2, only in copy 1, differing 3 (e.g. only live c1/r1)" in text


def _args(**kw: object) -> argparse.Namespace:
    base = {"projection": "caseload", "until": None, "since": None, "name": None, "accept_differences": False}
    return argparse.Namespace(**{**base, "batch": 5000, **kw})


def test_arguments_make_a_rebuild_or_an_as_of_copy() -> None:
    rebuild = make_request(_args(), "p.")
    assert (rebuild.schema, rebuild.kind, rebuild.topic_prefix) == ("rebuild_caseload", "rebuild", "p.")
    copy = make_request(_args(until="2025-03-31", name="march"), "")
    assert (copy.schema, copy.kind, copy.since) == ("march", "as_of", None)


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"projection": "nope"}, "unknown projection 'nope'"),
        ({"projection": None}, "name the projection"),
        ({"since": "2025-01-01"}, "need --until"),
        ({"until": "2025-01-01", "since": "2025-02-01"}, "is after --until"),
        ({"until": "2025-01-01", "name": "public"}, "not a usable copy name"),
        ({"until": "2025-01-01", "name": "rebuild_x"}, "kept for rebuilds"),
        ({"until": "soon"}, "not an ISO day or time"),
        ({"batch": 0}, "--batch"),
    ],
)
def test_argument_mistakes_are_one_clear_error(kw: dict, message: str) -> None:
    with pytest.raises(SetupError, match=message):
        make_request(_args(**kw), "")
