"""Hostile input (issue 8, part 5), each answered without harm, through the real gateway, broker and database.

One place that shows every kind: oversized messages (at the gateway, straight at the broker through the SDK
or a raw producer, and a record just under the broker's limit whose dead letter would be over it), deeply
nested JSON and invalid UTF-8 (the body's bytes, escapes inside a JSON string, bytes inside an Avro string; at
the gateway and in `kim publish`), records whose headers claim another agency, and replayed gateway requests
(``Idempotency-Key``, including the crash window between Kafka's acknowledgement and the stored answer).
More cases of the same kinds: ``test_gateway.py`` (every unusable request), ``test_agency_auth.py`` (an
agency's own Kafka login forging another), ``test_dead_letters.py`` (every bad record a raw producer can send).
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest
from aiohttp.test_utils import TestClient, TestServer
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from infra import agencies
from schemas import Codec, EncodeError
from schemas.signing import SigningKey
from streams.sdk.errors import DeliveryError
from streams.sdk.prepare import Outgoing, Preparer, new_envelope
from streams.sdk.publisher import EventDraft, Publisher
from tests.integration.conftest import Lane
from tests.integration.helpers import agency_headers, caught_up, read_all, run_kim
from tests.integration.test_gateway import CLOSED, OPENED, body_of, lane_config, total_end_offset, with_gateway
from tests.unit.bad_records import raw
from web.gateway import GatewayConfig, make_app
from web.gateway.app import IDEMPOTENCY
from web.gateway.idempotency import records_to_json, request_hash

pytestmark = pytest.mark.integration

AGENCY = {"Authorization": "Bearer kimgw_test-token-of-jobcenter"}  # lane_config registers it for JOBCENTER
KEY = "Idempotency-Key"
AGED = "UPDATE gateway_idempotency SET created_at = now() - interval '25 hours' WHERE agency = $1 AND key = $2"


def opened(case_id: str) -> dict[str, Any]:
    return {**OPENED, "payload": {**OPENED["payload"], "case_id": case_id}}


# --- oversized messages -------------------------------------------------------------------------------------


def test_an_oversized_body_is_a_413_before_it_is_read_whole(lane: Lane) -> None:
    async def scenario(client: TestClient) -> None:
        huge = b'{"event_type": "CaseOpened", "payload": {"case_id": "' + b"x" * 200_000 + b'"}}'
        response = await client.post("/v1/events", data=huge, headers={**AGENCY, "Content-Type": "application/json"})
        body = await body_of(response)
        assert response.status == 413, body
        assert body["error"].startswith("the body is too large (200,") and "at most 65,536 bytes" in body["error"]
        assert await total_end_offset(lane) == 0

    with_gateway(lane_config(lane, max_body_bytes=65_536), scenario, lane)


def test_an_oversized_record_is_refused_by_the_sdk_and_by_the_broker_and_nothing_is_appended(lane: Lane) -> None:
    """No valid event comes near Kafka's 1 MiB (ids are at most 64 characters, lists are of distinct symbols), so
    the record here is bytes handed to the publisher's send: its answer for a record Kafka cannot take."""
    too_big = Outgoing(lane.topic("kim.cases"), b"DO-B9", b"\xc3\x01" + b"x" * 1_200_000, "e-1", "CaseClosed")

    async def scenario() -> None:
        async with Publisher(lane.kafka, "JOBCENTER", signing_key=lane.platform_key, topic_prefix=lane.prefix) as sdk:
            with pytest.raises(DeliveryError) as refused:
                await asyncio.wait_for(sdk.send([too_big]), 60)  # an answer, no hang
            assert "the event is too large for Kafka" in str(refused.value)
            assert refused.value.results == [None]
            after = {**CLOSED["payload"], "case_id": "DO-A9-B9"}
            assert (await sdk.publish(EventDraft("CaseClosed", after))).offset == 0

        # A raw producer that raised its own limit is refused by the broker (message.max.bytes), not stored.
        producer = AIOKafkaProducer(**lane.kafka.options(), max_request_size=8 * 1024 * 1024, acks="all")
        await producer.start()
        try:
            with pytest.raises(KafkaError) as broker:
                await asyncio.wait_for(
                    producer.send_and_wait(
                        too_big.topic,
                        too_big.value,
                        key=too_big.key,
                        headers=lane.platform_key.headers(too_big.key, too_big.value),
                    ),
                    90,
                )
            assert "TooLarge" in type(broker.value).__name__, repr(broker.value)
        finally:
            await producer.stop()
        assert await total_end_offset(lane) == 1  # only the small event after the big one

    asyncio.run(scenario())


