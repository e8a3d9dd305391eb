"""The compiled body decoder against fastavro, the reference: the same values for every body of every schema.

- Every writer schema the codec reads (each published version and today's) is covered by the compiled decoder.
- Values drawn from each writer schema (hypothesis: extreme numbers and timestamps, any text, UUIDs in every
  spelling ``uuid.UUID`` accepts), written by fastavro, read back by both: equal, and equal in ``repr`` (the same
  types: ``uuid.UUID``, ``datetime`` in UTC, ``date``); what one refuses the other refuses.
- Whole messages through the codec with and without it (every sample, every stored sample of a published
  version, and their mutations from the fuzz test): the same ``Event`` or a ``DecodeError`` from both.
"""

from __future__ import annotations

import io
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from fastavro import parse_schema, schemaless_reader, schemaless_writer
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas import Codec, DecodeError
from schemas.compiled_decoder import Decoder, DecoderChoiceError, body_reader, wanted
from tests.unit.test_fuzz_codec import FUZZ, VALID, mutated

FASTAVRO = Codec(compiled=False)
COMPILED = Codec(compiled=True)
WRITERS = sorted(FASTAVRO.writer_types().items())
NOT_BUILT = "the compiled decoder (schemas/avro_native) is not installed: install Rust (rustup.rs), run ./kim"

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
FIRST_MICROS = int((datetime(1, 1, 1, tzinfo=UTC) - EPOCH).total_seconds()) * 1_000_000
LAST_MICROS = int((datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC) - EPOCH).total_seconds()) * 1_000_000 + 999_999
FIRST_DAY, LAST_DAY = -719_162, 2_932_896  # date(1, 1, 1) and date(9999, 12, 31), in days from 1970-01-01


def test_the_compiled_decoder_is_installed() -> None:
    assert Decoder is not None, NOT_BUILT
    assert COMPILED.compiled and not FASTAVRO.compiled


@pytest.mark.parametrize(("fingerprint", "event_type"), WRITERS, ids=[f"{t}-{f.hex()[:6]}" for f, t in WRITERS])
def test_every_writer_schema_is_covered(fingerprint: bytes, event_type: str) -> None:
    """No schema of the catalog falls back to fastavro unnoticed."""
    schema = FASTAVRO.writer_schema(fingerprint)
    assert schema is not None and body_reader(schema.schema) is not None, f"{event_type} v{schema.version}"


def _uuid_text(value: uuid.UUID, spelling: int) -> str:
    """One of the spellings ``uuid.UUID`` reads: canonical, upper case, braces, bare hex, URN."""
    text = str(value)
    return (text, text.upper(), "{" + text + "}", value.hex, "urn:uuid:" + text)[spelling]


def values(schema: Any, names: dict[str, Any], namespace: str = "") -> st.SearchStrategy[Any]:
    """Values of an Avro schema as fastavro writes them (logical types as their underlying or Python values)."""
    if isinstance(schema, list):
        return st.one_of([values(branch, names, namespace) for branch in schema])
    if isinstance(schema, str):
        primitives = {
            "null": st.none(),
            "boolean": st.booleans(),
            "int": st.integers(-(2**31), 2**31 - 1),
            "long": st.integers(-(2**63), 2**63 - 1),
            "float": st.floats(width=32, allow_nan=False),
            "double": st.floats(allow_nan=False),
            "bytes": st.binary(max_size=40),
            "string": st.text(max_size=20),
        }
        if schema in primitives:
            return primitives[schema]
        return names.get(f"{namespace}.{schema}") or names[schema]
    kind, logical = schema["type"], schema.get("logicalType")
    if logical == "uuid":
        return st.builds(_uuid_text, st.uuids(), st.integers(0, 4))
    if logical == "timestamp-micros":
        return st.one_of(st.integers(FIRST_MICROS, LAST_MICROS), st.sampled_from([FIRST_MICROS, LAST_MICROS, 0, -1]))
    if logical == "date":
        return st.integers(FIRST_DAY, LAST_DAY)
    if kind in ("record", "enum", "fixed"):
        name = schema["name"]
        space = name.rpartition(".")[0] if "." in name else schema.get("namespace", namespace)
        full = name if "." in name else f"{space}.{name}" if space else name
        if kind == "enum":
            names[full] = st.sampled_from(schema["symbols"])
        elif kind == "fixed":
            names[full] = st.binary(min_size=schema["size"], max_size=schema["size"])
        else:
            names[full] = st.deferred(lambda: record)  # a reference inside itself draws the finished record
            fields = {f["name"]: values(f["type"], names, space) for f in schema["fields"]}
            record = st.fixed_dictionaries(fields)
            names[full] = record
        return names[full]
    if kind == "array":
        return st.lists(values(schema["items"], names, namespace), max_size=4)
    if kind == "map":
        return st.dictionaries(st.text(max_size=8), values(schema["values"], names, namespace), max_size=3)
    return values(kind, names, namespace)


