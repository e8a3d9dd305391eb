"""The gateway's field errors in a JSON answer: ``{"field", "reason"}`` (and ``"index"`` in a batch)."""

from __future__ import annotations

from typing import Any

from streams.sdk.errors import FieldError


def field_error(error: FieldError, index: int | None = None) -> dict[str, Any]:
    entry: dict[str, Any] = {} if index is None else {"index": index}
    entry.update(field=error.field, reason=error.reason)
    return entry
