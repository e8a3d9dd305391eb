"""The Java reference publisher (clients/java): the contract's vectors, and an agency's event through the real system.

Partners' Java systems publish from the published contract alone. Here Maven builds the client and runs its JUnit
tests — one test per entry of ``schemas/vectors.json`` that reproduces the bytes, key, partition and signature — and
then, on a lane, the client's example program publishes a ``CaseManagerAssigned`` as the Jobcenter, with the
Kafka login and signing key `kim agency add` printed, for a case the platform opened for the Jobcenter; a real
caseload worker applies it. Java and Maven are required: without them the tests fail and say what to install.
"""

from __future__ import annotations

import asyncio
import functools
import json
import os
import re
import shutil
import subprocess
import time
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta

import pytest

from infra.client_keys import ClientKeyStore
from schemas import Codec
from schemas.partitioner import partition_of
from streams.sdk import EventDraft, Publisher
from tests.integration.conftest import REPO, Lane
from tests.integration.helpers import caught_up, read_all, run_kim

pytestmark = pytest.mark.integration

JAVA_DIR = REPO / "clients" / "java"
VECTORS = REPO / "schemas" / "vectors.json"
REPORTS = JAVA_DIR / "target" / "surefire-reports"
EXAMPLE = "network.kim.partner.example.PublishExample"
TOOLS = {"java": "a Java 17 JDK (apt-get install openjdk-17-jdk-headless)", "mvn": "Maven (apt-get install maven)"}
CASE = "DO-2026-000871"
MANAGER = "CM-JC-0871"


def tail(text: str, lines: int = 60) -> str:
    """The last lines of a tool's output, without terminal colour codes (Debian's Maven prints some even with -B)."""
    return "\n".join(re.sub(r"\x1b\[[0-9;]*m", "", text).splitlines()[-lines:])


def require_java_and_maven() -> None:
    """Fail — never skip — with one line naming what to install."""
    for tool, what in TOOLS.items():
        if shutil.which(tool) is None:
            pytest.fail(f"`{tool}` is not on PATH: install {what} to build and test clients/java", pytrace=False)


@functools.cache
def maven_test() -> tuple[subprocess.CompletedProcess[str], float]:
    """`mvn -B -q test` in clients/java, once per session (both tests need its classes); output kept for failures."""
    shutil.rmtree(REPORTS, ignore_errors=True)  # no report of an earlier run may count
    started = time.monotonic()
    try:
        result = subprocess.run(["mvn", "-B", "-q", "test"], cwd=JAVA_DIR, capture_output=True, text=True, timeout=1500)
    except subprocess.TimeoutExpired as late:
        output = (late.stdout or b"").decode(errors="replace") if isinstance(late.stdout, bytes) else late.stdout
        result = subprocess.CompletedProcess(late.cmd, -1, output or "", "mvn test did not finish in 1500 s")
    return result, time.monotonic() - started


def built() -> None:
    require_java_and_maven()
    result, _ = maven_test()
    if result.returncode != 0:
        pytest.fail(
            f"`mvn -B -q test` in clients/java failed (exit {result.returncode}); its last lines:\n"
            f"{tail(result.stdout + result.stderr)}",
            pytrace=False,
        )


def suite(name: str) -> ET.Element:
    report = REPORTS / f"TEST-network.kim.partner.{name}.xml"
    assert report.is_file(), f"no surefire report {report.name}: the JUnit tests did not run"
    return ET.parse(report).getroot()


def test_java_client_reproduces_every_vector_and_refuses_what_partners_may_not_send() -> None:
    built()
    vectors = json.loads(VECTORS.read_text(encoding="utf-8"))["vectors"]
    run = suite("VectorsTest")
    cases = run.findall("testcase")
    assert int(run.get("tests", "-1")) == len(cases) == len(vectors), (run.attrib, len(vectors))
    for verdict in ("failures", "errors", "skipped"):
        assert run.get(verdict) == "0", run.attrib
    # One test per vector, named by its type and version (the surefire reporter writes display names).
    expected = sorted(f"{v['event_type']} v{v['version']}" for v in vectors)
    assert sorted(case.get("name", "").removeprefix("everyVector() ") for case in cases) == expected

    refusals = suite("RefusalsTest")
    assert refusals.get("failures") == refusals.get("errors") == refusals.get("skipped") == "0", refusals.attrib
    names = {case.get("name", "") for case in refusals.findall("testcase")}
    for test in ("theTypesOnlyThePlatformSealsGoThroughTheGateway", "aSigningKeyOfAnotherAgencyIsRefused"):
        assert any(name.startswith(test) for name in names), names
    gateway_only = [name for name in names if name.startswith("theTypesOnlyThePlatformSealsGoThroughTheGateway")]
    assert len(gateway_only) == 2, gateway_only  # CaseOpened and ApplicationFiled


