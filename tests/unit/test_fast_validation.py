"""The compiled yes/no check and the message-naming walk agree on every datum: valid iff no error."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from schemas import Codec
from schemas.fast_validation import compile_check
from schemas.samples import EVENT_TYPES, sample_envelope, sample_payload
from schemas.validation import field_errors
from tests.unit.test_fuzz_codec import FUZZ, VALUES, near_miss

CODEC = Codec()
SCHEMAS = {t: CODEC.schema_for(t).schema for t in EVENT_TYPES}
CHECKS = {t: compile_check(s) for t, s in SCHEMAS.items()}


def agree(event_type: str, datum: Any) -> bool:
    valid = CHECKS[event_type](datum)
    assert valid == (field_errors(SCHEMAS[event_type], datum) == []), field_errors(SCHEMAS[event_type], datum)
    return valid


def test_every_sample_event_is_valid_for_both() -> None:
    for event_type in EVENT_TYPES:
        datum = {"envelope": sample_envelope(event_type), "payload": sample_payload(event_type)}
        assert agree(event_type, datum)


@FUZZ
@given(st.sampled_from(EVENT_TYPES), st.data())
def test_near_misses_are_judged_alike(event_type: str, data: st.DataObject) -> None:
    envelope, payload = near_miss(event_type, data)
    agree(event_type, {"envelope": envelope, "payload": payload})


@FUZZ
@given(st.sampled_from(EVENT_TYPES), VALUES)
def test_arbitrary_values_are_judged_alike(event_type: str, datum: Any) -> None:
    agree(event_type, datum)