def test_a_megabyte_id_at_a_gateway_with_a_raised_body_limit_is_refused_as_an_invalid_id(lane: Lane) -> None:
    async def scenario(client: TestClient) -> None:
        big = {**CLOSED, "payload": {"case_id": "DO-" + "x" * 1_200_000, "reason": "MOVED_AWAY"}}
        response = await client.post("/v1/events", json=big, headers=AGENCY)
        body = await body_of(response)
        assert response.status == 422, body
        assert [e["field"] for e in body["errors"]] == ["payload.case_id"]
        assert await total_end_offset(lane) == 0

    with_gateway(lane_config(lane, max_body_bytes=4 * 1024 * 1024), scenario, lane)


def test_a_record_at_the_brokers_limit_is_dead_lettered_without_its_bytes_and_the_partition_moves_on(
    lane: Lane,
) -> None:
    """Just under Kafka's limit, the record is stored; its letter (bytes plus headers) would be over it."""
    worker = lane.worker("caseload")
    config = lane_config(lane)
    big = b"x" * 1_048_300  # not Avro: the caseload projection dead-letters what no one can read on kim.cases

    async def scenario() -> None:
        producer = AIOKafkaProducer(**lane.kafka.options(), acks="all")
        await producer.start()
        try:
            meta = await producer.send_and_wait(
                lane.topic("kim.cases"), big, key=b"DO-B9G", headers=lane.platform_key.headers(b"DO-B9G", big)
            )
        finally:
            await producer.stop()
        async with TestClient(TestServer(make_app(config), host="127.0.0.1")) as client:
            after = await client.post("/v1/events", json=opened("DO-B9G"), headers=AGENCY)  # same key, same partition
            answer = await body_of(after)
            assert after.status == 202, answer
        assert answer["partition"] == meta.partition and answer["offset"] == meta.offset + 1
        await caught_up(lane, worker, {(answer["topic"], answer["partition"]): answer["offset"] + 1})
        assert [r["case_id"] for r in await lane.fetch("SELECT case_id FROM caseload_cases")] == ["DO-B9G"]
        (letter,) = await read_all(lane, "kim.dlq")
        headers = {k: v.decode() for k, v in letter.headers}
        assert letter.value == b"" and letter.key == b"DO-B9G"
        assert headers["kim.value_omitted"].startswith("1048306 bytes of key and value, over Kafka's limit")
        assert headers["kim.reason"].startswith("undecodable")
        assert (headers["kim.source.partition"], headers["kim.source.offset"]) == (
            str(meta.partition),
            str(meta.offset),
        )

    asyncio.run(scenario())
    assert worker.alive()

    # A rebuild meets the same record: it was dead-lettered already, so no second letter; the rebuild completes.
    replay = run_kim(lane, "replay", "caseload", timeout=300)
    assert replay.returncode == 0, replay.stdout + replay.stderr
    letters = asyncio.run(read_all(lane, "kim.dlq"))
    assert len(letters) == 1, letters
    assert asyncio.run(lane.fetch("SELECT case_id FROM caseload_cases")) == [("DO-B9G",)]


