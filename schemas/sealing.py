"""Crypto-shredding of the client's pseudonym: seal ``client_ref`` with a per-client key, open it again. Pure.

Since CaseOpened v2 and ApplicationFiled v2 the log never carries ``client_ref`` in clear: the platform's
publishers (gateway, ``kim publish``, platform-side ``Publisher``, the simulation) put it into
``client_sealed = {key_id, ciphered}`` — AES-256-GCM (``cryptography``'s AEAD) under the client's own key,
``ciphered = nonce (12 bytes) || encrypted pseudonym || tag (16 bytes)``. The associated data binds the
ciphertext to the event type and the event's aggregate id (case or application), so a sealed value copied
into another case does not open. ``kim erase`` deletes the key: every sealed copy in the log, in every
rebuild and every backup of the log becomes unreadable at once.

Keys live in PostgreSQL (``client_keys``, ``infra/client_keys.py``) only *wrapped* (``wrap_key``: AES-256-GCM
under a key-encryption key, the KEK, kept as a file outside the database) and found by a keyed hash of the
pseudonym (``client_digest``: HMAC-SHA256 under a secret pepper, also outside the database), never by the
pseudonym itself. This module only knows a ``KeyRing``: the keys a publisher has loaded, by pseudonym.
Sealing costs one dictionary lookup and one AES-GCM encryption of a few bytes (a few microseconds) per
CaseOpened/ApplicationFiled; other types are untouched.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import uuid
from dataclasses import dataclass, field
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from schemas.errors import KimError
from schemas.rules import PSEUDONYM, PSEUDONYM_RULE

# The event types that carry the client, and the field naming their aggregate (the topic key).
SEALED: dict[str, str] = {"CaseOpened": "case_id", "ApplicationFiled": "application_id"}
# The erasure events `kim erase` publishes (the platform only), and their aggregate field.
ERASURES: dict[str, str] = {"CaseErased": "case_id", "ApplicationErased": "application_id"}
KEY_BYTES = 32
NONCE_BYTES = 12
TAG_BYTES = 16


class SealError(KimError, ValueError):
    """The pseudonym cannot be sealed or opened; the message names the field (``payload.client_ref: …``)."""


@dataclass(frozen=True)
class ClientKey:
    key_id: str  # random, names the key in events and projections; says nothing about the client
    key: bytes = field(repr=False)
    aead: AESGCM = field(repr=False, compare=False)

    @classmethod
    def of(cls, key_id: str, key: bytes) -> ClientKey:
        return cls(key_id, bytes(key), AESGCM(bytes(key)))


def new_key() -> tuple[str, bytes]:
    """A fresh random key and its id (``k-`` + 32 hex digits)."""
    return f"k-{uuid.uuid4().hex}", AESGCM.generate_key(bit_length=8 * KEY_BYTES)


# --- the key table's protection: wrapped keys, keyed hashes (the secrets themselves are files, infra/) ---

KEK_BYTES = 32
WRAPPED_BYTES = NONCE_BYTES + KEY_BYTES + TAG_BYTES  # 60
KEK_ID = re.compile(r"kek-[0-9a-f]{16}")
PEPPER_BYTES = 32
CLIENT_LOOKUP = "kim.client_keys"  # the purpose of the keyed hash that finds a client's key


def new_kek() -> tuple[str, bytes]:
    """A fresh key-encryption key and its id (``kek-`` + 16 hex digits)."""
    return f"kek-{uuid.uuid4().hex[:16]}", AESGCM.generate_key(bit_length=8 * KEK_BYTES)


def _wrap_data(kek_id: str, key_id: str) -> bytes:
    return f"kim.client_key|{kek_id}|{key_id}".encode()


def wrap_key(kek: bytes, kek_id: str, key_id: str, key: bytes, nonce: bytes | None = None) -> bytes:
    """The client key encrypted under the KEK: ``nonce (12) || AES-256-GCM(key) || tag (16)``, 60 bytes.

    The associated data binds it to its key id and the KEK's id, so a wrapped key moved to another row, or
    claimed to be under another KEK, does not unwrap. ``nonce`` only for repeatable samples.
    """
    if len(key) != KEY_BYTES:
        raise SealError(f"client key {key_id}: must be {KEY_BYTES} bytes, not {len(key)}")
    nonce = os.urandom(NONCE_BYTES) if nonce is None else nonce
    return nonce + AESGCM(kek).encrypt(nonce, bytes(key), _wrap_data(kek_id, key_id))


def unwrap_key(kek: bytes, kek_id: str, key_id: str, wrapped: bytes) -> bytes:
    """The client key inside ``wrapped``; ``SealError`` under another KEK, another key id, or when altered."""
    data = bytes(wrapped)
    try:
        return AESGCM(kek).decrypt(data[:NONCE_BYTES], data[NONCE_BYTES:], _wrap_data(kek_id, key_id))
    except (InvalidTag, ValueError):
        raise SealError(
            f"client key {key_id}: does not unwrap under key-encryption key {kek_id} (another KEK, or altered)"
        ) from None


def keyed_digest(pepper: bytes, purpose: str, data: bytes) -> bytes:
    """HMAC-SHA256 of ``data`` under the pepper, separated by ``purpose``: one table's digests never match
    another's, and without the pepper (a file outside the database) no dictionary finds the input."""
    return hmac.new(pepper, purpose.encode() + b"\x00" + data, hashlib.sha256).digest()


