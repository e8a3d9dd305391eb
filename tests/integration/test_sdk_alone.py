"""The Python SDK installs alone: a partner's venv holds its distribution (clients/python) and what publishing
needs — no faust, asyncpg, aiohttp or the platform's own packages — and publishes through the real broker with
the agency's own login and signing key, and a projection counts the event.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import venv
from pathlib import Path

import pytest

from cli.catchup import wait_caught_up
from infra.client_keys import ClientKeyStore
from streams.sdk import EventDraft, Publisher
from tests.integration.conftest import REPO, Lane
from tests.integration.helpers import read_all, run_kim
from tests.integration.test_agency_auth import credentials

pytestmark = pytest.mark.integration

SDK = REPO / "clients" / "python"
SCRIPT = Path(__file__).parent / "partner_scripts" / "close_own_case.py"
PLATFORM_ONLY = ("faust", "asyncpg", "aiohttp", "plotly", "infra", "projections", "cli", "web", "simulation")


def run(*args: str | Path, timeout: float = 600, **options: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(a) for a in args], capture_output=True, text=True, timeout=timeout, **options)


def partner_venv(where: Path) -> Path:
    """An empty venv with only the SDK's distribution installed from the checkout; its python."""
    venv.EnvBuilder(with_pip=True).create(where)
    python = where / "bin" / "python"
    installed = run(python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", SDK)
    assert installed.returncode == 0, f"pip install clients/python failed:\n{installed.stdout[-3000:]}"
    assert installed.stderr == "" or "error" not in installed.stderr.lower(), installed.stderr[-3000:]
    return python


def test_the_sdk_installs_alone_and_publishes_as_the_agency(lane: Lane, tmp_path: Path) -> None:
    python = partner_venv(tmp_path / "partner")
    probe = (
        "import importlib.util, json, sys; "
        "print(json.dumps({m: importlib.util.find_spec(m) is not None for m in sys.argv[1:]}))"
    )
    found = json.loads(run(python, "-c", probe, "streams.sdk", "schemas", *PLATFORM_ONLY, cwd=tmp_path).stdout)
    assert found == {"streams.sdk": True, "schemas": True, **dict.fromkeys(PLATFORM_ONLY, False)}, found
    requirements = run(python, "-m", "pip", "list", "--format=json", cwd=tmp_path)
    names = {p["name"].lower() for p in json.loads(requirements.stdout)}
    assert {"kim-partner-sdk", "aiokafka", "fastavro", "cryptography"} <= names
    assert not names & {"faust-streaming", "asyncpg", "aiohttp", "plotly"}, names

    added = run_kim(lane, "agency", "add", "JUGENDMIGRATIONSDIENST", timeout=300)
    assert added.returncode == 0, added.stderr
    creds = credentials(added.stdout)
    case_id = "DO-SA-1"

    async def open_for_the_agency() -> None:  # CaseOpened comes through the platform, which seals the client
        async with (
            ClientKeyStore(lane.database_url, lane.secrets) as keys,
            Publisher(
                lane.kafka,
                "JUGENDMIGRATIONSDIENST",
                signing_key=lane.platform_key,
                topic_prefix=lane.prefix,
                client_keys=keys,
            ) as platform,
        ):
            payload = {"case_id": case_id, "client_ref": "P-5a1d0e", "district": "EVING", "access_route": "SELF"}
            await platform.publish(
                EventDraft("CaseOpened", {**payload, "target_group": "NEWCOMER", "rechtskreise": ["SGB_II"]})
            )

    asyncio.run(open_for_the_agency())
    env = {
        "PATH": "/usr/bin:/bin",
        "KIM_KAFKA_BOOTSTRAP": lane.bootstrap,
        "KIM_AGENCY_USERNAME": creds["Kafka username"],
        "KIM_AGENCY_PASSWORD": creds["Kafka password"],
        "KIM_AGENCY_SIGNING_KEY": creds["signing key"],
        "KIM_KAFKA_CA_FILE": creds["Kafka CA file"],
        "KIM_AGENCY": "JUGENDMIGRATIONSDIENST",
        "KIM_CASE_ID": case_id,
        "KIM_TOPIC_PREFIX": lane.prefix,
    }
    ran = run(python, SCRIPT, cwd=tmp_path, env=env, timeout=120)  # cwd outside the checkout: nothing of it imported
    assert ran.returncode == 0, ran.stderr[-3000:]
    published = json.loads(ran.stdout.strip().splitlines()[-1])
    assert published["topic"] == lane.topic("kim.cases")
    assert published["refused"] is not None and "cannot seal the client's pseudonym" in published["refused"]

    worker = lane.worker("caseload")
    target = {(published["topic"], published["partition"]): published["offset"] + 1}
    asyncio.run(wait_caught_up(lane.database_url, "caseload", target, 120, still_running=worker.alive))
    rows = asyncio.run(
        lane.fetch("SELECT status, closure_reason, agency FROM caseload_cases WHERE case_id = $1", case_id)
    )
    assert [tuple(r) for r in rows] == [("closed", "GOALS_ACHIEVED", "JUGENDMIGRATIONSDIENST")]
    assert asyncio.run(read_all(lane, "kim.dlq")) == []
