"""The partner contract's test vectors (schemas/vectors.json): current, and reproduced byte for byte by the Python
SDK — encoding, key, partition and signature — as every client in another language must reproduce them."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import struct
from typing import Any

import pytest
from aiokafka.partitioner import DefaultPartitioner

from schemas import Codec
from schemas.history import published
from schemas.signing import SigningKey
from schemas.vectors import VECTORS_JSON, render
from streams.sdk.convert import from_json

CODEC = Codec()
VECTORS = json.loads(VECTORS_JSON.read_text(encoding="utf-8"))["vectors"]


def test_the_vectors_file_is_current() -> None:
    assert VECTORS_JSON.read_text(encoding="utf-8") == render(), "regenerate it: python -m schemas.vectors"


def test_every_published_version_has_a_vector() -> None:
    expected = {(p.event_type, p.version, p.fingerprint) for p in published()}
    assert {(v["event_type"], v["version"], v["fingerprint"]) for v in VECTORS} == expected


def _typed(event: dict[str, Any]) -> dict[str, Any]:
    """The vector's JSON with its Avro ``bytes`` (lowercase hex) as bytes: the one conversion JSON leaves open."""
    payload = dict(event["payload"])
    sealed = payload.get("client_sealed")
    if sealed is not None:
        payload["client_sealed"] = {**sealed, "ciphered": bytes.fromhex(sealed["ciphered"])}
    return {"envelope": event["envelope"], "payload": payload}


@pytest.mark.parametrize("vector", VECTORS, ids=[f"{v['event_type']}-v{v['version']}" for v in VECTORS])
def test_the_sdk_reproduces_the_vector_byte_for_byte(vector: dict[str, Any]) -> None:
    schema = CODEC.schema_for(vector["event_type"], vector["version"])
    converted = from_json(schema.schema, _typed(vector["event"]))
    assert converted.errors == []
    envelope, payload = converted.value["envelope"], converted.value["payload"]
    data = CODEC.encode(vector["event_type"], envelope, payload, version=vector["version"])
    assert data.hex() == vector["bytes_hex"]
    assert data[:2] == b"\xc3\x01" and data[2:10].hex() == vector["fingerprint"]

    key = vector["key"].encode()
    everything = list(range(vector["partitions"]))
    assert DefaultPartitioner()(key, everything, everything) == vector["partition"]

    signing = SigningKey.parse(vector["signing_key"])
    assert {name: value.decode() for name, value in signing.headers(key, data)} == vector["headers"]
    # The algorithm as the contract states it, written out: HMAC-SHA256 over len(key) (4 bytes, big-endian), the
    # key and the value; standard base64 with padding; the secret is the base64url part of the printed key.
    key_id, _, secret = vector["signing_key"].partition(":")
    mac = hmac.new(base64.urlsafe_b64decode(secret), struct.pack(">I", len(key)) + key + data, hashlib.sha256)
    assert vector["headers"] == {"kim.signer": key_id, "kim.sig": base64.b64encode(mac.digest()).decode()}
