"""The `kim` command as a user runs it: demo, status, up/down twice, and one clear line for every mistake."""

from __future__ import annotations

import subprocess
import sys

import pytest

from infra.bringup import worker_pid
from infra.processes import find_pids
from infra.settings import load_settings
from tests.integration.conftest import REPO, Lane

pytestmark = pytest.mark.integration


def kim(*args: str, env: dict[str, str], timeout: float = 180) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cli.main", *args],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_demo_on_existing_services_prints_the_caseload_then_status_shows_lag_0_and_down_stops_the_worker(
    lane: Lane,
) -> None:
    env = lane.env()  # KIM_KAFKA_BOOTSTRAP and KIM_DATABASE_URL set: the "use existing services" mode
    demo = kim("demo", "--cases", "120", "--seed", "5", env=env)
    assert demo.returncode == 0, demo.stderr
    assert "caught up (lag 0)" in demo.stdout
    assert "Caseload per agency" in demo.stdout and "Caseload per Stadtbezirk" in demo.stdout
    totals = [line.split() for line in demo.stdout.splitlines() if line.startswith("total")]
    caseload_totals = totals[:2]  # the caseload tables come first; referrals and backlog follow
    assert all(t[2] == "120" for t in caseload_totals), demo.stdout  # opened = 120 in both tables
    assert "Pending applications at 2026-01-01" in demo.stdout and "Referrals from -> to agency" in demo.stdout
    assert "Traceback" not in demo.stdout + demo.stderr

    status = kim("status", env=env)
    assert status.returncode == 0, status.stdout + status.stderr
    line = next(x for x in status.stdout.splitlines() if x.startswith("caseload"))
    assert line.split()[1:5] == ["up", "(pid", line.split()[3], "0"], status.stdout  # worker up, lag 0
    cases_line = next(x for x in status.stdout.splitlines() if x.startswith(lane.topic("kim.cases")))
    assert cases_line.split()[1] == "6"

    assert kim("up", env=env).returncode == 0  # twice is harmless: still one worker
    settings = load_settings(env)
    pid = worker_pid(settings, "caseload")
    assert pid is not None
    assert find_pids(["cli.worker", "caseload"]).count(pid) == 1

    for _ in range(2):  # twice is harmless
        down = kim("down", env=env)
        assert down.returncode == 0, down.stderr
    assert worker_pid(settings, "caseload") is None
    assert pid not in find_pids(["cli.worker"])


@pytest.mark.parametrize(
    ("env", "args", "expected"),
    [
        ({"KIM_KAFKA_PORT": "abc"}, ["status"], "error: KIM_KAFKA_PORT='abc' is not a TCP port"),
        (
            {"KIM_DATABASE_URL": "mysql://db/kim"},
            ["up"],
            "error: KIM_DATABASE_URL='mysql://db/kim' is not a PostgreSQL URL",
        ),
        ({"KIM_KAFKA_BOOTSTRAP": "127.0.0.1:9"}, ["up"], "error: cannot reach Kafka at 127.0.0.1:9"),
        (
            {"KIM_DATABASE_URL": "postgresql://kim:secret@127.0.0.1:9/kim"},
            ["up"],
            "error: cannot reach PostgreSQL at 127.0.0.1:9",
        ),
    ],
)
def test_user_mistakes_and_missing_services_get_one_clear_line(
    lane: Lane, env: dict[str, str], args: list[str], expected: str
) -> None:
    result = kim(*args, env={**lane.env(), **env}, timeout=60)
    assert result.returncode == 1
    assert result.stderr.startswith(expected), result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert "secret" not in result.stderr


def test_status_reports_a_missing_broker_without_a_traceback(lane: Lane) -> None:
    result = kim("status", env={**lane.env(), "KIM_KAFKA_BOOTSTRAP": "127.0.0.1:9"}, timeout=60)
    assert result.returncode == 1
    assert "broker    127.0.0.1:9 (external): DOWN" in result.stdout
    assert "Traceback" not in result.stdout + result.stderr
