"""Record signatures and the stream side's check of who may speak for whom (pure: no broker, no database)."""

from __future__ import annotations

import hashlib
import hmac

import pytest
from hypothesis import given
from hypothesis import strategies as st

from infra.errors import SetupError
from infra.settings import load_settings
from projections.records import LogRecord
from schemas.signing import PLATFORM_SIGNER, SIGNER_HEADER, SigningKey, signature, verify
from streams.runtime.authenticity import SignerKey, check, platform_only

JOBCENTER = SigningKey("JOBCENTER.0000abcd", b"j" * 32)
PLATFORM = SigningKey(PLATFORM_SIGNER, b"p" * 32)
KEYS = {JOBCENTER.key_id: SignerKey("JOBCENTER", JOBCENTER.secret), PLATFORM_SIGNER: SignerKey(None, PLATFORM.secret)}


def record(headers: list[tuple[str, bytes]], offset: int = 5, value: bytes = b"value") -> LogRecord:
    return LogRecord("kim.cases", 0, offset, b"DO-1", value, tuple(headers))


def test_a_key_survives_its_export_and_signs_what_it_verifies() -> None:
    key = SigningKey.new("JUGENDAMT")
    again = SigningKey.parse(key.export())
    assert again == key and again.agency == "JUGENDAMT" and PLATFORM.agency is None
    headers = dict(key.headers(b"k", b"v"))
    assert verify(headers, b"k", b"v", key.secret)
    assert not verify(headers, b"k", b"v2", key.secret) and not verify(headers, b"kv", b"", key.secret)
    assert not verify({"kim.sig": b"not base64!"}, b"k", b"v", key.secret)
    assert verify(dict(key.headers(None, None)), b"", b"", key.secret)  # a tombstone signs as empty
    with pytest.raises(ValueError, match="a signing key looks like"):
        SigningKey.parse("JOBCENTER.1234:c2hvcnQ=")


@given(st.binary(max_size=200), st.none() | st.binary(max_size=40), st.none() | st.binary(max_size=300))
def test_the_signature_is_the_standard_hmac_sha256_of_length_key_and_value(
    secret: bytes, key: bytes | None, value: bytes | None
) -> None:
    """The hand-written HMAC (precomputed pads) equals the standard library's, for secrets shorter and longer
    than SHA-256's 64-byte block (a longer one is hashed first)."""
    key_bytes = key or b""
    message = len(key_bytes).to_bytes(4, "big") + key_bytes + (value or b"")
    assert signature(secret, key, value) == hmac.new(secret, message, hashlib.sha256).digest()
    assert signature(secret, key, value) == signature(secret, key, value)  # the cached pads are not consumed


def test_only_the_agency_itself_or_the_platform_may_sign_for_it() -> None:
    own = record(JOBCENTER.headers(b"DO-1", b"value"))
    assert check(own, "JOBCENTER", KEYS, {}) is None
    assert check(own, "JUGENDAMT", KEYS, {}) == (
        "forged source: the record claims source_agency JUGENDAMT but was signed by JOBCENTER"
    )
    assert check(record(PLATFORM.headers(b"DO-1", b"value")), "JUGENDAMT", KEYS, {}) is None
    altered = record(JOBCENTER.headers(b"DO-1", b"value"), value=b"other")
    assert check(altered, "JOBCENTER", KEYS, {}).startswith("bad signature: kim.sig does not verify")
    stranger = record(SigningKey("SOZIALAMT.ffff0000", b"s" * 32).headers(b"DO-1", b"value"))
    assert check(stranger, "SOZIALAMT", KEYS, {}).startswith("unknown signer 'SOZIALAMT.ffff0000'")