# --- deeply nested JSON and invalid UTF-8 at the gateway --------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "status", "error"),
    [
        (b"[" * 100_000 + b"]" * 100_000, 400, "the body is not acceptable JSON: nested too deeply"),
        (b'{"a":' * 50_000 + b"1" + b"}" * 50_000, 400, "the body is not acceptable JSON: nested too deeply"),
        # Parses (shallow enough for Python), but no event has such a field: 422 naming it, nothing crashes.
        (
            b'{"event_type": "CaseClosed", "payload": {"case_id": "DO-1", "reason": "MOVED_AWAY", "x": '
            + b"[" * 500
            + b"]" * 500
            + b"}}",
            422,
            "invalid CaseClosed: 1 problem(s)",
        ),
        (b'{"event_type": "CaseClosed", "payload": {"case_id": "DO-\xff\xfe"}}', 400, "the body is not valid UTF-8"),
        (b'{"event_type": "CaseClosed", "payload": {"case_id": "DO-\xc0\xaf"}}', 400, "the body is not valid UTF-8"),
        (b'{"event_type": "CaseClosed", "payload": {"case_id": "DO-\xed\xa0\x80"}}', 400, "the body is not valid UTF"),
        # A lone surrogate written as a JSON escape is valid JSON but not Unicode text.
        (
            b'{"event_type": "CaseClosed", "payload": {"case_id": "DO-\\ud800", "reason": "MOVED_AWAY"}}',
            422,
            "invalid CaseClosed: 1 problem(s)",
        ),
    ],
    ids=[
        "deep-array",
        "deep-object",
        "deep-in-payload",
        "bad-utf8",
        "overlong-utf8",
        "surrogate-utf8",
        "surrogate-esc",
    ],
)
def test_deep_json_and_invalid_utf8_get_one_line_answers_and_publish_nothing(
    lane: Lane, data: bytes, status: int, error: str
) -> None:
    async def scenario(client: TestClient) -> None:
        response = await client.post("/v1/events", data=data, headers={**AGENCY, "Content-Type": "application/json"})
        body = await body_of(response)
        assert response.status == status, body
        assert body["error"].startswith(error), body
        assert "\n" not in body["error"]
        if status == 422:
            assert [e["field"] for e in body["errors"]] in (["payload.x"], ["payload.case_id"]), body
        assert await total_end_offset(lane) == 0
        assert (await client.post("/v1/events", json=OPENED, headers=AGENCY)).status == 202  # still serving

    with_gateway(lane_config(lane, max_body_bytes=2 * 1024 * 1024), scenario, lane)


def test_kim_publish_rejects_deep_json_and_invalid_utf8_line_by_line(lane: Lane) -> None:
    lines = lane.home / "hostile.jsonl"
    surrogate = (
        '{"agency": "JOBCENTER", "event_type": "CaseClosed", "payload": {"case_id": "DO-\\ud800", "reason": "X"}}'
    )
    lines.write_bytes(b"[" * 100_000 + b"]" * 100_000 + b"\n" + surrogate.encode() + b"\n" + b'\xff\xfe{"a": 1}\n')
    done = run_kim(lane, "publish", str(lines))
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    assert "line 1: not acceptable JSON: nested too deeply" in done.stdout
    assert "line 2: payload.case_id: not valid Unicode text (lone surrogate)" in done.stdout
    assert "line 3: not valid UTF-8 (byte 0xff at position 0)" in done.stdout
    assert asyncio.run(total_end_offset(lane)) == 0


def test_kim_publish_rejects_a_megabyte_id_as_its_line_and_publishes_the_others(lane: Lane) -> None:
    def closing(case_id: str) -> str:
        payload = {"case_id": case_id, "reason": "MOVED_AWAY"}
        return json.dumps({"agency": "JOBCENTER", "event_type": "CaseClosed", "payload": payload})

    lines = lane.home / "oversized.jsonl"
    lines.write_text("\n".join([closing("DO-1"), closing("DO-" + "x" * 1_200_000), closing("DO-3")]) + "\n")
    done = run_kim(lane, "publish", str(lines))
    assert done.returncode == 1, done.stderr  # a rejected line, not a Kafka failure: the file is read to its end
    assert "Traceback" not in done.stderr and "stopped after line" not in done.stdout + done.stderr
    assert "accepted 2 of 3 lines" in done.stdout, done.stdout
    assert "line 2: payload.case_id: must be an id like DO-2025-004711" in done.stdout
    assert asyncio.run(total_end_offset(lane)) == 2


