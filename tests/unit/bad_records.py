"""Every kind of bad record a raw producer (one that bypasses the SDK) can put on a source topic.

Pure builders, shared by the unit tests of the stream-side judgement and the integration tests that feed
the same bytes through the real broker. Each ``Bad`` says on which topic it goes, which projections must
dead-letter it (the duties of ``streams/runtime/judge.py``) and a word its reason contains.
"""

from __future__ import annotations

import copy
import io
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from fastavro import parse_schema, schemaless_writer

from projections.records import LogRecord
from schemas import Codec, EventSchema
from schemas.catalog import schema_fingerprint
from schemas.codec import MAGIC
from schemas.partitioner import partition_of
from schemas.samples import sample_envelope, sample_payload
from tests.unit.placed import PARTITIONS, placed


@dataclass(frozen=True)
class Bad:
    kind: str
    topic: str  # catalog name, without a prefix
    key: bytes
    value: bytes | None  # None: a tombstone (a record without a value)
    letters_from: frozenset[str]  # the projections that dead-letter it
    reason: str  # the reason of each letter contains this
    partition: int | None = None  # None: where the contract's partitioner puts the key

    def record(self, prefix: str = "", offset: int = 0) -> LogRecord:
        """The record as a raw producer puts it on ``prefix`` + its topic."""
        record = placed(prefix + self.topic, self.value, offset, key=self.key)
        return record if self.partition is None else record._replace(partition=self.partition)


def raw(schema: EventSchema, envelope: dict[str, Any], payload: dict[str, Any]) -> bytes:
    """Single-object encoding without any validation: what a raw producer can send."""
    out = io.BytesIO()
    out.write(MAGIC)
    out.write(schema.fingerprint)
    schemaless_writer(out, schema.parsed, {"envelope": envelope, "payload": payload})
    return out.getvalue()


