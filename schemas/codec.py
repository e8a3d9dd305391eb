"""Avro single-object encoding: ``C3 01`` + CRC-64-AVRO fingerprint (8 bytes, little-endian) + body.

Every message names its writer schema, so any reader can find that schema — in the catalog, or
among the frozen published schemas (``schemas/history``) — and read it as the current version of
its event type: Avro resolution for the shape (``schemas/resolution.py``, compiled once per writer),
then the upcasters for the meaning (``schemas/upcasters.py``).
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fastavro import schemaless_reader, schemaless_writer

from schemas.catalog import Catalog, EventSchema, load_catalog
from schemas.compiled_decoder import BodyReader, body_reader, wanted
from schemas.domain import domain_errors
from schemas.errors import KimError
from schemas.event import Event
from schemas.fast_validation import Check, compile_check
from schemas.history import HISTORY_DIR, frozen_schemas
from schemas.resolution import ResolutionError, Resolve, compile_resolution
from schemas.upcasters import Upcaster, chain
from schemas.validation import field_errors, shown

MAGIC = b"\xc3\x01"
HEADER_SIZE = len(MAGIC) + 8


class DecodeError(KimError, ValueError):
    """The bytes are not a KIM event this catalog can read."""


class EncodeError(KimError, ValueError):
    """The event does not match its schema or breaks a domain rule; ``errors`` lists every invalid field."""

    def __init__(self, event_type: str, errors: list[str]) -> None:
        self.event_type = event_type
        self.errors = errors
        super().__init__(f"invalid {event_type}: " + "; ".join(errors))


@dataclass(frozen=True)
class _Plan:
    """How to read the messages of one writer schema as the current version of their type."""

    writer: EventSchema
    reader: EventSchema
    fastavro_reader: dict[str, Any] | None = None  # set when no compiled resolution fits
    body: BodyReader | None = None  # the compiled body decoder of the writer (schemas/compiled_decoder.py)
    resolve: Resolve | None = None
    upcasters: tuple[Upcaster, ...] = field(default_factory=tuple)
    error: str | None = None  # the writer cannot be read at all


class Codec:
    def __init__(
        self, catalog: Catalog | None = None, *, history: Path = HISTORY_DIR, compiled: bool | None = None
    ) -> None:
        """``compiled``: read bodies with the compiled decoder where it covers the writer schema (default: when
        it is installed and ``KIM_DECODER`` does not say ``fastavro``); False: fastavro only."""
        self.catalog = catalog or load_catalog()
        self.compiled = wanted() if compiled is None else compiled
        self._readers = {t: self.catalog.current(t) for t in self.catalog.event_types()}
        # Published writer schemas as frozen, then today's compositions (the same where nothing changed).
        self._writers = {s.fingerprint: s for s in frozen_schemas(history) if s.event_type in self._readers}
        self._writers.update(self.catalog.by_fingerprint())
        self._plans: dict[bytes, _Plan] = {}
        self._checks: dict[bytes, Check] = {}  # compiled validity checks, by writer fingerprint

    def writer_types(self) -> dict[bytes, str]:
        """The event type of every writer schema this codec reads (published versions and today's), by fingerprint."""
        return {fingerprint: schema.event_type for fingerprint, schema in self._writers.items()}

    def writer_schema(self, fingerprint: bytes) -> EventSchema | None:
        """The writer schema of a message by its fingerprint (a published version or today's), or None."""
        return self._writers.get(bytes(fingerprint))

    def schema_for(self, event_type: str, version: int | None = None) -> EventSchema:
        """The current schema of ``event_type`` (or the given published ``version`` of it)."""
        if not isinstance(event_type, str):
            raise EncodeError(shown(event_type), [f"event_type: expected a string, got {type(event_type).__name__}"])
        try:
            current = self._readers[event_type]
        except KeyError:
            known = ", ".join(sorted(self._readers))
            raise EncodeError(
                event_type, [f"event_type: unknown type {shown(event_type)}; known types: {known}"]
            ) from None
        if version is None or version == current.version:
            return current
        for schema in self.catalog.schemas:
            if schema.event_type == event_type and schema.version == version:
                return schema
        raise EncodeError(event_type, [f"version: {event_type} has no version {shown(version)}"])

    def validate(
        self, event_type: str, envelope: dict[str, Any], payload: dict[str, Any], *, version: int | None = None
    ) -> list[str]:
        """Schema errors, or — once the event matches its schema — domain-rule errors (schemas/rules.py)."""
        schema = self.schema_for(event_type, version)
        datum = {"envelope": envelope, "payload": payload}
        valid = self._checks.get(schema.fingerprint)
        if valid is None:
            valid = self._checks[schema.fingerprint] = compile_check(schema.schema)
        errors = [] if valid(datum) else field_errors(schema.schema, datum)  # names each problem, slowly
        return errors or domain_errors(event_type, envelope, payload)

    def encode(
        self, event_type: str, envelope: dict[str, Any], payload: dict[str, Any], *, version: int | None = None
    ) -> bytes:
        """The event in single-object encoding, written by the current version (or an older ``version``)."""
        schema = self.schema_for(event_type, version)
        errors = self.validate(event_type, envelope, payload, version=version)
        if errors:
            raise EncodeError(event_type, errors)
        out = io.BytesIO()
        out.write(MAGIC)
        out.write(schema.fingerprint)
        try:
            schemaless_writer(out, schema.parsed, {"envelope": envelope, "payload": payload})
        except Exception as exc:  # a value validation lets through but Avro cannot write (e.g. a lone surrogate)
            raise EncodeError(event_type, [f"event: cannot be written as Avro: {shown(exc, 200)}"]) from None
        return out.getvalue()

    def decode(self, data: bytes) -> Event:
        """The event in ``data``, read as the current version of its type."""
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise DecodeError(f"expected bytes, got {type(data).__name__}")
        data = bytes(data)
        if len(data) < HEADER_SIZE or data[:2] != MAGIC:
            raise DecodeError("not Avro single-object encoding (missing C3 01 marker)")
        plan = self._plan(data[2:HEADER_SIZE])
        writer = plan.writer
        if plan.error:
            raise DecodeError(plan.error)
        try:
            if plan.body is not None:
                record, end = plan.body(data, HEADER_SIZE)
            else:
                body = io.BytesIO(data)
                body.seek(HEADER_SIZE)
                record = schemaless_reader(body, writer.parsed, plan.fastavro_reader)
                end = body.tell()
            if end != len(data):
                raise DecodeError(
                    f"corrupt {writer.event_type} v{writer.version} body: {len(data) - end} "
                    "bytes after the end of the event"
                )
            if plan.resolve is not None:
                record = plan.resolve(record)
            envelope, payload = record["envelope"], record["payload"]
        except DecodeError:
            raise
        except Exception as exc:  # fastavro raises many types on corrupt bytes (EOFError, ValueError, …)
            raise DecodeError(f"corrupt {writer.event_type} v{writer.version} body: {shown(exc, 200)}") from None
        for upcast in plan.upcasters:
            try:
                payload = upcast(payload, envelope)
            except Exception as exc:
                raise DecodeError(
                    f"{writer.event_type} v{writer.version}: upcaster {upcast.__name__} failed: {shown(exc, 200)}"
                ) from None
        return Event(writer.event_type, envelope, payload)

    def _plan(self, fingerprint: bytes) -> _Plan:
        plan = self._plans.get(fingerprint)
        if plan is None:
            writer = self._writers.get(fingerprint)
            if writer is None:
                raise DecodeError(
                    f"unknown writer schema fingerprint {fingerprint.hex()} (an event type or version this catalog"
                    " does not know)"
                )
            plan = self._plans[fingerprint] = self._compile(writer)
        return plan

    def _compile(self, writer: EventSchema) -> _Plan:
        reader = self._readers[writer.event_type]
        body = body_reader(writer.schema) if self.compiled else None
        if writer.fingerprint == reader.fingerprint:
            return _Plan(writer, reader, body=body)
        upcasters = chain(writer.event_type, writer.version, reader.version)
        try:
            resolve = compile_resolution(writer.parsed, reader.parsed)
            return _Plan(writer, reader, body=body, resolve=resolve, upcasters=upcasters)
        except ResolutionError as exc:
            return _Plan(
                writer,
                reader,
                error=f"{writer.event_type} v{writer.version} cannot be read as v{reader.version}: {exc}",
            )
        except Exception:  # Unsupported, or anything a plan cannot say: fastavro resolves on every call
            return _Plan(writer, reader, fastavro_reader=reader.parsed, upcasters=upcasters)