# --- records that claim another agency, and invalid UTF-8 inside a record ---------------------------------------


def test_records_claiming_another_agency_or_carrying_bad_utf8_are_dead_lettered_never_applied(lane: Lane) -> None:
    """A producer on the event topics (here the platform's login; an agency's own: test_agency_auth.py) forges
    closings of a case the Jobcenter opened: none of them closes it, each is dead-lettered with its reason."""
    jobcenter = agencies.AgencyCredentials.new("JOBCENTER")
    asyncio.run(_sql_register(lane, jobcenter))  # before the worker starts: it knows the agency's key
    worker = lane.worker("caseload")
    targets: dict[tuple[str, int], int] = {}
    config = GatewayConfig(lane.kafka, lane.prefix, database_url=lane.database_url, secrets=lane.secrets)

    def closing(agency: str, case_id: str = "DO-G9-1") -> Outgoing:
        payload = {**CLOSED["payload"], "case_id": case_id}
        return Preparer(agency, topic_prefix=lane.prefix).prepare(EventDraft("CaseClosed", payload))

    own_key: SigningKey = jobcenter.signing_key
    forged = closing("AUSLAENDERBEHOERDE")  # claims the Ausländerbehörde, signed with the Jobcenter's key
    fake_signer = closing("AUSLAENDERBEHOERDE")  # signed with a key id nobody was given
    header_only = closing("JOBCENTER")  # the Jobcenter's signature, but kim.signer names the Ausländerbehörde
    bad_utf8 = closing("JOBCENTER", "DO-Q9Q9")  # invalid UTF-8 inside an Avro string
    bad_utf8 = Outgoing(bad_utf8.topic, bad_utf8.key, bad_utf8.value.replace(b"Q9Q9", b"\xff\xfe\xc0\xaf"), "", "")
    stranger = SigningKey("AUSLAENDERBEHOERDE.00000000", b"\x01" * 32)
    swapped = [("kim.signer", stranger.key_id.encode())]
    swapped += [h for h in own_key.headers(header_only.key, header_only.value) if h[0] != "kim.signer"]
    sent = [
        (forged, own_key.headers(forged.key, forged.value)),
        (fake_signer, stranger.headers(fake_signer.key, fake_signer.value)),
        (header_only, swapped),
        (bad_utf8, lane.platform_key.headers(bad_utf8.key, bad_utf8.value)),
    ]

    async def scenario() -> None:
        async with TestClient(TestServer(make_app(config), host="127.0.0.1")) as client:
            bearer = {"Authorization": f"Bearer {jobcenter.token}"}
            response = await client.post("/v1/events", json=opened("DO-G9-1"), headers=bearer)
            assert response.status == 202, await response.text()
            good = await response.json()
            targets[(good["topic"], good["partition"])] = good["offset"] + 1
            claim = await client.post("/v1/events", json=CLOSED, headers={**bearer, "X-KIM-Agency": "JUGENDAMT"})
            assert claim.status == 403  # the same claim in an HTTP header: refused at the door
        producer = AIOKafkaProducer(**lane.kafka.options(), enable_idempotence=True)
        await producer.start()
        try:
            for item, headers in sent:
                meta = await producer.send_and_wait(item.topic, item.value, key=item.key, headers=headers)
                targets[(meta.topic, meta.partition)] = max(
                    targets.get((meta.topic, meta.partition), 0), meta.offset + 1
                )
        finally:
            await producer.stop()
        await caught_up(lane, worker, targets)
        cases = await lane.fetch("SELECT case_id, opened_by, closed_at FROM caseload_cases")
        assert [(r["case_id"], r["opened_by"], r["closed_at"]) for r in cases] == [("DO-G9-1", "JOBCENTER", None)]
        letters = [dict(r.headers) for r in await read_all(lane, "kim.dlq")]
        reasons = sorted(h["kim.reason"].decode() for h in letters if h.get("kim.projection") == b"caseload")
        assert len(reasons) == 4, reasons
        assert reasons[0] == (
            "forged source: the record claims source_agency AUSLAENDERBEHOERDE but was signed by JOBCENTER"
        )
        assert reasons[1].startswith("undecodable: corrupt CaseClosed v1 body: UnicodeDecodeError"), reasons
        assert all(r.startswith("unknown signer 'AUSLAENDERBEHOERDE.00000000'") for r in reasons[2:]), reasons

    asyncio.run(scenario())
    assert worker.alive()


