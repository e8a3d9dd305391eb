"""Run the gateway until SIGINT/SIGTERM; on the way out every producer flushes what it still holds."""

from __future__ import annotations

import ssl
from collections.abc import Callable

from aiohttp import web

from web.gateway.app import make_app
from web.gateway.config import GatewayConfig


def serve(
    config: GatewayConfig,
    host: str = "127.0.0.1",
    port: int = 8088,
    announce: Callable[[str], None] = print,
    ssl_context: ssl.SSLContext | None = None,
    note: str = "",
) -> None:
    """Serve HTTPS with ``ssl_context`` (plain HTTP without one); ``note`` says which certificate clients trust."""
    app = make_app(config)
    url = f"{'https' if ssl_context else 'http'}://{_authority(host)}:{port}"
    web.run_app(
        app,
        host=host,
        port=port,
        ssl_context=ssl_context,
        print=lambda _: announce(
            f"KIM gateway on {url} (POST /v1/events, POST /v1/events:batch, GET /v1/referrals/received, "
            f"GET /v1/dead-letters, GET /openapi.json){'; ' + note if note else ''}; Ctrl-C stops it"
        ),
        handle_signals=True,
    )


def _authority(host: str) -> str:
    return f"[{host}]" if ":" in host else host
