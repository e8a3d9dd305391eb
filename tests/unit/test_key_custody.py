"""The pure half of the client keys' custody: wrapping under a key-encryption key, the keyed hashes, the secrets
directory's files (modes, a destroyed KEK), the key ring forgetting an erased key."""

from __future__ import annotations

import hashlib
import hmac
import stat
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from infra.errors import SetupError
from infra.key_custody import idempotency_digest
from infra.platform_secrets import Secrets, SecretsMissing
from infra.settings import load_settings
from schemas.sealing import (
    KEY_BYTES,
    WRAPPED_BYTES,
    ClientKey,
    KeyRing,
    SealError,
    client_digest,
    keyed_digest,
    new_kek,
    new_key,
    pepper_fingerprint,
    seal,
    unseal,
    unwrap_key,
    wrap_key,
)

KEYS = st.binary(min_size=KEY_BYTES, max_size=KEY_BYTES)


@given(key=KEYS)
def test_a_wrapped_key_unwraps_to_itself_under_its_kek_and_never_holds_it_in_clear(key: bytes) -> None:
    kek_id, kek = new_kek()
    wrapped = wrap_key(kek, kek_id, "k-1", key)
    assert len(wrapped) == WRAPPED_BYTES
    assert key not in wrapped
    assert unwrap_key(kek, kek_id, "k-1", wrapped) == key


def test_a_wrong_kek_another_key_id_or_an_altered_byte_does_not_unwrap() -> None:
    kek_id, kek = new_kek()
    other_id, other = new_kek()
    key_id, key = new_key()
    wrapped = wrap_key(kek, kek_id, key_id, key)
    with pytest.raises(SealError, match="does not unwrap"):
        unwrap_key(other, kek_id, key_id, wrapped)  # another KEK (a rotated one's successor)
    with pytest.raises(SealError, match="does not unwrap"):
        unwrap_key(kek, other_id, key_id, wrapped)  # claimed to be under another KEK
    with pytest.raises(SealError, match="does not unwrap"):
        unwrap_key(kek, kek_id, "k-another", wrapped)  # moved to another row
    altered = bytearray(wrapped)
    altered[20] ^= 1
    with pytest.raises(SealError, match="does not unwrap"):
        unwrap_key(kek, kek_id, key_id, bytes(altered))


def test_the_unwrapped_key_opens_what_the_key_sealed() -> None:
    kek_id, kek = new_kek()
    key_id, key = new_key()
    sealed = seal(ClientKey.of(key_id, key), "P-client01", "CaseOpened", "DO-1")
    back = unwrap_key(kek, kek_id, key_id, wrap_key(kek, kek_id, key_id, key))
    assert unseal(ClientKey.of(key_id, back), sealed, "CaseOpened", "DO-1") == "P-client01"


@given(ref=st.from_regex(r"[A-Za-z0-9_-]{6,64}", fullmatch=True))
def test_the_client_digest_is_keyed_separated_by_purpose_and_not_the_plain_hash(ref: str) -> None:
    pepper, other = bytes(range(32)), bytes(32)
    digest = client_digest(pepper, ref)
    assert len(digest) == 32 and digest == client_digest(pepper, ref)
    assert digest != client_digest(other, ref)  # without this installation's pepper, no dictionary matches
    assert digest != hashlib.sha256(ref.encode()).digest()
    assert digest != hmac.new(pepper, ref.encode(), hashlib.sha256).digest()  # not erased_clients' digest
    assert ref.encode() not in digest
    assert keyed_digest(pepper, "a", b"x") != keyed_digest(pepper, "b", b"x")


def test_the_idempotency_hash_and_the_pepper_fingerprint_are_keyed() -> None:
    pepper = bytes(range(32))
    plain = hashlib.sha256(b"/v1/events\n{}").digest()
    assert idempotency_digest(pepper, plain) != plain
    assert idempotency_digest(pepper, plain) != idempotency_digest(bytes(32), plain)
    assert pepper_fingerprint(pepper) != pepper_fingerprint(bytes(32))
    assert pepper not in pepper_fingerprint(pepper)


def test_the_key_ring_forgets_an_erased_key_and_only_that_one() -> None:
    ring = KeyRing()
    erased, kept = new_key(), new_key()
    ring.add("P-erased01", *erased)
    ring.add("P-kept0001", *kept)
    assert ring.forget(erased[0]) == 1
    assert ring.missing(["P-erased01", "P-kept0001"]) == ["P-erased01"]
    assert ring.forget(erased[0]) == 0
    ring.clear()
    assert ring.missing(["P-kept0001"]) == ["P-kept0001"]


def test_the_secrets_directory_is_0700_its_files_0600_and_a_pepper_is_never_replaced(tmp_path: Path) -> None:
    secrets = Secrets(tmp_path / "secrets")
    with pytest.raises(SecretsMissing, match="the pepper is missing"):
        secrets.pepper()
    first = secrets.write_pepper(b"p" * 32)
    assert secrets.write_pepper(b"q" * 32) == first == b"p" * 32  # the existing pepper stays
    kek_id, kek = new_kek()
    secrets.write_kek(kek_id, kek)
    assert secrets.kek(kek_id) == kek and secrets.kek_ids() == [kek_id]
    assert stat.S_IMODE(secrets.directory.stat().st_mode) == 0o700
    for path in secrets.directory.iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    with pytest.raises(SecretsMissing, match="exists already"):
        secrets.write_kek(kek_id, kek)
    with pytest.raises(SecretsMissing, match="not a key-encryption key id"):
        secrets.kek("../pepper")


def test_a_destroyed_kek_is_gone_and_what_it_wrapped_opens_with_no_other(tmp_path: Path) -> None:
    secrets = Secrets(tmp_path / "secrets")
    old_id, old = new_kek()
    new_id, new = new_kek()
    secrets.write_kek(old_id, old)
    secrets.write_kek(new_id, new)
    key_id, key = new_key()
    left_behind = wrap_key(old, old_id, key_id, key)  # a deleted row's copy in WAL or a backup
    assert secrets.destroy_kek(old_id) is True
    assert secrets.kek_ids() == [new_id] and not secrets.destroy_kek(old_id)
    with pytest.raises(SecretsMissing):
        secrets.kek(old_id)
    for kek_id in secrets.kek_ids():
        with pytest.raises(SealError):
            unwrap_key(secrets.kek(kek_id), old_id, key_id, left_behind)


def test_kim_secrets_dir_defaults_under_kim_home_and_must_be_absolute() -> None:
    assert load_settings({"KIM_HOME": "/srv/kim"}).secrets_dir == Path("/srv/kim/secrets")
    assert load_settings({"KIM_HOME": "/srv/kim", "KIM_SECRETS_DIR": "/etc/kim"}).secrets_dir == Path("/etc/kim")
    with pytest.raises(SetupError, match="KIM_SECRETS_DIR='secrets' must be an absolute path"):
        load_settings({"KIM_SECRETS_DIR": "secrets"})