def test_an_event_dated_after_the_broker_appended_it_or_before_2015_is_dead_lettered(lane: Lane) -> None:
    """A raw producer sets the envelope's times as it likes, so its recorded_at proves nothing; the broker's append
    time is the "now" it cannot choose. An event dated a day after that, or in the year 44 (a typo), is refused."""
    jobcenter = agencies.AgencyCredentials.new("JOBCENTER")
    asyncio.run(_sql_register(lane, jobcenter))
    worker = lane.worker("caseload")
    codec = Codec()

    def encoded(case_id: str, at: datetime) -> bytes:
        """A closing as a raw producer writes it: recorded_at as late as the event, so the domain rules pass it."""
        envelope = new_envelope("CaseClosed", "JOBCENTER", occurred_at=at)
        envelope["recorded_at"] = max(at, datetime.now(UTC))
        return raw(codec.schema_for("CaseClosed", None), envelope, {"case_id": case_id, "reason": "MOVED_AWAY"})

    records = {
        "DO-F9-1": encoded("DO-F9-1", _now_plus(timedelta(days=1))),
        "DO-F9-2": encoded("DO-F9-2", datetime(44, 3, 15, 12, 0, tzinfo=UTC)),
        "DO-F9-3": encoded("DO-F9-3", _now_plus(timedelta(minutes=-1))),  # plausible: judged by the fold
    }

    async def scenario() -> None:
        producer = AIOKafkaProducer(**lane.kafka.options(), enable_idempotence=True)
        targets: dict[tuple[str, int], int] = {}
        await producer.start()
        try:
            for case_id, value in records.items():
                key = case_id.encode()
                headers = jobcenter.signing_key.headers(key, value)
                meta = await producer.send_and_wait(lane.topic("kim.cases"), value, key=key, headers=headers)
                targets[(meta.topic, meta.partition)] = max(
                    targets.get((meta.topic, meta.partition), 0), meta.offset + 1
                )
        finally:
            await producer.stop()
        await caught_up(lane, worker, targets)
        reasons = {r.key.decode(): dict(r.headers)["kim.reason"].decode() for r in await read_all(lane, "kim.dlq")}
        assert set(reasons) == set(records)
        assert "is after the broker appended the record" in reasons["DO-F9-1"], reasons
        assert "must not be before 2015-01-01" in reasons["DO-F9-2"], reasons
        assert reasons["DO-F9-3"] == "case DO-F9-3 was never opened", reasons  # past the judge, to the fold

    asyncio.run(scenario())
    assert worker.alive()


async def _sql_register(lane: Lane, credentials: agencies.AgencyCredentials) -> None:
    conn = await asyncpg.connect(lane.database_url)
    try:
        await agencies.register(conn, credentials)
    finally:
        await conn.close()


# --- ids that could hold a name or a date -------------------------------------------------------------------

NAME_SHAPED = "Mustermann_Max_1990-05-01"


def test_a_name_shaped_id_is_refused_by_the_gateway_and_the_sdk_and_nothing_is_appended(lane: Lane) -> None:
    """Whatever is put into an id stays on the log forever: an id that could hold a name or a birth date is
    refused at every door (the stream side dead-letters it: tests/unit/bad_records.py through the broker in
    test_dead_letters.py)."""
    config = lane_config(lane)
    before = asyncio.run(total_end_offset(lane))

    async def scenario(client: TestClient) -> None:
        response = await client.post("/v1/events", json=opened(NAME_SHAPED), headers=AGENCY)
        body = await body_of(response)
        assert response.status == 422, body
        assert [e["field"] for e in body["errors"]] == ["payload.case_id"]
        assert body["errors"][0]["reason"].startswith("must be an id like DO-2025-004711")

    with_gateway(config, scenario, lane)

    async def sdk() -> None:
        draft = EventDraft.from_dict({**CLOSED, "payload": {**CLOSED["payload"], "case_id": NAME_SHAPED}})
        async with Publisher(lane.kafka, "JOBCENTER", signing_key=lane.platform_key, topic_prefix=lane.prefix) as p:
            with pytest.raises(EncodeError, match=r"payload\.case_id: must be an id like DO-2025-004711"):
                await p.publish(draft)

    asyncio.run(sdk())
    assert asyncio.run(total_end_offset(lane)) == before  # nothing reached the log


