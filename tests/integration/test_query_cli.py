"""`kim query` as a user runs it: the three questions answered, in each format, with suppression."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from collections.abc import Iterator

import pytest

from infra.settings import Settings
from tests.integration.analytics_lane import AS_OF, analytics_lane
from tests.integration.conftest import REPO, Lane

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def filled(base_settings: Settings) -> Iterator[Lane]:
    yield from analytics_lane(base_settings)


def kim(lane: Lane, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "cli.main", "query", *args],
        env={**lane.env(), **(env or {})},
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_which_district_waits_longest(filled: Lane):
    done = kim(filled, "caseloads", "--as-of", AS_OF.isoformat(), "--format", "json")
    assert done.returncode == 0, done.stderr
    rows = json.loads(done.stdout)["rows"]
    assert rows[0]["group_key"] == "INNENSTADT_NORD"  # the arrival district (docs/domain.md)
    assert rows[-1]["group_key"] == "ALL"
    for row in rows:
        assert row["waiting_suppressed"] == (row["waiting"] is None)
        assert row["waiting"] is None or not 1 <= row["waiting"] <= 4
    table = kim(filled, "caseloads", "--as-of", AS_OF.isoformat())
    assert table.stdout.splitlines()[3].startswith("Innenstadt-Nord")


def test_slowest_acceptance_pair_as_csv(filled: Lane):
    done = kim(filled, "referrals", "--format", "csv", "--from", "2025-01-01", "--to", "2025-12-31")
    assert done.returncode == 0, done.stderr
    rows = list(csv.DictReader(io.StringIO(done.stdout)))
    medians = [float(r["median_days_to_accept"]) for r in rows if r["median_days_to_accept"] and "ALL" not in (
        r["from_agency"], r["to_agency"])]  # fmt: skip
    assert medians == sorted(medians, reverse=True) and medians
    for row in rows:
        for column in ("issued", "accepted", "declined", "completed", "open"):
            assert (row[column] == "") == (row[f"{column}_suppressed"] == "true")


def test_25b_older_than_180_days(filled: Lane):
    done = kim(filled, "backlog", "--procedure", "§25b", "--as-of", AS_OF.isoformat(), "--format", "json")
    assert done.returncode == 0, done.stderr
    rows = {r["procedure"]: r for r in json.loads(done.stdout)["rows"]}
    assert set(rows) == {"AUFENTHG_25B", "ALL"}
    row = rows["AUFENTHG_25B"]
    assert "age_over_180" in row and "over_180_cleared_by" in row and "cleared_by" in row


def test_filters_and_mistakes(filled: Lane):
    one = kim(filled, "caseloads", "--district", "innenstadt-nord", "--as-of", AS_OF.isoformat(), "--format", "json")
    keys = [r["group_key"] for r in json.loads(one.stdout)["rows"]]
    assert keys == ["INNENSTADT_NORD", "ALL"]
    bad = kim(filled, "caseloads", "--district", "Nord")
    assert bad.returncode == 2 and "unknown district 'Nord'" in bad.stderr
    low = kim(filled, "caseloads", env={"KIM_SMALL_CELL_MAX": "2"})
    assert low.returncode == 1 and low.stderr.startswith("error: KIM_SMALL_CELL_MAX=2 is below 4")


def test_a_higher_threshold_hides_more(filled: Lane):
    done = kim(filled, "caseloads", "--as-of", AS_OF.isoformat(), "--format", "json", env={"KIM_SMALL_CELL_MAX": "20"})
    body = json.loads(done.stdout)
    assert body["small_cell_max"] == 20
    for row in body["rows"]:
        for column in ("open_cases", "waiting"):
            assert row[column] is None or not 1 <= row[column] <= 20