def fresh(event_type: str, codec: Codec, **payload: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """The sample envelope and payload of ``event_type``, with a new event id and ``payload`` changes."""
    envelope = {**sample_envelope(event_type), "event_id": str(uuid.uuid4())}
    envelope["correlation_id"] = envelope["event_id"]
    return envelope, {**sample_payload(event_type), **payload}


def _unknown_type(codec: Codec) -> bytes:
    """A well-formed event of a type the catalog does not have: its writer schema is nobody's."""
    schema = copy.deepcopy(codec.schema_for("CaseClosed").schema)
    schema["fields"][1]["type"]["name"] = "CaseArchived"
    parsed = parse_schema(schema)
    envelope, payload = fresh("CaseClosed", codec)
    out = io.BytesIO()
    out.write(MAGIC)
    out.write(schema_fingerprint(schema))
    schemaless_writer(out, parsed, {"envelope": {**envelope, "event_type": "CaseArchived"}, "payload": payload})
    return out.getvalue()


def bad_records(codec: Codec) -> list[Bad]:
    """One record of each bad kind, valid Avro or not; every one must reach the DLQ."""
    every_reader = frozenset(
        {"caseload", "referrals", "outcomes"}
    )  # the projections of kim.cases: all read these types
    cases = {"kim.cases": "caseload", "kim.immigration": "backlog"}

    def valid(event_type: str, **payload: Any) -> bytes:
        return raw(codec.schema_for(event_type), *fresh(event_type, codec, **payload))

    opened = valid("CaseOpened")
    goal = valid("GoalAgreed")
    referral = valid("ReferralIssued")
    envelope, payload = fresh("CaseClosed", codec)
    late_goal_env, late_goal = fresh("GoalAgreed", codec)
    late_goal["target_date"] = late_goal_env["occurred_at"].date() - timedelta(days=1)
    filed_env, filed = fresh("ApplicationFiled", codec)
    opened_env, opened_payload = fresh("CaseOpened", codec)
    closing = sample_payload("CaseClosed")["case_id"]
    return [
        Bad("garbage bytes", "kim.cases", b"DO-x", b"not avro at all", frozenset({cases["kim.cases"]}), "undecodable"),
        Bad("garbage bytes", "kim.immigration", b"ABH-x", b"\xc3", frozenset({"backlog"}), "undecodable"),
        Bad("a tombstone (no value)", "kim.cases", b"DO-n", None, frozenset({"caseload"}), "expected bytes"),
        Bad("truncated CaseOpened", "kim.cases", b"DO-t1", opened[:-5], every_reader, "corrupt CaseOpened"),
        Bad(
            "truncated GoalAgreed (read by outcomes alone)",
            "kim.cases",
            b"DO-t2",
            goal[:-3],
            frozenset({"outcomes"}),
            "corrupt GoalAgreed",
        ),
        Bad(
            "truncated ReferralIssued",
            "kim.cases",
            b"DO-t3",
            referral[:20],
            frozenset({"referrals"}),
            "corrupt ReferralIssued",
        ),
        Bad(
            "unknown fingerprint",
            "kim.cases",
            b"DO-f",
            MAGIC + b"\x01" * 8 + opened[10:],
            every_reader,
            "unknown writer schema",
        ),
        Bad(
            "unknown event type (not in the catalog)",
            "kim.cases",
            b"DO-u1",
            _unknown_type(codec),
            every_reader,
            "unknown writer schema",
        ),
        Bad(
            "unknown event type (envelope contradicts the schema)",
            "kim.cases",
            b"DO-u2",
            raw(codec.schema_for("CaseClosed"), {**envelope, "event_type": "CaseArchived"}, payload),
            every_reader,
            "envelope.event_type",
        ),
        Bad(
            "domain rule: a referral to its own agency",
            "kim.cases",
            b"DO-r1",
            valid("ReferralIssued", to_agency="KIM_CASE_MANAGEMENT"),
            frozenset({"referrals"}),
            "must differ from from_agency",
        ),
        Bad(
            "domain rule: a goal due before it was agreed (read by outcomes alone)",
            "kim.cases",
            b"DO-r2",
            raw(codec.schema_for("GoalAgreed"), late_goal_env, late_goal),
            frozenset({"outcomes"}),
            "is before the event's date",
        ),
        Bad(
            "domain rule: an application filed by the Jobcenter",
            "kim.immigration",
            b"ABH-r3",
            raw(codec.schema_for("ApplicationFiled"), {**filed_env, "source_agency": "JOBCENTER"}, filed),
            frozenset({"backlog"}),
            "immigration offices only",
        ),
        Bad(
            "domain rule: a case id that is a name and a birth date",
            "kim.cases",
            b"Mustermann_Max_1990-05-01",
            valid("CaseClosed", case_id="Mustermann_Max_1990-05-01"),
            every_reader,  # all read CaseClosed
            "must be an id like DO-2025-004711",
        ),
        Bad(
            "a pseudonym in clear where v2 seals it (CaseOpened)",
            "kim.cases",
            b"DO-c1",
            valid("CaseOpened", client_ref="P-7f3a9c2e41b8", client_sealed=None),
            every_reader,
            "in clear on the log",
        ),
        Bad(
            "a pseudonym in clear where v2 seals it (ApplicationFiled)",
            "kim.immigration",
            b"ABH-c2",
            valid("ApplicationFiled", client_ref="P-7f3a9c2e41b8", client_sealed=None),
            frozenset({"backlog"}),
            "in clear on the log",
        ),
        Bad(
            "wrong topic: an immigration event on kim.cases",
            "kim.cases",
            b"ABH-w1",
            valid("ApplicationFiled"),
            frozenset({"caseload"}),
            "wrong topic",
        ),
        Bad(
            "wrong topic: a case event on kim.immigration",
            "kim.immigration",
            b"DO-w2",
            raw(codec.schema_for("CaseOpened"), opened_env, opened_payload),
            frozenset({"backlog"}),
            "wrong topic",
        ),
        Bad(
            "wrong key: keyed by another case than the event's",
            "kim.cases",
            b"DO-k1",
            valid("CaseClosed"),
            every_reader,
            "wrong key",
        ),
        Bad(
            "wrong partition: not where murmur2 of the key puts it (e.g. librdkafka's default CRC32)",
            "kim.cases",
            closing.encode(),
            valid("CaseClosed"),
            every_reader,
            "wrong partition",
            partition=(partition_of(closing, PARTITIONS["kim.cases"]) + 1) % PARTITIONS["kim.cases"],
        ),
    ]
