"""The codec's compiled body decoder (``schemas/avro_native``, Rust through PyO3), when it is installed.

It reads a body into exactly the values fastavro's ``schemaless_reader`` gives for the writer schema (a
differential test over every published schema holds it to that), in about an eighth of the time: fastavro
spends half of its time building ``uuid.UUID`` and ``datetime`` objects in Python. ``./kim`` builds it with
cargo when Rust is installed; without it, or with ``KIM_DECODER=fastavro``, or for a schema it does not
cover, the codec reads with fastavro as before.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from schemas.errors import KimError

try:
    from kim_avro_native import Decoder
except ImportError:  # not built: fastavro reads every body
    Decoder = None

BodyReader = Callable[[bytes, int], tuple[Any, int]]  # (message, where the body starts) -> (value, where it ends)
CHOICES = ("compiled", "fastavro")


class DecoderChoiceError(KimError, ValueError):
    """``KIM_DECODER`` names no decoder."""


def wanted() -> bool:
    """Whether the compiled decoder is to be used: installed, and not turned off by ``KIM_DECODER=fastavro``."""
    choice = os.environ.get("KIM_DECODER", "compiled").strip().lower() or "compiled"
    if choice not in CHOICES:
        raise DecoderChoiceError(f"KIM_DECODER={choice!r} names no decoder: set it to one of {', '.join(CHOICES)}")
    return choice == "compiled" and Decoder is not None


def body_reader(schema: dict[str, Any]) -> BodyReader | None:
    """The compiled reader of bodies written by ``schema``, or None when it does not cover the schema."""
    if Decoder is None:
        return None
    try:
        return Decoder(schema).decode
    except NotImplementedError:  # e.g. a logical type it does not build: fastavro reads this schema
        return None
