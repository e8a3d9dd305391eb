"""Clients of the platform's HTTPS servers in tests: they verify the server against the installation's CA."""

from __future__ import annotations

import base64
import hashlib
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from aiohttp import TCPConnector, web
from aiohttp.test_utils import TestClient, TestServer
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from infra.http_tls import http_tls
from infra.settings import load_settings
from infra.tls import TlsFiles


def ca_file(home: Path) -> Path:
    """The CA that `kim serve` and `kim gateway` of the installation at ``home`` (KIM_HOME) present a certificate of."""
    return TlsFiles(home / "tls").ca


def trusting(home: Path) -> ssl.SSLContext:
    """A client context that trusts exactly that CA (FileNotFoundError until the server made it)."""
    return ssl.create_default_context(cafile=ca_file(home))


def spki_pin(home: Path) -> str:
    """The CA's public key hash as Chromium's ``--ignore-certificate-errors-spki-list`` takes it: the browser then
    accepts a chain that holds this CA (and only such a chain), as if the CA were in its trust store."""
    ca = x509.load_pem_x509_certificate(ca_file(home).read_bytes())
    der = ca.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return base64.b64encode(hashlib.sha256(der).digest()).decode()


@asynccontextmanager
async def https_client(app: web.Application, env: dict[str, str], home: Path) -> AsyncIterator[TestClient]:
    """``app`` over HTTPS as `kim gateway` and `kim serve` listen with the settings ``env`` (a lane's), and a
    client that verifies it against the CA of the installation at ``home``."""
    server = TestServer(app, host="127.0.0.1")
    await server.start_server(ssl=http_tls(load_settings(env)).context)
    async with TestClient(server, connector=TCPConnector(ssl=trusting(home))) as client:
        assert client.make_url("/").scheme == "https"
        yield client
