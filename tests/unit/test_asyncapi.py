"""docs/asyncapi.json: current with the schemas, internally consistent, and in step with the stream side."""

from __future__ import annotations

import json
from typing import Any

import pytest

from projections.records import LogRecord, Rejection
from schemas import load_catalog
from schemas.asyncapi import ASYNCAPI_JSON, render, text
from schemas.catalog import schema_fingerprint
from schemas.history import jsonable
from schemas.samples import sample_event
from schemas.topics import TOPICS
from streams.runtime.dlq import dlq_headers

CATALOG = load_catalog()
DOC = render()


def test_asyncapi_document_is_current() -> None:
    stale = not ASYNCAPI_JSON.exists() or ASYNCAPI_JSON.read_text(encoding="utf-8") != text()
    assert not stale, "docs/asyncapi.json is out of date: regenerate it with `.venv/bin/python -m schemas.asyncapi`"


def test_it_is_an_asyncapi_3_document_with_the_three_topics() -> None:
    assert DOC["asyncapi"] == "3.0.0"
    assert {c["address"] for c in DOC["channels"].values()} == {t.name for t in TOPICS}
    assert all(op["action"] in ("send", "receive") for op in DOC["operations"].values())


def _resolve(pointer: str) -> Any:
    assert pointer.startswith("#/"), pointer
    node: Any = DOC
    for part in pointer[2:].split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        return ([node["$ref"]] if isinstance(node.get("$ref"), str) else []) + [
            r for v in node.values() for r in _refs(v)
        ]
    if isinstance(node, list):
        return [r for v in node for r in _refs(v)]
    return []


def test_every_reference_resolves_and_operations_use_their_channels_messages() -> None:
    for ref in _refs(DOC):
        _resolve(ref)
    for name, operation in DOC["operations"].items():
        channel = operation["channel"]["$ref"]
        assert all(m["$ref"].startswith(channel + "/messages/") for m in operation["messages"]), name


@pytest.mark.parametrize("event_type", sorted(CATALOG.event_types()))
def test_each_event_type_is_a_message_on_its_topic_with_its_current_schema(event_type: str) -> None:
    current = CATALOG.current(event_type)
    channel = next(c for c in DOC["channels"].values() if c["address"] == current.topic)
    message = _resolve(channel["messages"][event_type]["$ref"])
    assert message["payload"]["schemaFormat"].startswith("application/vnd.apache.avro")
    assert schema_fingerprint(message["payload"]["schema"]) == current.fingerprint
    assert [v["fingerprint"] for v in message["x-kim-versions"]][-1] == current.fingerprint.hex()
    event = sample_event(event_type)
    assert message["examples"][0]["payload"] == jsonable({"envelope": event.envelope, "payload": event.payload})
    assert current.key_field in message["bindings"]["kafka"]["key"]["description"]


def test_topic_keys_match_the_topic_declarations() -> None:
    for spec in TOPICS:
        channel = next(c for c in DOC["channels"].values() if c["address"] == spec.name)
        if spec.name != "kim.dlq":
            assert f"Key: `{spec.key}`" in channel["description"]


def test_dead_letter_headers_are_the_ones_the_stream_side_sets() -> None:
    rejection = Rejection(LogRecord("kim.cases", 0, 7, b"k", b"v"), "a reason", "CaseClosed")
    first = {name for name, _ in dlq_headers("caseload", rejection)}
    again = {name for name, _ in dlq_headers("caseload", rejection, 2, ["earlier"], "kim.dlq/0/3")}
    headers = DOC["components"]["messages"]["DeadLetter"]["headers"]
    assert again == set(headers["properties"])
    assert set(headers["required"]) <= first


def test_it_is_plain_json() -> None:
    assert json.loads(ASYNCAPI_JSON.read_text(encoding="utf-8")) == DOC


def test_every_event_message_declares_the_signature_headers_and_the_server_its_login() -> None:
    headers = _resolve("#/components/schemas/SignatureHeaders")
    assert headers["required"] == ["kim.signer", "kim.sig"]
    assert "4 bytes big-endian" in headers["properties"]["kim.sig"]["description"]
    for event_type in CATALOG.event_types():
        message = DOC["components"]["messages"][event_type]
        assert message["headers"] == {"$ref": "#/components/schemas/SignatureHeaders"}, event_type
        assert "murmur2" in message["bindings"]["kafka"]["key"]["description"], event_type
    [server] = DOC["servers"].values()
    [requirement] = server["security"]
    assert _resolve(requirement["$ref"])["type"] == "scramSha512"