@st.composite
def written(draw: st.DrawFn) -> tuple[dict[str, Any], bytes]:
    """A writer schema of the catalog and a body fastavro wrote for a value drawn from it."""
    fingerprint, _ = draw(st.sampled_from(WRITERS))
    schema = FASTAVRO.writer_schema(fingerprint).schema
    out = io.BytesIO()
    schemaless_writer(out, parse_schema(schema), draw(values(schema, {})))
    return schema, out.getvalue()


def _read(read: Any) -> tuple[str, Any]:
    try:
        return "value", read()
    except Exception as why:
        return "refused", type(why).__name__


@settings(max_examples=300, deadline=None)
@given(written(), st.binary(max_size=3))
def test_compiled_and_fastavro_read_every_body_alike(case: tuple[dict[str, Any], bytes], prefix: bytes) -> None:
    schema, body = case
    assert Decoder is not None, NOT_BUILT
    data = prefix + body  # the body need not start at 0 (in a message it follows the header)
    compiled = _read(lambda: Decoder(schema).decode(data, len(prefix)))
    reference = _read(lambda: schemaless_reader(io.BytesIO(body), parse_schema(schema), None))
    assert compiled[0] == reference[0] == "value", (compiled, reference)
    value, end = compiled[1]
    assert end == len(data)
    assert value == reference[1] and repr(value) == repr(reference[1])


@pytest.mark.parametrize("micros", [FIRST_MICROS - 1, LAST_MICROS + 1, -(2**63), 2**63 - 1])
def test_a_timestamp_beyond_the_calendar_is_refused_by_both(micros: int) -> None:
    schema = {"type": "long", "logicalType": "timestamp-micros"}
    out = io.BytesIO()
    schemaless_writer(out, parse_schema("long"), micros)
    with pytest.raises(ValueError):
        Decoder(schema).decode(out.getvalue(), 0)
    with pytest.raises((ValueError, OverflowError)):
        schemaless_reader(io.BytesIO(out.getvalue()), parse_schema(schema), None)


def _event(codec: Codec, data: bytes) -> tuple[str, str]:
    try:
        return "event", repr(codec.decode(data))
    except DecodeError:
        return "refused", ""


@pytest.mark.parametrize("data", VALID, ids=range(len(VALID)))
def test_both_codecs_read_every_sample_alike(data: bytes) -> None:
    assert _event(COMPILED, data) == _event(FASTAVRO, data)
    assert COMPILED.decode(data) == FASTAVRO.decode(data)


@FUZZ
@given(mutated())
def test_both_codecs_read_every_mutation_alike(data: bytes) -> None:
    compiled, reference = _event(COMPILED, data), _event(FASTAVRO, data)
    if reference[0] == "event":  # fastavro reads it: the compiled decoder reads the same event
        assert compiled == reference
    else:  # fastavro refuses it: so does the compiled decoder
        assert compiled[0] == "refused"


def test_kim_decoder_chooses_the_reader(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KIM_DECODER", "fastavro")
    assert not wanted() and not Codec().compiled
    monkeypatch.setenv("KIM_DECODER", "compiled")
    assert wanted() and Codec().compiled
    monkeypatch.setenv("KIM_DECODER", "rust")
    with pytest.raises(DecoderChoiceError, match="KIM_DECODER='rust' names no decoder: set it to one of"):
        Codec()


@pytest.mark.parametrize("raw", [b"ab\xff\xfe", b"\xc0\xaf", b"\xed\xa0\x80", b"ok\xf4\x90\x80\x80"])
def test_invalid_utf8_raises_the_same_error_as_python(raw: bytes) -> None:
    """A dead letter's reason names the error: it must not depend on which decoder read the record."""
    body = bytes([len(raw) * 2]) + raw  # the length as a zig-zag varint, then the bytes
    with pytest.raises(UnicodeDecodeError) as compiled:
        Decoder("string").decode(body, 0)
    with pytest.raises(UnicodeDecodeError) as reference:
        schemaless_reader(io.BytesIO(body), "string", None)
    assert repr(compiled.value) == repr(reference.value)
