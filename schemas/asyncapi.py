"""Renders the AsyncAPI 3.0 document of the event contract (``docs/asyncapi.json``) from the catalog.

``python -m schemas.asyncapi`` rewrites the file; a unit test fails while it is out of date. JSON,
not YAML: AsyncAPI accepts both, and JSON needs no library. One message per event type, with its
current Avro message schema inline (``schemaFormat`` Avro), the Kafka key, every published version
with its fingerprint and frozen schema file, and the sample of ``schemas/samples.py`` as example.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from schemas.catalog import Catalog, EventSchema, load_catalog
from schemas.docs import LIFECYCLE, TOPIC_ORDER
from schemas.history import jsonable
from schemas.publishers import WHO
from schemas.samples import SOURCE_AGENCY, sample_event
from schemas.topics import CASES, DLQ, IMMIGRATION
from schemas.upcasters import UPCASTERS

ASYNCAPI_JSON = Path(__file__).resolve().parents[1] / "docs" / "asyncapi.json"
AVRO_FORMAT = "application/vnd.apache.avro+json;version=1.9.0"
KAFKA_BINDING = "0.5.0"
DLQ_TOPIC = DLQ
CHANNEL_IDS = {CASES: "cases", IMMIGRATION: "immigration", DLQ: "dlq"}
TOPIC_DOCS = {
    CASES: "The case and everything hanging on it: consents, needs, goals, referrals, hand-overs, pauses.",
    IMMIGRATION: "Procedures of the immigration and naturalisation offices (Ausländerbehörde, Einbürgerung).",
}
# The headers streams/runtime/dlq.py sets on a dead-lettered record (a unit test keeps the two in step).
DLQ_HEADERS = {
    "kim.reason": "Why the record was not applied (a decode error, a broken rule, a contradiction with history).",
    "kim.projection": "The projection (consumer) that could not apply it.",
    "kim.source.topic": "The topic the record was read from.",
    "kim.source.partition": "Its partition, as a decimal string.",
    "kim.source.offset": "Its offset, as a decimal string.",
    "kim.failed_at": "When it was dead-lettered (ISO 8601, UTC).",
    "kim.attempt": "1 for the first failure; counts up each time a re-driven letter fails again.",
    "kim.event_type": "The event type, if the record could be decoded.",
    "kim.history": "For a re-driven letter that failed again: the earlier reasons (a JSON list of strings).",
    "kim.redriven_from": "For a re-driven letter that failed again: the DLQ position of the letter it came from.",
}
DLQ_OPTIONAL = ("kim.event_type", "kim.history", "kim.redriven_from")
# The headers every event record carries (schemas/signing.py); schemas/vectors.json has the expected values.
SIGNATURE_HEADERS = {
    "kim.signer": "The signing key's id: the part of the key `kim agency add` printed before the `:` "
    "(e.g. `JOBCENTER.3f9a1c2b`); names the agency the record speaks for.",
    "kim.sig": "HMAC-SHA256, keyed with the secret (the printed key's part after the `:`, base64url-decoded), over "
    "the record key's length as 4 bytes big-endian, the key and the value; standard base64 with padding.",
}
PARTITIONER = (
    "The partition is murmur2 of the UTF-8 key, positive-masked, modulo the partition count — the default of "
    "Kafka's Java client and of aiokafka; librdkafka clients must set `partitioner=murmur2_random`. A record not "
    "keyed by its event's key field, or not in that key's partition, is dead-lettered (`wrong key`, `wrong "
    "partition`): the order of a case's events would otherwise depend on how partitions are read."
)
FRAMING = (
    "Every message value is one Avro record `{envelope, payload}` in Avro single-object encoding: the two bytes "
    "`C3 01`, the 8-byte little-endian CRC-64-AVRO fingerprint of the writer schema's parsing canonical form, then "
    "the Avro binary body. There is no schema registry: the fingerprint names the writer schema, and every "
    "published version of every event type stays in the repository (`schemas/history/<Type>/vN.avsc`, fingerprints "
    "in `schemas/published.json`). Readers resolve any older writer into the current version (Avro resolution, "
    "then the upcasters of `schemas/upcasters.py`). Examples show decoded values as JSON (timestamps and dates in "
    "ISO 8601), not Avro's JSON encoding."
)


def _lifecycle(event_type: str) -> tuple[int, str]:
    return (LIFECYCLE.index(event_type) if event_type in LIFECYCLE else len(LIFECYCLE), event_type)


def _versions(catalog: Catalog, event_type: str) -> list[EventSchema]:
    return sorted((s for s in catalog.schemas if s.event_type == event_type), key=lambda s: s.version)


def _message(catalog: Catalog, current: EventSchema) -> dict[str, Any]:
    payload = current.payload_schema
    event = sample_event(current.event_type)
    versions = _versions(catalog, current.event_type)
    description = [
        f"Emitted by {payload['kim.emitted_by']}; key `{current.key_field}`; current version v{current.version}.",
    ]
    who = WHO.get(current.event_type)
    if who is not None:
        description.append(
            f"Relative to its case or application, it is published by {who}; a record of any other agency is "
            "dead-lettered (its agency sees it at the gateway's `GET /v1/dead-letters`)."
        )
    for version in range(1, current.version):
        upcast = UPCASTERS.get((current.event_type, version))
        if upcast is not None:
            description.append(f"Reading v{version} as v{version + 1}: {' '.join((upcast.__doc__ or '').split())}")
    return {
        "name": current.event_type,
        "title": current.event_type,
        "summary": payload.get("doc", ""),
        "description": "\n\n".join(description),
        "contentType": "application/octet-stream",
        "correlationId": {"location": "$message.payload#/envelope/correlation_id"},
        "headers": {"$ref": "#/components/schemas/SignatureHeaders"},
        "payload": {"schemaFormat": AVRO_FORMAT, "schema": current.schema},
        "bindings": {
            "kafka": {
                "key": {"type": "string", "description": f"The event's `{current.key_field}`, UTF-8. {PARTITIONER}"},
                "schemaIdLocation": "payload",
                "schemaIdPayloadEncoding": "Avro single-object encoding: C3 01 + 8-byte CRC-64-AVRO fingerprint",
                "bindingVersion": KAFKA_BINDING,
            }
        },
        "examples": [
            {
                "name": f"{current.event_type}-sample",
                "summary": f"Published by {SOURCE_AGENCY[current.event_type]} (schemas/samples.py).",
                "payload": jsonable({"envelope": event.envelope, "payload": event.payload}),
            }
        ],
        "x-kim-versions": [
            {
                "version": s.version,
                "fingerprint": s.fingerprint.hex(),
                "schema": f"schemas/history/{s.event_type}/v{s.version}.avsc",
            }
            for s in versions
        ],
    }


def _dlq_message() -> dict[str, Any]:
    return {
        "name": "DeadLetter",
        "title": "Dead-lettered record",
        "summary": "A record a projection could not apply: the original key and bytes, where it came from, and why.",
        "description": "The value is the original record's value, byte for byte (usually a KIM event in single-object "
        "encoding, possibly undecodable); the key is the original key. It can be re-driven once the cause is fixed.",
        "contentType": "application/octet-stream",
        "headers": {
            "type": "object",
            "required": [h for h in DLQ_HEADERS if h not in DLQ_OPTIONAL],
            "properties": {name: {"type": "string", "description": doc} for name, doc in DLQ_HEADERS.items()},
        },
        "payload": {"type": "string", "format": "binary", "description": "The original record value."},
        "bindings": {
            "kafka": {
                "key": {"type": "string", "description": "The original record's key."},
                "bindingVersion": KAFKA_BINDING,
            }
        },
    }


def render(catalog: Catalog | None = None) -> dict[str, Any]:
    """The whole AsyncAPI document as a dict."""
    catalog = catalog or load_catalog()
    currents = [catalog.current(t) for t in sorted(catalog.event_types(), key=_lifecycle)]
    topics = sorted(catalog.topics(), key=lambda t: (*TOPIC_ORDER, t).index(t))
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    for topic in topics:
        on_topic = [s for s in currents if s.topic == topic]
        channel = CHANNEL_IDS.get(topic, topic.replace(".", "_"))
        for schema in on_topic:
            messages[schema.event_type] = _message(catalog, schema)
        channels[channel] = {
            "address": topic,
            "title": topic,
            "description": f"{TOPIC_DOCS.get(topic, '')} Key: `{on_topic[0].key_field}`; every event of one key "
            f"lands in one partition, in order. {PARTITIONER} Kept forever (the log is the truth).",
            "messages": {s.event_type: {"$ref": f"#/components/messages/{s.event_type}"} for s in on_topic},
            "bindings": {
                "kafka": {
                    "topic": topic,
                    "topicConfiguration": {"cleanup.policy": ["delete"], "retention.ms": -1},
                    "bindingVersion": KAFKA_BINDING,
                }
            },
        }
        refs = [{"$ref": f"#/channels/{channel}/messages/{s.event_type}"} for s in on_topic]
        operations[f"publish_{channel}"] = {
            "action": "send",
            "channel": {"$ref": f"#/channels/{channel}"},
            "title": f"Publish to {topic}",
            "summary": "Partner systems publish events (Python SDK or HTTP gateway); an agency speaks only for itself.",
            "messages": refs,
        }
        operations[f"project_{channel}"] = {
            "action": "receive",
            "channel": {"$ref": f"#/channels/{channel}"},
            "title": f"Project {topic}",
            "summary": "Projection workers fold the events into PostgreSQL read models, one consumer group each.",
            "messages": refs,
        }
    messages["DeadLetter"] = _dlq_message()
    channels["dlq"] = {
        "address": DLQ_TOPIC,
        "title": DLQ_TOPIC,
        "description": "What a projection could not decode or apply, with the original bytes, the source "
        "topic/partition/offset and the reason in headers; never silently dropped.",
        "messages": {"DeadLetter": {"$ref": "#/components/messages/DeadLetter"}},
        "bindings": {
            "kafka": {
                "topic": DLQ_TOPIC,
                "topicConfiguration": {"cleanup.policy": ["delete"], "retention.ms": -1},
                "bindingVersion": KAFKA_BINDING,
            }
        },
    }
    operations["dead_letter"] = {
        "action": "send",
        "channel": {"$ref": "#/channels/dlq"},
        "title": f"Dead-letter to {DLQ_TOPIC}",
        "summary": "A projection worker routes what it cannot apply; the partition moves on.",
        "messages": [{"$ref": "#/channels/dlq/messages/DeadLetter"}],
    }
    return {
        "asyncapi": "3.0.0",
        "id": "urn:kim:partner-network:events",
        "info": {
            "title": "KIM partner network — event contract",
            "version": _contract_version(catalog),
            "description": "Case events of the Kommunales Integrationsmanagement (KIM) partner network. "
            + FRAMING
            + " Every event record is signed (headers `kim.signer`, `kim.sig`) and keyed and partitioned as its "
            "channel says; `schemas/vectors.json` has, for every type and version, the bytes, key, partition and "
            "signature a client must reproduce. Which agency may publish what about which case is the rule table "
            "of `docs/data-protection.md` section 3; the stream side dead-letters what breaks it. "
            "Generated from `schemas/` by `python -m schemas.asyncapi`; do not edit by hand. "
            "The human-readable catalog is `docs/catalog.md`.",
        },
        "defaultContentType": "application/octet-stream",
        "servers": {
            "local": {
                "host": "127.0.0.1:19092",
                "protocol": "kafka",
                "description": "The local broker `kim up` starts (`KIM_KAFKA_PORT`); set `KIM_KAFKA_BOOTSTRAP` for "
                "another cluster. Topic names may carry a `KIM_TOPIC_PREFIX`.",
                "security": [{"$ref": "#/components/securitySchemes/agencyLogin"}],
            }
        },
        "channels": channels,
        "operations": operations,
        "components": {
            "messages": messages,
            "schemas": {
                "SignatureHeaders": {
                    "type": "object",
                    "required": list(SIGNATURE_HEADERS),
                    "properties": {
                        name: {"type": "string", "description": doc} for name, doc in SIGNATURE_HEADERS.items()
                    },
                }
            },
            "securitySchemes": {
                "agencyLogin": {
                    "type": "scramSha512",
                    "description": "One SASL/SCRAM-SHA-512 login per agency (`kim agency add` prints it once); the "
                    "broker's ACLs let it write `kim.cases` and `kim.immigration` and nothing else.",
                }
            },
        },
    }


def _contract_version(catalog: Catalog) -> str:
    """Major 1: every change so far is backward compatible; minor: how many schema versions there are."""
    return f"1.{len(catalog.schemas)}.0"


def text(catalog: Catalog | None = None) -> str:
    return json.dumps(render(catalog), indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    target = Path(args[0]) if args else ASYNCAPI_JSON
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text(), encoding="utf-8")
    print(f"wrote {target}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
