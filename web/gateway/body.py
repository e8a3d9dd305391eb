"""Reading a request: its JSON body within the limits — every mistake a one-line 4xx."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from web.problems import Problem


async def json_body(request: web.Request, max_bytes: int) -> Any:
    """The parsed body: 415 unless JSON in UTF-8, 413 over ``max_bytes``, 400 when it does not parse."""
    if request.content_type != "application/json" and not request.content_type.endswith("+json"):
        given = request.headers.get("Content-Type")
        got = f"got {given!r}" if given else "no Content-Type header was sent"
        raise Problem(415, f"send the body as Content-Type: application/json ({got})")
    if request.charset and request.charset.lower().replace("_", "-") not in ("utf-8", "utf8"):
        raise Problem(415, f"send the body in UTF-8 (got charset {request.charset!r})")
    if request.content_length is not None and request.content_length > max_bytes:
        raise Problem(413, _too_large(request.content_length, max_bytes))
    try:
        raw = await request.read()
    except web.HTTPRequestEntityTooLarge:
        raise Problem(413, _too_large(None, max_bytes)) from None
    if not raw.strip():
        raise Problem(400, "the body is empty; send JSON")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as why:
        where = f"byte 0x{raw[why.start]:02x} at position {why.start}"
        raise Problem(400, f"the body is not valid UTF-8 ({where})") from None
    try:
        return json.loads(text, parse_constant=_no_constants)
    except json.JSONDecodeError as why:
        raise Problem(400, f"the body is not valid JSON: {why.msg} at line {why.lineno} column {why.colno}") from None
    except ValueError as why:
        raise Problem(400, f"the body is not valid JSON: {why}") from None
    except RecursionError:
        raise Problem(400, "the body is not acceptable JSON: nested too deeply") from None


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _too_large(size: int | None, limit: int) -> str:
    actual = f" ({size:,} bytes)" if size is not None else ""
    return f"the body is too large{actual}; at most {limit:,} bytes per request — split it into smaller batches"
