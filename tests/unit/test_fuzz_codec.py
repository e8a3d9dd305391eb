"""Fuzzing the codec: whatever arrives, only DecodeError / EncodeError come out, quickly.

Bytes: random, and mutations of valid events (truncations, bit flips, splices, wrong fingerprints,
huge or negative length prefixes, trailing garbage) into ``Codec.decode``. Values: JSON-like data
(nested, wrong types, huge ints, NaN, non-string keys, lone surrogates, extreme datetimes) into
``Codec.validate`` and ``Codec.encode``. Sizes are bounded; each example has a deadline, so a hang or
a giant allocation fails the test.
"""

from __future__ import annotations

import math
import os
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from schemas import Codec, DecodeError, EncodeError, Event
from schemas.codec import HEADER_SIZE, MAGIC
from schemas.history import stored_samples
from schemas.samples import EVENT_TYPES, sample_envelope, sample_event, sample_payload

CODEC = Codec()
VALID = [CODEC.encode(e.event_type, e.envelope, e.payload) for e in map(sample_event, EVENT_TYPES)]
VALID += [s.data for s in stored_samples()]  # older versions too
FINGERPRINTS = sorted({v[2:HEADER_SIZE] for v in VALID})
# KIM_FUZZ_EXAMPLES=20000 for a deep run; the suite's default keeps it to a few seconds.
FUZZ = settings(
    max_examples=int(os.environ.get("KIM_FUZZ_EXAMPLES", "300")),
    deadline=timedelta(seconds=2),
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def zigzag(n: int) -> bytes:
    """Avro's variable-length zig-zag encoding of a long (lengths, counts)."""
    n = (n << 1) ^ (n >> 63)
    out = bytearray()
    while n & ~0x7F:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def decodes_or_refuses(data: bytes) -> Event | None:
    """Decode ``data``; anything but a DecodeError escaping fails the test."""
    try:
        event = CODEC.decode(data)
    except DecodeError as exc:
        assert str(exc)
        return None
    assert isinstance(event, Event) and isinstance(event.payload, dict) and isinstance(event.envelope, dict)
    return event


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    data = bytearray(draw(st.sampled_from(VALID)))
    kind = draw(st.sampled_from(["truncate", "flip", "splice", "fingerprint", "length", "append", "delete"]))
    if kind == "truncate":
        return bytes(data[: draw(st.integers(0, len(data) - 1))])
    if kind == "flip":
        for _ in range(draw(st.integers(1, 8))):
            i = draw(st.integers(0, len(data) - 1))
            data[i] ^= 1 << draw(st.integers(0, 7))
        return bytes(data)
    if kind == "splice":
        i = draw(st.integers(HEADER_SIZE, len(data)))
        return bytes(data[:i]) + draw(st.binary(max_size=64)) + bytes(data[i + draw(st.integers(0, 16)) :])
    if kind == "fingerprint":
        other = draw(st.sampled_from([*FINGERPRINTS, *(bytes(draw(st.binary(min_size=8, max_size=8))),)]))
        return MAGIC + other + bytes(data[HEADER_SIZE:])
    if kind == "length":  # a huge, negative or just wrong varint where a length or count may be
        i = draw(st.integers(HEADER_SIZE, len(data) - 1))
        n = draw(st.one_of(st.sampled_from([2**31, 2**40, 2**62, 2**63 - 1, -1, -(2**63)]), st.integers(-300, 300)))
        return bytes(data[:i]) + zigzag(n) + bytes(data[i + 1 :])
    if kind == "append":
        return bytes(data) + draw(st.binary(min_size=1, max_size=32))
    i = draw(st.integers(HEADER_SIZE, len(data) - 1))
    return bytes(data[:i]) + bytes(data[i + draw(st.integers(1, 8)) :])


@FUZZ
@given(st.binary(max_size=512))
@example(b"")
@example(MAGIC)
@example(MAGIC + b"\x00" * 8)
def test_random_bytes_only_raise_decode_errors(data: bytes) -> None:
    decodes_or_refuses(data)


@FUZZ
@given(st.sampled_from(FINGERPRINTS), st.binary(max_size=512))
def test_random_bodies_behind_a_known_fingerprint_only_raise_decode_errors(fingerprint: bytes, body: bytes) -> None:
    decodes_or_refuses(MAGIC + fingerprint + body)


@FUZZ
@given(mutated())
def test_mutated_events_only_raise_decode_errors(data: bytes) -> None:
    decodes_or_refuses(data)


@pytest.mark.parametrize("n", [2**31, 2**40, 2**62, 2**63 - 1, -1, -(2**63)])
@pytest.mark.parametrize("position", range(HEADER_SIZE, HEADER_SIZE + 4))
def test_a_huge_length_prefix_is_refused_without_allocating_it(n: int, position: int) -> None:
    """The first body bytes are the event id's length: claiming gigabytes must fail fast, not allocate."""
    data = VALID[0]
    assert decodes_or_refuses(data[:position] + zigzag(n) + data[position + 1 :]) is None


def test_trailing_bytes_after_an_event_are_refused() -> None:
    with pytest.raises(DecodeError, match="bytes after the end of the event"):
        CODEC.decode(VALID[0] + b"\x00")


@pytest.mark.parametrize("value", [None, "text", 42, ["a"], {"k": 1}])
def test_decoding_something_that_is_not_bytes_is_a_decode_error(value: Any) -> None:
    with pytest.raises(DecodeError, match="expected bytes"):
        CODEC.decode(value)


# --- values into validate / encode ---------------------------------------------------------------

KEYS = st.one_of(
    st.text(max_size=12),
    st.sampled_from(["case_id", "reason", "resume_by", "event_id", "occurred_at", "needs", "documents"]),
    st.integers(),
    st.none(),
    st.booleans(),
    st.floats(allow_nan=True),
    st.tuples(st.integers()),
)
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.integers(0, 9).map(lambda n: 10**5000 + n),  # beyond Python's int→str limit: an error message must still be made
    st.floats(allow_nan=True, allow_infinity=True),
    st.just(math.nan),
    st.text(max_size=40),
    st.just("\ud800"),  # a lone surrogate: a str, but not UTF-8
    st.binary(max_size=16),
    st.dates(),
    st.datetimes(),
    st.datetimes(timezones=st.just(UTC)),
    st.just(datetime.max.replace(tzinfo=UTC)),
    st.just(datetime.min.replace(tzinfo=UTC)),
    st.just(datetime(2025, 1, 1, tzinfo=timezone(timedelta(hours=23, minutes=59)))),
    st.sampled_from(["INNENSTADT_NORD", "JOBCENTER", "CLIENT_AWAY", "SGB_II", "NEWCOMER", "REFERRAL"]),
    st.sampled_from(["6972ba6b-f0fa-5361-bf6e-5cedcd4dd6f3", "DO-2025-004711", "P-7f3a9c2e41b8", ""]),
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(st.lists(inner, max_size=5), st.dictionaries(KEYS, inner, max_size=5)),
    max_leaves=25,
)


