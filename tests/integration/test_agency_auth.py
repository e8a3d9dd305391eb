"""Agency identities through the real broker with authentication on (issue 8, item 1).

One agency principal made by `kim agency add`: it publishes its own events; it cannot read, write the
dead-letter topic or create topics; a wrong password is refused by name; a record that claims another
agency never reaches a projection and is dead-lettered with the reason; the gateway takes its token
and nothing it claims; after `kim agency remove` neither its login nor its token works.
"""

from __future__ import annotations

import asyncio
import subprocess
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAuthorizationFailedError

from infra.client_keys import ClientKeyStore
from schemas import EncodeError
from schemas.sealing import KeyRing, new_key
from schemas.signing import SigningKey
from streams.kafka.connection import KafkaLoginError
from streams.sdk.prepare import Preparer
from streams.sdk.publisher import EventDraft, Publisher
from tests.integration.conftest import Lane
from tests.integration.helpers import caught_up, read_all, run_kim
from web.gateway import GatewayConfig, make_app

pytestmark = pytest.mark.integration


def kim(lane: Lane, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return run_kim(lane, *args, timeout=300, **env)


def credentials(output: str) -> dict[str, str]:
    """The lines `kim agency add` prints once: Kafka username/password, signing key, gateway token."""
    fields = {}
    for line in output.splitlines():
        for label in ("Kafka username", "Kafka password", "signing key", "gateway token", "Kafka CA file"):
            if line.strip().startswith(label):
                fields[label] = line.strip()[len(label) :].strip()
    return fields


def opened(case_id: str) -> EventDraft:
    payload = {
        "case_id": case_id,
        "client_ref": "P-7f3a9c",
        "district": "EVING",
        "access_route": "SELF",
        "target_group": "NEWCOMER",
        "rechtskreise": ["SGB_II"],
    }
    return EventDraft("CaseOpened", payload)


async def expect_refused(action: Any, error: type[BaseException]) -> BaseException:
    try:
        await asyncio.wait_for(action, 60)
    except error as refused:
        return refused
    raise AssertionError(f"expected {error.__name__}")


def test_an_agency_publishes_only_as_itself_reads_nothing_and_loses_access_when_removed(lane: Lane) -> None:
    added = kim(lane, "agency", "add", "JOBCENTER")
    assert added.returncode == 0, added.stderr
    creds = credentials(added.stdout)
    assert creds["Kafka username"] == "agency-jobcenter"
    login = lane.kafka.login_as(creds["Kafka username"], creds["Kafka password"])
    key = SigningKey.parse(creds["signing key"])
    listed = kim(lane, "agency", "list")
    assert listed.returncode == 0 and "JOBCENTER" in listed.stdout and key.key_id in listed.stdout
    assert creds["Kafka password"] not in listed.stdout and creds["gateway token"] not in listed.stdout
    again = kim(lane, "agency", "add", "JOBCENTER")
    assert again.returncode == 1 and again.stderr.startswith("error: JOBCENTER already has an identity")
    worker = lane.worker("caseload")
    targets: dict[tuple[str, int], int] = {}

    def reached(topic: str, partition: int, offset: int) -> None:
        targets[(topic, partition)] = max(targets.get((topic, partition), 0), offset + 1)

    async def scenario() -> None:
        sdk = dict(username=login.username, password=login.password, signing_key=creds["signing key"])
        async with Publisher(lane.kafka, "JOBCENTER", topic_prefix=lane.prefix, **sdk) as partner:
            with pytest.raises(EncodeError, match="cannot seal the client's pseudonym"):
                await partner.publish(opened("DO-W9-0"))  # no key table on the partner's side: never in clear
        async with (
            # the agency's login, publishing from the platform machine
            ClientKeyStore(lane.database_url, lane.secrets) as keys,
            Publisher(lane.kafka, "JOBCENTER", topic_prefix=lane.prefix, client_keys=keys, **sdk) as jobcenter,
        ):
            own = await jobcenter.publish(opened("DO-W9-1"))
        reached(own.topic, own.partition, own.offset)
        with pytest.raises(ValueError, match="the signing key is JOBCENTER's, not JUGENDAMT's"):
            Publisher(lane.kafka, "JUGENDAMT", topic_prefix=lane.prefix, **sdk)

        # With its own Kafka login, a raw producer sends events that claim another agency.
        ring = KeyRing()  # sealing keys in memory: what is tested here is the signature
        ring.add("P-7f3a9c", *new_key())
        other = Preparer("AUSLAENDERBEHOERDE", topic_prefix=lane.prefix, keys=ring)
        forged, unsigned = (other.prepare(opened(f"DO-F9-{i}")) for i in range(2))
        wrong_key = Preparer("JOBCENTER", topic_prefix=lane.prefix, keys=ring).prepare(opened("DO-F9-2"))
        impostor = SigningKey(key.key_id, b"\x00" * 32)
        producer = AIOKafkaProducer(**login.options(), enable_idempotence=True)
        await producer.start()
        try:
            for item, headers in (
                (forged, key.headers(forged.key, forged.value)),
                (unsigned, []),
                (wrong_key, impostor.headers(wrong_key.key, wrong_key.value)),
            ):
                meta = await producer.send_and_wait(item.topic, item.value, key=item.key, headers=headers)
                reached(meta.topic, meta.partition, meta.offset)
            await expect_refused(
                producer.send_and_wait(lane.topic("kim.dlq"), b"x", key=b"k"), TopicAuthorizationFailedError
            )
        finally:
            await producer.stop()

        await caught_up(lane, worker, targets)
        cases = await lane.fetch("SELECT case_id, opened_by FROM caseload_cases")
        assert [(r["case_id"], r["opened_by"]) for r in cases] == [("DO-W9-1", "JOBCENTER")]
        reasons = sorted(dict(r.headers)["kim.reason"].decode() for r in await read_all(lane, "kim.dlq"))
        assert len(reasons) == 3, reasons
        assert reasons[0].startswith(f"bad signature: kim.sig does not verify under {key.key_id}'s key")
        assert reasons[1] == (
            "forged source: the record claims source_agency AUSLAENDERBEHOERDE but was signed by JOBCENTER"
        )
        assert reasons[2].startswith("unsigned: the record claims AUSLAENDERBEHOERDE but carries no kim.signer")

        # No READ anywhere, no topic creation.
        tp = TopicPartition(lane.topic("kim.cases"), own.partition)
        consumer = AIOKafkaConsumer(**login.options(), enable_auto_commit=False)
        await consumer.start()
        try:
            consumer.assign([tp])
            await consumer.seek_to_beginning(tp)
            refused = await expect_refused(consumer.getmany(timeout_ms=5000), TopicAuthorizationFailedError)
            assert lane.topic("kim.cases") in str(refused)
        finally:
            await consumer.stop()
        admin = AIOKafkaAdminClient(**login.options())
        await admin.start()
        try:
            answer = await admin.create_topics([NewTopic(lane.prefix + "evil", 1, 1)])
            assert [error_code for _, error_code, _ in answer.topic_errors] == [29]  # TOPIC_AUTHORIZATION_FAILED
        finally:
            await admin.close()

        # A wrong password is refused by name, not as "cannot bootstrap".
        wrong = dict(sdk, password="not-the-password")
        refused = await expect_refused(Publisher(lane.kafka, "JOBCENTER", **wrong).start(), KafkaLoginError)
        assert str(refused).startswith("Kafka refused the login of 'agency-jobcenter': wrong username or password")

        # The gateway: the token names the agency; no token, or a claim of another agency, is refused.
        config = GatewayConfig(lane.kafka, lane.prefix, database_url=lane.database_url, secrets=lane.secrets)
        bearer = {"Authorization": f"Bearer {creds['gateway token']}"}
        event = {"event_type": "CaseOpened", "payload": opened("DO-GW-1").payload}
        async with TestClient(TestServer(make_app(config), host="127.0.0.1")) as client:
            assert (await client.post("/v1/events", json=event)).status == 401
            claim = await client.post("/v1/events", json=event, headers={**bearer, "X-KIM-Agency": "JUGENDAMT"})
            assert claim.status == 403
            claim = await client.post("/v1/events", json={**event, "source_agency": "JUGENDAMT"}, headers=bearer)
            assert claim.status == 403
            accepted = await client.post("/v1/events", json=event, headers=bearer)
            assert accepted.status == 202, await accepted.text()
            body = await accepted.json()
            reached(body["topic"], body["partition"], body["offset"])
        await caught_up(lane, worker, targets)
        rows = await lane.fetch("SELECT opened_by FROM caseload_cases WHERE case_id = 'DO-GW-1'")
        assert [r["opened_by"] for r in rows] == ["JOBCENTER"]

    asyncio.run(scenario())

    removed = kim(lane, "agency", "remove", "JOBCENTER", KIM_ACTOR="dpo@kim")
    assert removed.returncode == 0, removed.stderr
    audited = kim(lane, "audit", "--action", "agency")
    assert audited.returncode == 0, audited.stderr
    assert "agency.add" in audited.stdout and "agency.remove" in audited.stdout and "dpo@kim" in audited.stdout
    assert creds["Kafka password"] not in audited.stdout and creds["gateway token"] not in audited.stdout

    async def after_removal() -> None:
        sdk = dict(username=login.username, password=login.password, signing_key=creds["signing key"])
        await expect_refused(Publisher(lane.kafka, "JOBCENTER", **sdk).start(), KafkaLoginError)
        config = GatewayConfig(lane.kafka, lane.prefix, database_url=lane.database_url, secrets=lane.secrets)
        async with TestClient(TestServer(make_app(config), host="127.0.0.1")) as client:
            bearer = {"Authorization": f"Bearer {creds['gateway token']}"}
            response = await client.post("/v1/events", json={}, headers=bearer)
            assert response.status == 401
            assert (await response.json())["error"].startswith("invalid or revoked token")

    asyncio.run(after_removal())


def test_refusals_of_the_cli_are_one_line(lane: Lane) -> None:
    unknown = kim(lane, "agency", "add", "FINANZAMT")
    assert unknown.returncode == 1
    assert unknown.stderr.startswith("error: 'FINANZAMT' is not an agency; use one of KIM_CASE_MANAGEMENT")
    absent = kim(lane, "agency", "remove", "JUGENDAMT")
    assert absent.returncode == 1
    assert absent.stderr == "error: JUGENDAMT has no identity to remove (kim agency list shows who has one)\n"
    plain = {
        "KIM_KAFKA_SECURITY": "plaintext",
        "KIM_KAFKA_USERNAME": "",
        "KIM_KAFKA_PASSWORD": "",
        "KIM_KAFKA_CA_FILE": "",
    }
    unauthenticated = kim(lane, "agency", "add", "JUGENDAMT", **plain)
    assert unauthenticated.returncode == 1
    warning, refusal = unauthenticated.stderr.splitlines()
    assert warning.startswith("warning: KIM_KAFKA_SECURITY=plaintext: events and logins travel to Kafka unencrypted")
    assert refusal.startswith("error: agency principals need a cluster with SCRAM logins")
    assert kim(lane, "agency", "list", **plain).returncode == 0  # the database alone answers a listing
    events = lane.home / "one.jsonl"
    events.write_text(
        '{"agency": "JOBCENTER", "event_type": "CaseClosed", "payload": {"case_id": "DO-1", "reason": "MOVED_AWAY"}}\n'
    )
    publish = kim(lane, "publish", str(events), KIM_KAFKA_PASSWORD="not-the-password")
    assert publish.returncode == 1, publish.stdout
    assert publish.stderr.startswith("error: Kafka refused the login of 'kim-platform': wrong username or password")
    assert publish.stderr.count("\n") == 1
    missing = kim(lane, "status", KIM_KAFKA_USERNAME="")
    assert missing.returncode == 1
    assert missing.stderr == (
        "error: KIM_KAFKA_SECURITY=sasl_ssl needs KIM_KAFKA_USERNAME and KIM_KAFKA_PASSWORD (the platform "
        "principal of the cluster); set both, or KIM_KAFKA_SECURITY=ssl for a cluster that authenticates by "
        "certificate\n"
    )
