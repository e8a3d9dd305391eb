"""The TLS context `kim gateway` and `kim serve` listen with: HTTPS unless the operator explicitly chose plain HTTP.

The certificate is the operator's (``KIM_TLS_CERT_FILE`` / ``KIM_TLS_KEY_FILE``) or else the installation's own
from infra/tls.py, which clients trust through ``$KIM_HOME/tls/ca.pem``. ``KIM_HTTP_PLAINTEXT=on`` serves plain
HTTP, for a TLS-terminating proxy in front; the server then prints one ``warning:`` line.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path

from infra.errors import SetupError
from infra.settings import HTTP_PLAINTEXT, Settings
from infra.tls import ensure_tls


@dataclass(frozen=True)
class HttpTls:
    """How one HTTP server listens: its TLS context (None: plain HTTP) and the CA file clients trust, if ours."""

    context: ssl.SSLContext | None
    ca: Path | None = None

    @property
    def scheme(self) -> str:
        return "https" if self.context else "http"

    def trust_note(self) -> str:
        """What the start-up line says about the certificate."""
        if self.context is None:
            return "plain HTTP"
        return f"clients trust {self.ca}" if self.ca else "the certificate of KIM_TLS_CERT_FILE"


def http_tls(settings: Settings) -> HttpTls:
    """The server side of HTTPS for these settings; SetupError naming the file when a certificate does not load."""
    if settings.http_plaintext:
        return HttpTls(None)
    if settings.tls_cert_file and settings.tls_key_file:
        cert, key, ca = settings.tls_cert_file, settings.tls_key_file, None
        names = "KIM_TLS_CERT_FILE / KIM_TLS_KEY_FILE"
    else:
        files = ensure_tls(settings.tls_dir)
        cert, key, ca = files.cert, files.key, files.ca
        names = f"{settings.tls_dir} (remove the directory to make a new CA, which clients must then trust anew)"
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(cert, key)
    except (OSError, ssl.SSLError) as why:
        reason = getattr(why, "strerror", None) or getattr(why, "reason", None) or str(why)
        raise SetupError(
            f"cannot use the certificate {cert} with the key {key} ({reason}); give a PEM certificate chain and "
            f"its unencrypted private key in {names}"
        ) from None
    return HttpTls(context, ca)


def plaintext_warning(server: str, host: str) -> str:
    """The one line a server prints when it serves plain HTTP by the operator's choice."""
    where = "on loopback" if host in ("127.0.0.1", "::1", "localhost") else f"on {host}"
    return (
        f"{HTTP_PLAINTEXT}=on: {server} serves plain HTTP {where}; what clients send (bearer tokens, figures) "
        "travels unencrypted — only behind a TLS-terminating proxy"
    )