def test_only_the_platform_may_erase_and_the_last_signer_header_is_the_one_that_counts() -> None:
    ki = SigningKey("KOMMUNALES_INTEGRATIONSZENTRUM.00aa00bb", b"k" * 32)
    keys = {**KEYS, ki.key_id: SignerKey("KOMMUNALES_INTEGRATIONSZENTRUM", ki.secret)}
    assert platform_only(record(PLATFORM.headers(b"DO-1", b"value")), "CaseErased") is None
    assert platform_only(record(ki.headers(b"DO-1", b"value")), "CaseErased") == (
        "not the platform's: CaseErased is published by `kim erase` only (signed by the platform)"
    )
    assert platform_only(record([]), "ApplicationErased") is not None
    # A platform signer header in front of an agency's own signature: the signature check reads the last
    # kim.signer (the agency's, and it verifies), so the erasure check must read that one too and refuse.
    smuggled = record([(SIGNER_HEADER, PLATFORM_SIGNER.encode()), *ki.headers(b"DO-1", b"value")])
    assert check(smuggled, "KOMMUNALES_INTEGRATIONSZENTRUM", keys, {}) is None
    assert platform_only(smuggled, "CaseErased") is not None


def test_unsigned_records_count_only_below_the_pre_signing_cutoff() -> None:
    cutoffs = {("kim.cases", 0): 5}
    assert check(record([], offset=4), "JOBCENTER", KEYS, cutoffs) is None
    assert check(record([], offset=5), "JOBCENTER", KEYS, cutoffs).startswith("unsigned: the record claims JOBCENTER")
    assert check(record([], offset=0), "JOBCENTER", KEYS, {}).startswith("unsigned:")


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"KIM_KAFKA_SECURITY": "tls"}, "KIM_KAFKA_SECURITY='tls' is not one of sasl_ssl, ssl, sasl_scram, plaintext"),
        ({"KIM_KAFKA_USERNAME": "u"}, "are for an external cluster"),
        ({"KIM_KAFKA_BOOTSTRAP": "b:9092", "KIM_KAFKA_SECURITY": "sasl_scram"}, "needs KIM_KAFKA_USERNAME and"),
        (
            {"KIM_KAFKA_BOOTSTRAP": "b:9092", "KIM_KAFKA_SECURITY": "ssl", "KIM_KAFKA_PASSWORD": "p"},
            "but KIM_KAFKA_SECURITY is ssl",
        ),
        ({"KIM_KAFKA_BOOTSTRAP": "b:9092"}, "KIM_KAFKA_SECURITY=sasl_ssl needs KIM_KAFKA_USERNAME"),
    ],
)
def test_kafka_security_settings_are_checked(env: dict[str, str], message: str) -> None:
    with pytest.raises(SetupError, match=message):
        load_settings(env)


def test_an_external_cluster_with_a_login_gives_every_client_those_options() -> None:
    from infra.platform_identity import child_env, kafka_connection, required_signing_secret, signing_secret

    env = {"KIM_KAFKA_BOOTSTRAP": "b:9092", "KIM_KAFKA_SECURITY": "sasl_scram", "KIM_KAFKA_USERNAME": "kim-platform"}
    kafka = kafka_connection(load_settings({**env, "KIM_KAFKA_PASSWORD": "secret"}))
    assert kafka.options()["sasl_mechanism"] == "SCRAM-SHA-512"
    assert kafka.options()["bootstrap_servers"] == "b:9092"
    assert child_env(kafka)["KIM_KAFKA_PASSWORD"] == "secret"
    assert "secret" not in repr(kafka)
    plain_settings = load_settings({"KIM_KAFKA_BOOTSTRAP": "b:9092", "KIM_KAFKA_SECURITY": "plaintext"})
    assert plain_settings.warnings and "unencrypted" in plain_settings.warnings[0]
    plain = kafka_connection(plain_settings)
    assert plain.options() == {"bootstrap_servers": "b:9092", "security_protocol": "PLAINTEXT"}
    assert signing_secret(plain) is None
    with pytest.raises(SetupError, match="only on an authenticated cluster"):
        required_signing_secret(plain)
    other = kafka_connection(load_settings({**env, "KIM_KAFKA_PASSWORD": "x"}))
    assert signing_secret(kafka) != signing_secret(other)