# --- replayed gateway requests: Idempotency-Key --------------------------------------------------------------


def test_a_replayed_request_gets_its_first_answer_and_publishes_nothing_new(lane: Lane) -> None:
    config = lane_config(lane)
    lane.worker("referrals")  # the case gate judges the batch's closing against the referrals projection

    async def scenario() -> None:
        async with TestClient(TestServer(make_app(config), host="127.0.0.1")) as client:
            first = await client.post("/v1/events", json=OPENED, headers={**AGENCY, KEY: "order-1"})
            answer = await body_of(first)
            assert first.status == 202, answer
            assert "Idempotent-Replayed" not in first.headers

            # The same request again, formatted differently: the same answer, nothing published.
            same = json.dumps(dict(reversed(list(OPENED.items()))), indent=2).encode()
            again = await client.post(
                "/v1/events", data=same, headers={**AGENCY, KEY: "order-1", "Content-Type": "application/json"}
            )
            assert again.status == 202
            assert await body_of(again) == answer
            assert again.headers["Idempotent-Replayed"] == "true"
            assert await total_end_offset(lane) == 1

            # The key again with another body, or at the other endpoint: 422, nothing published.
            other = await client.post("/v1/events", json=CLOSED, headers={**AGENCY, KEY: "order-1"})
            body = await body_of(other)
            assert other.status == 422, body
            assert body["error"].startswith("Idempotency-Key 'order-1' was already used by JOBCENTER for a different")
            elsewhere = await client.post("/v1/events:batch", json=[OPENED], headers={**AGENCY, KEY: "order-1"})
            assert elsewhere.status == 422
            assert await total_end_offset(lane) == 1

            # Keys belong to one agency: another agency's "order-1" is its own.
            jugendamt = await agency_headers(lane, "JUGENDAMT")
            theirs = await client.post("/v1/events", json=opened("DO-JA-1"), headers={**jugendamt, KEY: "order-1"})
            assert theirs.status == 202, await theirs.text()
            assert (await theirs.json())["event_id"] != answer["event_id"]

            # A batch replays as a whole.
            batch = [opened("DO-B-1"), {**CLOSED, "payload": {**CLOSED["payload"], "case_id": "DO-B-1"}}]
            sent = await client.post("/v1/events:batch", json=batch, headers={**AGENCY, KEY: "batch-1"})
            assert sent.status == 202
            replayed = await client.post("/v1/events:batch", json=batch, headers={**AGENCY, KEY: "batch-1"})
            assert replayed.status == 202 and await replayed.json() == await sent.json()
            assert await total_end_offset(lane) == 4

            # Unusable keys are a 400.
            for bad in ("", "x" * 256, "has spaces in it"):
                refused = await client.post("/v1/events", json=CLOSED, headers={**AGENCY, KEY: bad})
                assert refused.status == 400, bad
                assert (await refused.json())["error"].startswith("Idempotency-Key must be 1 to 255 visible ASCII")

            # A request that failed (invalid) releases its key: the corrected request may use it.
            invalid = {**CLOSED, "payload": {**CLOSED["payload"], "reason": "BORED"}}
            assert (await client.post("/v1/events", json=invalid, headers={**AGENCY, KEY: "fix-1"})).status == 422
            assert (await client.post("/v1/events", json=CLOSED, headers={**AGENCY, KEY: "fix-1"})).status == 202

        # A restarted gateway still knows the key (PostgreSQL keeps it).
        async with TestClient(TestServer(make_app(config), host="127.0.0.1")) as client:
            after = await client.post("/v1/events", json=OPENED, headers={**AGENCY, KEY: "order-1"})
            assert after.status == 202 and await after.json() == answer
            assert await total_end_offset(lane) == 5

            # Keys are kept 24 h: an older one is new again, and the sweep deletes the old ones.
            await _sql(lane, AGED, "JOBCENTER", "order-1")
            reused = await client.post("/v1/events", json=CLOSED, headers={**AGENCY, KEY: "order-1"})
            assert reused.status == 202, await reused.text()
            await _sql(lane, AGED, "JOBCENTER", "batch-1")
            assert await client.server.app[IDEMPOTENCY].sweep() == 1
            keys = {(r["agency"], r["key"]) for r in await lane.fetch("SELECT agency, key FROM gateway_idempotency")}
            assert keys == {("JOBCENTER", "order-1"), ("JUGENDAMT", "order-1"), ("JOBCENTER", "fix-1")}

    asyncio.run(scenario())


