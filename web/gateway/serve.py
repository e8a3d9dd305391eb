"""Run the gateway until SIGINT/SIGTERM; on the way out every producer flushes what it still holds."""

from __future__ import annotations

from collections.abc import Callable

from aiohttp import web

from web.gateway.app import make_app
from web.gateway.config import GatewayConfig


def serve(
    config: GatewayConfig, host: str = "127.0.0.1", port: int = 8088, announce: Callable[[str], None] = print
) -> None:
    app = make_app(config)
    url = f"http://{host}:{port}"
    web.run_app(
        app,
        host=host,
        port=port,
        print=lambda _: announce(
            f"KIM gateway on {url} (POST /v1/events, POST /v1/events:batch, GET /v1/referrals/received, "
            "GET /v1/dead-letters, GET /openapi.json); Ctrl-C stops it"
        ),
        handle_signals=True,
    )
