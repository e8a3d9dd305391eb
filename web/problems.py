"""JSON errors for both HTTP front doors, and a middleware so that no error reaches a client as HTML or a traceback.

Error bodies: ``{"error": "<one line>"}``, plus ``"errors": [{"field", "reason"}]`` (and ``"index"`` in a
batch) when single fields are to blame.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from schemas.errors import KimError

log = logging.getLogger("kim.web")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
SERVICE = web.AppKey("service", str)  # the app's name in a 500 answer: "the gateway", "the read API"


class Problem(KimError):
    """A request a server refuses, with its HTTP status and a one-line reason."""

    def __init__(
        self,
        status: int,
        message: str,
        errors: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(message)
        self.headers = headers or {}
        self.status = status
        self.message = message
        self.errors = errors
        self.extra = extra


def error_response(status: int, message: str, errors: list[dict[str, Any]] | None = None, **extra: Any) -> web.Response:
    body: dict[str, Any] = {"error": message}
    if errors is not None:
        body["errors"] = errors
    body.update(extra)
    return web.json_response(body, status=status)


@web.middleware
async def json_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except Problem as problem:
        response = error_response(problem.status, problem.message, problem.errors, **problem.extra)
        response.headers.update(problem.headers)
        return response
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        response = error_response(exc.status, exc.reason)
        if "Allow" in exc.headers:
            response.headers["Allow"] = exc.headers["Allow"]
        return response
    except Exception:
        log.exception("unexpected error in %s %s", request.method, request.path)
        service = request.app.get(SERVICE, "the server")
        return error_response(500, f"internal error in {service}; its log has the details")