def client_digest(pepper: bytes, client_ref: str) -> bytes:
    """How ``client_keys`` finds a client: a keyed hash of the pseudonym, never the pseudonym."""
    return keyed_digest(pepper, CLIENT_LOOKUP, client_ref.encode())


def pepper_fingerprint(pepper: bytes) -> bytes:
    """What the database keeps to tell that a secrets directory's pepper is this installation's (not the pepper)."""
    return keyed_digest(pepper, "kim.pepper-fingerprint", b"")


def associated_data(event_type: str, aggregate_id: str) -> bytes:
    return f"kim.client_ref|{event_type}|{aggregate_id}".encode()


def seal(key: ClientKey, client_ref: str, event_type: str, aggregate_id: str, nonce: bytes | None = None) -> dict:
    """``{key_id, ciphered}`` of ``client_ref``; ``nonce`` only for repeatable samples (never reuse one)."""
    nonce = os.urandom(NONCE_BYTES) if nonce is None else nonce
    sealed = key.aead.encrypt(nonce, client_ref.encode(), associated_data(event_type, aggregate_id))
    return {"key_id": key.key_id, "ciphered": nonce + sealed}


def unseal(key: ClientKey, sealed: dict[str, Any], event_type: str, aggregate_id: str) -> str:
    """The pseudonym in ``sealed``; ``SealError`` when the key is another, or the value was altered or moved."""
    if sealed.get("key_id") != key.key_id:
        raise SealError("payload.client_sealed: sealed under another key")
    data = bytes(sealed["ciphered"])
    try:
        clear = key.aead.decrypt(data[:NONCE_BYTES], data[NONCE_BYTES:], associated_data(event_type, aggregate_id))
    except InvalidTag:
        raise SealError("payload.client_sealed: does not open (altered, or moved from another case)") from None
    return clear.decode()


def clear_on_log(event_type: str, payload: dict[str, Any]) -> str | None:
    """Why an event read from the log must not be applied: a pseudonym in clear where v2 seals it (a producer
    that bypassed the platform's publishers), which ``kim erase`` could never find or make unreadable."""
    if event_type in SEALED and payload.get("client_ref") is not None:
        return (
            f"payload.client_ref: the client's pseudonym is in clear on the log; publish {event_type} through the "
            "gateway or a Publisher with the client key store, which seal it"
        )
    return None


def client_refs(event_type: str, payload: dict[str, Any]) -> list[str]:
    """The clear pseudonym a draft of ``event_type`` asks to seal (empty for other types)."""
    if event_type not in SEALED:
        return []
    ref = payload.get("client_ref")
    return [ref] if isinstance(ref, str) and PSEUDONYM.fullmatch(ref) else []


@dataclass
class KeyRing:
    """The client keys a publisher holds, by pseudonym: seals the two client-carrying types."""

    keys: dict[str, ClientKey] = field(default_factory=dict)

    def add(self, client_ref: str, key_id: str, key: bytes) -> ClientKey:
        found = self.keys[client_ref] = ClientKey.of(key_id, key)
        return found

    def forget(self, key_id: str) -> int:
        """Drop the key ``key_id`` (destroyed by an erasure); how many entries held it."""
        gone = [ref for ref, key in self.keys.items() if key.key_id == key_id]
        for ref in gone:
            del self.keys[ref]
        return len(gone)

    def clear(self) -> None:
        self.keys.clear()

    def missing(self, refs: list[str]) -> list[str]:
        return sorted({ref for ref in refs if ref not in self.keys})

    def seal_payload(self, event_type: str, payload: dict[str, Any], *, nonce: bytes | None = None) -> dict[str, Any]:
        """The payload as it goes on the log: ``client_ref`` null, ``client_sealed`` set. Other types unchanged."""
        aggregate = SEALED.get(event_type)
        if aggregate is None:
            return payload
        if payload.get("client_sealed") is not None:
            raise SealError("payload.client_sealed: set by the platform when it seals client_ref; send client_ref")
        ref = payload.get("client_ref")
        if not isinstance(ref, str):
            raise SealError("payload.client_ref: required field is missing (the client's pseudonym)")
        if not PSEUDONYM.fullmatch(ref):
            raise SealError(f"payload.client_ref: {PSEUDONYM_RULE}")
        key = self.keys.get(ref)
        if key is None:
            raise SealError("payload.client_ref: no key of this client is loaded (load the keys before preparing)")
        aggregate_id = payload.get(aggregate)
        if not isinstance(aggregate_id, str):
            raise SealError(f"payload.{aggregate}: required field is missing")
        sealed = seal(key, ref, event_type, aggregate_id, nonce)
        return {**payload, "client_ref": None, "client_sealed": sealed}


NO_KEY_STORE = (
    "payload.client_ref: this publisher cannot seal the client's pseudonym (it has no client key store): "
    "publish {type} through the HTTP gateway, or from the platform with Publisher(..., client_keys=ClientKeyStore(…))"
)
