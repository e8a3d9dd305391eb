"""The TypeScript reference publisher (``clients/typescript``), installed from its lockfile by this test.

(a) ``npm ci`` and ``npm test``: the library's node:test suite reproduces every vector of ``schemas/vectors.json``
byte for byte (one test per vector) and checks its refusals. (b) Through the real broker and a real worker: an
agency made with ``kim agency add`` publishes one event with the TypeScript example, under its own Kafka login and
signing key, on a case the platform opened for it; the caseload worker applies it and nothing is dead-lettered.
"""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from infra.client_keys import ClientKeyStore
from projections.records import TopicPartition as TP
from schemas import Codec
from streams.sdk.publisher import EventDraft, Publisher
from tests.integration.conftest import REPO, Lane
from tests.integration.helpers import caught_up, read_all, run_kim
from tests.integration.test_agency_auth import credentials

pytestmark = pytest.mark.integration

CLIENT = REPO / "clients" / "typescript"
VECTORS_JSON = REPO / "schemas" / "vectors.json"
AGENCY = "MIGRATIONSBERATUNG_MBE"
CASE = "DO-2026-000777"
TAP_VECTOR = re.compile(r"^\s*ok \d+ - vector \d+ ", re.MULTILINE)


def tool(name: str) -> str:
    found = shutil.which(name)
    assert found is not None, f"{name} is missing: install Node.js 20 with npm (Debian: apt-get install nodejs npm)"
    return found


def tail(run: subprocess.CompletedProcess[str], lines: int = 60) -> str:
    return "\n".join((run.stdout + run.stderr).splitlines()[-lines:])


@pytest.fixture(scope="module")
def npm_test() -> subprocess.CompletedProcess[str]:
    """``npm ci`` exactly as locked (npm's cache makes a second run quick), then ``npm test`` (tsc, node:test, TAP)."""
    tool("node")
    npm = tool("npm")
    installed = subprocess.run(
        [npm, "ci", "--no-audit", "--no-fund"], cwd=CLIENT, capture_output=True, text=True, timeout=600
    )
    assert installed.returncode == 0, f"npm ci in {CLIENT} failed:\n{tail(installed)}"
    return subprocess.run([npm, "test"], cwd=CLIENT, capture_output=True, text=True, timeout=600)


def test_the_typescript_client_reproduces_every_vector(npm_test: subprocess.CompletedProcess[str]) -> None:
    assert npm_test.returncode == 0, f"npm test in {CLIENT} failed:\n{tail(npm_test)}"
    vectors = json.loads(VECTORS_JSON.read_text(encoding="utf-8"))["vectors"]
    passed = TAP_VECTOR.findall(npm_test.stdout)
    assert len(passed) == len(vectors), f"{len(passed)} vector tests passed, {len(vectors)} vectors:\n{tail(npm_test)}"
    assert re.search(r"^# fail 0$", npm_test.stdout, re.MULTILINE), tail(npm_test)
    refusals = re.findall(r"^\s*ok \d+ - (Case\w+|Application\w+) is refused", npm_test.stdout, re.MULTILINE)
    assert sorted(refusals) == ["ApplicationFiled", "CaseOpened"], tail(npm_test)


def test_an_agency_publishes_with_the_typescript_client_and_the_worker_applies_it(
    lane: Lane, npm_test: subprocess.CompletedProcess[str]
) -> None:
    assert npm_test.returncode == 0, f"npm test in {CLIENT} failed:\n{tail(npm_test)}"
    added = run_kim(lane, "agency", "add", AGENCY, timeout=300)
    assert added.returncode == 0, added.stderr
    creds = credentials(added.stdout)
    worker = lane.worker("caseload")
    try:
        opened = asyncio.run(open_case(lane))
        example = subprocess.run(
            [tool("node"), str(CLIENT / "dist" / "examples" / "publish_need.js")],
            cwd=CLIENT,
            env={
                "PATH": str(Path(tool("node")).parent),
                "KIM_KAFKA_BOOTSTRAP": lane.bootstrap,
                "KIM_AGENCY_USERNAME": creds["Kafka username"],
                "KIM_AGENCY_PASSWORD": creds["Kafka password"],
                "KIM_AGENCY_SIGNING_KEY": creds["signing key"],
                "KIM_KAFKA_CA_FILE": creds["Kafka CA file"],
                "KIM_TOPIC_PREFIX": lane.prefix,
                "KIM_CASE_ID": CASE,
                "KIM_LEBENSLAGE": "WORK",
                "KIM_PRIORITY": "URGENT",
            },
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert example.returncode == 0, f"the TypeScript example failed:\n{tail(example)}"
        landed = re.search(
            rf"^published NeedsAssessed (\S+) for {CASE} as {AGENCY}: topic (\S+) partition (\d+) offset (\d+)$",
            example.stdout,
            re.MULTILINE,
        )
        assert landed, example.stdout
        event_id, topic, partition, offset = (
            landed.group(1),
            landed.group(2),
            int(landed.group(3)),
            int(landed.group(4)),
        )
        assert topic == lane.topic("kim.cases") and partition == opened[1] and offset > opened[2]

        targets: dict[TP, int] = {(topic, partition): offset + 1}
        asyncio.run(caught_up(lane, worker, targets))
        [row] = asyncio.run(lane.fetch("SELECT * FROM caseload_cases WHERE case_id = $1", CASE))
        assert (row["agency"], row["opened_by"], row["status"]) == (AGENCY, AGENCY, "open")
        assert (row["lebenslagen"], row["priorities"]) == (["WORK"], ["URGENT"])
        assert asyncio.run(read_all(lane, "kim.dlq")) == []
        records = asyncio.run(read_all(lane, "kim.cases"))
        [sent] = [r for r in records if (r.partition, r.offset) == (partition, offset)]
        headers = dict(sent.headers)
        assert sent.key == CASE.encode() and headers["kim.signer"].decode() == creds["signing key"].rsplit(":", 1)[0]
        decoded = Codec().decode(sent.value)
        assert (decoded.event_id, decoded.source_agency) == (event_id, AGENCY)
    finally:  # the agency's Kafka login is on the shared broker: drop it again
        worker.stop()
        removed = run_kim(lane, "agency", "remove", AGENCY, timeout=300, KIM_ACTOR="test_typescript_client")
    assert removed.returncode == 0, removed.stderr


async def open_case(lane: Lane) -> tuple[str, int, int]:
    """The case, opened by the platform speaking for the agency (it seals the client; the agency then holds it)."""
    draft = EventDraft.from_dict(
        {
            "event_type": "CaseOpened",
            "occurred_at": "2026-03-02T09:00:00+01:00",
            "payload": {
                "case_id": CASE,
                "client_ref": "P-ts0777aa",
                "district": "EVING",
                "access_route": "SELF",
                "target_group": "NEWCOMER",
                "rechtskreise": ["SGB_II", "AUFENTHG"],
            },
        }
    )
    async with (
        ClientKeyStore(lane.database_url, lane.secrets) as keys,
        Publisher(lane.kafka, AGENCY, signing_key=lane.platform_key, topic_prefix=lane.prefix, client_keys=keys) as pf,
    ):
        published = await pf.publish(draft)
    return published.topic, published.partition, published.offset