def encodes_or_refuses(event_type: Any, envelope: Any, payload: Any) -> None:
    try:
        errors = CODEC.validate(event_type, envelope, payload)
    except EncodeError as exc:
        assert exc.errors
    else:
        assert isinstance(errors, list) and all(isinstance(e, str) for e in errors)
    try:
        data = CODEC.encode(event_type, envelope, payload)
    except EncodeError as exc:
        assert exc.errors and all(isinstance(e, str) for e in exc.errors)
        str(exc)
    else:
        assert CODEC.decode(data).event_type == event_type


@FUZZ
@given(st.one_of(st.sampled_from(EVENT_TYPES), VALUES), VALUES, VALUES)
def test_arbitrary_values_only_raise_encode_errors(event_type: Any, envelope: Any, payload: Any) -> None:
    encodes_or_refuses(event_type, envelope, payload)


@FUZZ
@given(st.sampled_from(EVENT_TYPES), st.data())
def test_samples_with_fields_replaced_by_arbitrary_values_only_raise_encode_errors(
    event_type: str, data: st.DataObject
) -> None:
    """Near misses: a valid event with some fields of envelope or payload replaced, added or removed."""
    encodes_or_refuses(event_type, *near_miss(event_type, data))


def near_miss(event_type: str, data: st.DataObject) -> tuple[dict[str, Any], dict[str, Any]]:
    """The sample envelope and payload of ``event_type`` with up to three fields of each replaced, added or
    removed."""
    envelope, payload = sample_envelope(event_type), sample_payload(event_type)
    for part in (envelope, payload):
        names = sorted(part)
        for _ in range(data.draw(st.integers(0, 3))):
            key = data.draw(st.one_of(st.sampled_from(names), KEYS))
            if data.draw(st.booleans()):
                part[key] = data.draw(VALUES)
            else:
                part.pop(key, None)
    return envelope, payload


@pytest.mark.parametrize(
    ("where", "value"),
    [
        ("envelope.occurred_at", datetime.max.replace(tzinfo=UTC)),
        ("envelope.recorded_at", datetime.max.replace(tzinfo=UTC)),
        ("envelope.occurred_at", datetime.min.replace(tzinfo=UTC)),
        ("payload.case_id", "\ud800"),
        pytest.param("payload.case_id", 10**5000, id="payload.case_id-huge-int"),
        ("payload.resume_by", date.max),
        ("payload.reason", math.nan),
    ],
)
def test_edge_values_are_refused_with_a_reason(where: str, value: Any) -> None:
    envelope, payload = sample_envelope("CasePaused"), sample_payload("CasePaused")
    part, name = where.split(".")
    (envelope if part == "envelope" else payload)[name] = value
    if where == "payload.resume_by":  # a far deadline is fine; it must still encode and decode
        assert CODEC.decode(CODEC.encode("CasePaused", envelope, payload)).payload["resume_by"] == date.max
        return
    with pytest.raises(EncodeError) as raised:
        CODEC.encode("CasePaused", envelope, payload)
    assert any(e.startswith(where) for e in raised.value.errors), raised.value.errors


def test_unknown_field_names_of_any_type_are_named() -> None:
    payload = {**sample_payload("CaseResumed"), 7: "x", None: "y", ("a",): "z"}
    errors = CODEC.validate("CaseResumed", sample_envelope("CaseResumed"), payload)
    assert sorted(errors) == [
        "payload.('a',): unknown field",
        "payload.7: unknown field",
        "payload.None: unknown field",
    ]


@pytest.mark.parametrize("event_type", [None, 7, ["CaseOpened"], {"t": 1}])
def test_an_event_type_that_is_not_a_string_is_an_encode_error(event_type: Any) -> None:
    with pytest.raises(EncodeError, match="event_type: expected a string"):
        CODEC.encode(event_type, {}, {})


def test_the_zigzag_helper_encodes_like_avro() -> None:
    assert (zigzag(1), zigzag(-1), zigzag(64)) == (b"\x02", b"\x01", b"\x80\x01")