def credentials(output: str) -> dict[str, str]:
    """The secrets `kim agency add` prints once, by label."""
    labels = ("Kafka username", "Kafka password", "signing key", "Kafka CA file")
    return {
        label: line.strip()[len(label) :].strip()
        for line in output.splitlines()
        for label in labels
        if line.strip().startswith(label)
    }


def run_example(lane: Lane, creds: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """The example as a partner runs it: plain `java`, the classpath Maven wrote, settings in the environment only."""
    classpath = (JAVA_DIR / "target" / "classpath.txt").read_text(encoding="utf-8").strip()
    env = {name: os.environ[name] for name in ("PATH", "HOME", "JAVA_HOME", "LANG") if name in os.environ}
    env.update(
        KIM_KAFKA_BOOTSTRAP=lane.bootstrap,
        KIM_AGENCY_USERNAME=creds["Kafka username"],
        KIM_AGENCY_PASSWORD=creds["Kafka password"],
        KIM_AGENCY_SIGNING_KEY=creds["signing key"],
        KIM_KAFKA_CA_FILE=creds["Kafka CA file"],
        KIM_TOPIC_PREFIX=lane.prefix,
        KIM_CASE_ID=CASE,
        KIM_CASE_MANAGER_REF=MANAGER,
        KIM_SCHEMAS=str(REPO / "schemas" / "avro"),
    )
    command = ["java", "-cp", os.pathsep.join([str(JAVA_DIR / "target" / "classes"), classpath]), EXAMPLE]
    return subprocess.run(command, cwd=JAVA_DIR, env=env, capture_output=True, text=True, timeout=180)


def test_java_example_publishes_as_the_agency_and_the_caseload_applies_it(lane: Lane) -> None:
    built()
    added = run_kim(lane, "agency", "add", "JOBCENTER", timeout=300)
    assert added.returncode == 0, added.stderr
    creds = credentials(added.stdout)
    assert creds.keys() == {"Kafka username", "Kafka password", "signing key", "Kafka CA file"}, list(creds)
    worker = lane.worker("caseload")

    async def open_case() -> tuple[str, int, int]:
        """The platform opens the case for the Jobcenter (the gateway's path: it seals the client's pseudonym)."""
        opening = {
            "event_type": "CaseOpened",
            "occurred_at": (datetime.now(UTC) - timedelta(hours=1)).isoformat(),
            "payload": {
                "case_id": CASE,
                "client_ref": "P-871a2c",
                "district": "EVING",
                "access_route": "SELF",
                "target_group": "NEWCOMER",
                "rechtskreise": ["SGB_II"],
            },
        }
        async with (
            ClientKeyStore(lane.database_url, lane.secrets) as keys,
            Publisher(
                lane.kafka, "JOBCENTER", signing_key=lane.platform_key, topic_prefix=lane.prefix, client_keys=keys
            ) as platform,
        ):
            opened = await platform.publish(EventDraft.from_dict(opening))
        return opened.topic, opened.partition, opened.offset

    topic, partition, offset = asyncio.run(open_case())

    example = run_example(lane, creds)
    assert example.returncode == 0, f"the Java example failed:\n{tail(example.stdout + example.stderr)}"
    landed = re.search(
        r"^published CaseManagerAssigned (\S+) topic=(\S+) partition=(\d+) offset=(\d+)$", example.stdout, re.M
    )
    assert landed, example.stdout + example.stderr
    event_id, java_topic, java_partition, java_offset = landed[1], landed[2], int(landed[3]), int(landed[4])
    # The contract's partition rule: the case's events stay in one partition, whichever client wrote them.
    assert (java_topic, java_partition) == (topic, partition) == (lane.topic("kim.cases"), partition_of(CASE, 6))
    assert java_offset > offset

    async def applied() -> None:
        await caught_up(lane, worker, {(topic, partition): java_offset + 1})
        rows = await lane.fetch(
            "SELECT case_id, opened_by, agency, status, case_manager_ref, manager_agency FROM caseload_cases"
        )
        assert [dict(r) for r in rows] == [
            {
                "case_id": CASE,
                "opened_by": "JOBCENTER",
                "agency": "JOBCENTER",
                "status": "open",
                "case_manager_ref": MANAGER,
                "manager_agency": "JOBCENTER",
            }
        ]
        letters = await read_all(lane, "kim.dlq")
        assert letters == [], [dict(r.headers).get("kim.reason") for r in letters]

        # What is on the log: the agency's own signature and an event the platform's codec reads.
        record = next(
            r for r in await read_all(lane, "kim.cases") if (r.partition, r.offset) == (partition, java_offset)
        )
        headers = dict(record.headers)
        assert headers["kim.signer"].decode() == creds["signing key"].rsplit(":", 1)[0]
        assert record.key == CASE.encode()
        event = Codec().decode(record.value)
        assert (event.event_type, event.event_id, event.source_agency) == ("CaseManagerAssigned", event_id, "JOBCENTER")
        assert event.payload == {"case_id": CASE, "case_manager_ref": MANAGER, "agency": "JOBCENTER"}

    asyncio.run(applied())
