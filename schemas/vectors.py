"""Test vectors of the partner contract: for every published event type and version, what a client in any
language must produce byte for byte — the record's key, its single-object bytes, its partition and its signature.

``python -m schemas.vectors`` writes them to ``schemas/vectors.json`` from the stored samples (``schemas/history``):

- ``event``: the sample as a partner's JSON holds it (envelope and payload; times and dates in ISO 8601, Avro
  ``bytes`` fields in lowercase hex, unions as plain values);
- ``bytes_hex``: its single-object encoding by that version's writer schema (``fingerprint``);
- ``key`` (UTF-8 of the topic's key field) and ``partition``: murmur2 of the key, as Kafka's Java client and
  aiokafka compute it, positive-masked, modulo ``partitions`` (librdkafka clients: ``partitioner=murmur2_random``);
- ``signing_key``: a sample key in the form ``kim agency add`` prints (``KEYID:base64url(secret)``), and
  ``headers``: the ``kim.signer`` and ``kim.sig`` values a client signing ``key`` and ``bytes`` with it must send
  (HMAC-SHA256 over the 4-byte big-endian key length, the key and the value; standard base64 with padding).

``tests/unit/test_vectors.py`` holds the Python SDK to every vector and the file to the samples.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from schemas.catalog import load_catalog
from schemas.history import dump_json, stored_samples
from schemas.partitioner import partition_of
from schemas.signing import SigningKey
from schemas.topics import TOPICS

VECTORS_JSON = Path(__file__).parent / "vectors.json"
KEY_FIELDS = {spec.name: spec.key for spec in TOPICS}
PARTITIONS = {spec.name: spec.partitions for spec in TOPICS}


def sample_key(agency: str) -> SigningKey:
    """A fixed signing key per agency, for the vectors only (never registered anywhere)."""
    return SigningKey(f"{agency}.0ec70125", hashlib.sha256(f"kim test vector {agency}".encode()).digest())


def vectors() -> list[dict[str, Any]]:
    catalog = load_catalog()
    out = []
    for sample in stored_samples():
        written = sample.record["written"]
        topic = catalog.current(sample.event_type).topic
        key = str(written["payload"][KEY_FIELDS[topic]]).encode()
        signing = sample_key(written["envelope"]["source_agency"])
        headers = {name: value.decode() for name, value in signing.headers(key, sample.data)}
        out.append(
            {
                "event_type": sample.event_type,
                "version": sample.version,
                "fingerprint": sample.record["fingerprint"],
                "topic": topic,
                "event": written,
                "bytes_hex": sample.data.hex(),
                "key": key.decode(),
                "partitions": PARTITIONS[topic],
                "partition": partition_of(key.decode(), PARTITIONS[topic]),
                "signing_key": signing.export(),
                "headers": headers,
            }
        )
    return out


def render() -> str:
    return dump_json({"vectors": vectors()})


def main() -> None:
    VECTORS_JSON.write_text(render(), encoding="utf-8")
    print(f"wrote {VECTORS_JSON} ({len(vectors())} vectors)")


if __name__ == "__main__":
    main()