def test_a_key_in_flight_is_a_409_and_an_unfinished_one_sends_its_stored_records_again(lane: Lane) -> None:
    """The crash window: records stored with the key, sent, answer never stored. A retry sends the same records
    (the same event ids) again, and the projection applies the event once."""
    config = lane_config(lane)
    worker = lane.worker("caseload")

    async def scenario() -> None:
        digest = request_hash(lane.secrets.pepper(), "/v1/events", opened("DO-C9-1"))
        held = "INSERT INTO gateway_idempotency (agency, key, request_hash, lease_until) VALUES ($1, $2, $3, $4)"
        await _sql(lane, held, "JOBCENTER", "busy-1", digest, _now_plus(timedelta(hours=1)))
        async with TestClient(TestServer(make_app(config), host="127.0.0.1")) as client:
            busy = await client.post("/v1/events", json=opened("DO-C9-1"), headers={**AGENCY, KEY: "busy-1"})
            body = await body_of(busy)
            assert busy.status == 409, body
            assert "still being processed" in body["error"] and busy.headers["Retry-After"]
            assert await total_end_offset(lane) == 0

            # A gateway died after Kafka acknowledged: the record is on the topic, the answer was never stored.
            first = await client.post("/v1/events", json=opened("DO-C9-1"), headers={**AGENCY, KEY: "crash-1"})
            assert first.status == 202
            (record,) = await read_all(lane, "kim.cases")
            sent = Outgoing(record.topic, record.key, record.value, (await first.json())["event_id"], "CaseOpened")
            await _sql(
                lane,
                "UPDATE gateway_idempotency SET status = NULL, answer = NULL, completed_at = NULL,"
                " lease_until = now(), records = $1::jsonb WHERE key = 'crash-1'",
                records_to_json([sent]),
            )
            retry = await client.post("/v1/events", json=opened("DO-C9-1"), headers={**AGENCY, KEY: "crash-1"})
            answer = await body_of(retry)
            assert retry.status == 202, answer
            assert answer["event_id"] == sent.event_id  # the stored record, not a new event
            records = await read_all(lane, "kim.cases")
            assert [r.value for r in records] == [record.value, record.value]
            stored = await lane.fetch("SELECT status, records, attempts FROM gateway_idempotency WHERE key = 'crash-1'")
            assert [(r["status"], r["records"], r["attempts"]) for r in stored] == [(202, None, 2)]
            targets = {(r.topic, r.partition): r.offset + 1 for r in records}

        await caught_up(lane, worker, targets)
        rows = await lane.fetch("SELECT case_id FROM caseload_cases")
        assert [r["case_id"] for r in rows] == ["DO-C9-1"]
        assert not await read_all(lane, "kim.dlq")  # the repeat was dropped by its event id, not dead-lettered

    asyncio.run(scenario())
    assert worker.alive()


async def _sql(lane: Lane, sql: str, *args: object) -> None:
    conn = await asyncpg.connect(lane.database_url)
    try:
        await conn.execute(sql, *args)
    finally:
        await conn.close()


def _now_plus(span: timedelta) -> datetime:
    return datetime.now(UTC) + span
