"""One Kafka connection configuration and the one factory of Kafka clients.

A ``KafkaConnection`` says where the brokers are, whether the connection is encrypted (TLS, verified against a
CA file or the system's trust store, optionally with a client certificate) and how a client logs in
(SASL/SCRAM-SHA-512, or none). It is built once — by a front door from the platform's settings
(``infra.platform_identity.kafka_connection``), or by a partner from the credentials `kim agency add` printed —
and passed to whatever talks to Kafka. Every producer, consumer, admin client and faust app of the platform
is made here, so the security options are written once and nothing reads credentials from the environment
deep inside.
"""

from __future__ import annotations

import contextlib
import logging
import re
import ssl
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient

from schemas.errors import KimError

MECHANISM = "SCRAM-SHA-512"


@dataclass(frozen=True)
class KafkaConnection:
    """Where Kafka is, whether TLS protects the connection, and who logs in (``username`` None: no login)."""

    bootstrap: str  # host:port[,host:port…]
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    mechanism: str = MECHANISM
    tls: bool = True  # TLS unless said otherwise (tls=False: a plaintext cluster, by explicit choice)
    ca_file: str | None = None  # PEM CA the brokers' certificates must chain to; None: the system's trust store
    cert_file: str | None = None  # a client certificate (PEM), where the cluster asks for one
    key_file: str | None = None  # its key (PEM)

    @property
    def security_protocol(self) -> str:
        """Kafka's name for this connection's security: SASL_SSL, SSL, SASL_PLAINTEXT or PLAINTEXT."""
        sasl = "SASL_" if self.username is not None else ""
        return sasl + ("SSL" if self.tls else "PLAINTEXT")

    def ssl_context(self) -> ssl.SSLContext | None:
        """A context that verifies the brokers' certificates and names (None without TLS)."""
        if not self.tls:
            return None
        context = ssl.create_default_context(cafile=self.ca_file)
        if self.cert_file:
            context.load_cert_chain(self.cert_file, self.key_file)
        return context

    def login_as(self, username: str, password: str) -> KafkaConnection:
        """The same brokers with another principal's login (an agency's, as `kim agency add` printed it)."""
        return replace(self, username=username, password=password)

    def options(self) -> dict[str, Any]:
        """aiokafka keyword arguments of every client: the brokers, TLS and the login."""
        options: dict[str, Any] = {"bootstrap_servers": self.bootstrap, "security_protocol": self.security_protocol}
        if self.tls:
            options["ssl_context"] = self.ssl_context()
        if self.username is not None:
            options.update(
                sasl_mechanism=self.mechanism,
                sasl_plain_username=self.username,
                sasl_plain_password=self.password,
            )
        return options

    def producer(self, **overrides: Any) -> AIOKafkaProducer:
        """An idempotent producer that waits for every in-sync replica (acks=all); not started."""
        return AIOKafkaProducer(**{**self.options(), "enable_idempotence": True, "acks": "all", **overrides})

    def consumer(self, *topics: str, **overrides: Any) -> AIOKafkaConsumer:
        """A consumer that commits nothing to Kafka by itself (the platform's positions are in PostgreSQL)."""
        return AIOKafkaConsumer(*topics, **{**self.options(), "enable_auto_commit": False, **overrides})

    def admin(self, **overrides: Any) -> AIOKafkaAdminClient:
        return AIOKafkaAdminClient(**{**self.options(), "request_timeout_ms": 15000, **overrides})

    def faust_options(self) -> dict[str, Any]:
        """``faust.App`` keyword arguments: the brokers, TLS and the login."""
        import faust  # only the live worker needs faust; it costs a second to import

        credentials: Any = None
        if self.username is not None:
            credentials = faust.SASLCredentials(
                username=self.username, password=self.password, mechanism=self.mechanism, ssl_context=self.ssl_context()
            )
        elif self.tls:
            credentials = faust.SSLCredentials(self.ssl_context())
        return {
            "broker": [f"kafka://{server.strip()}" for server in self.bootstrap.split(",")],
            "broker_credentials": credentials,
        }

    def java_properties(self) -> str:
        """A client properties file for Kafka's Java tools (``--command-config``); PEM stores, which Kafka reads."""
        lines = [f"security.protocol={self.security_protocol}"]
        if self.tls and self.ca_file:
            lines += ["ssl.truststore.type=PEM", f"ssl.truststore.location={self.ca_file}"]
        if self.tls and self.cert_file:
            # Kafka's PEM key store takes key and chain inline (or one file holding both); properties escape \n.
            key = _inline_pem(self.key_file or self.cert_file, "PRIVATE KEY")
            chain = _inline_pem(self.cert_file, "CERTIFICATE")
            lines += ["ssl.keystore.type=PEM", f"ssl.keystore.key={key}", f"ssl.keystore.certificate.chain={chain}"]
        if self.username is not None:
            module = "scram.ScramLoginModule" if self.mechanism.startswith("SCRAM") else "plain.PlainLoginModule"
            lines += [
                f"sasl.mechanism={self.mechanism}",
                f"sasl.jaas.config=org.apache.kafka.common.security.{module} required "
                f'username="{self.username}" password="{self.password}";',
            ]
        return "\n".join(lines) + "\n"

    @contextlib.contextmanager
    def explained(self, quiet: bool = False) -> Iterator[None]:
        """``explain_login`` for this connection's user: a refused login raises ``KafkaLoginError``."""
        with explain_login(self.username, quiet, self.ca_file if self.tls else None):
            yield


def _inline_pem(path: str, kind: str) -> str:
    """The PEM blocks of ``kind`` (CERTIFICATE, PRIVATE KEY) in ``path`` as one properties value, newlines escaped."""
    with open(path, encoding="ascii") as f:
        text = f.read()
    blocks = re.findall(rf"-----BEGIN {kind}-----.*?-----END {kind}-----", text, flags=re.DOTALL)
    return "\\n".join(block.replace("\n", "\\n") for block in blocks)


class KafkaLoginError(KimError):
    """The broker answered but refused the login (wrong user or password): aiokafka only logs that and then
    raises a generic ``KafkaConnectionError``; this names the real cause."""


class KafkaTlsError(KimError):
    """The broker answered but its certificate did not verify (or it does not speak TLS): aiokafka only logs
    that and then raises a generic ``KafkaConnectionError``; this names the real cause."""


class _SaslFailures(logging.Handler):
    """Remembers what aiokafka logged about a refused login or a failed TLS handshake."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.seen: list[str] = []
        self.tls: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if "SaslAuthenticationFailed" in message or "Authentication failed" in message:
            self.seen.append(message)
        elif "CERTIFICATE_VERIFY_FAILED" in message or "WRONG_VERSION_NUMBER" in message or "[SSL" in message:
            self.tls.append(message)


@contextlib.contextmanager
def explain_login(username: str | None, quiet: bool = False, ca_file: str | None = None) -> Iterator[None]:
    """Turn aiokafka's "Unable to bootstrap" after a refused SASL login into ``KafkaLoginError``, and after a
    failed TLS handshake into ``KafkaTlsError``.

    ``quiet`` also keeps aiokafka's own error lines off the console while polling.
    """
    from aiokafka.errors import KafkaConnectionError

    logger = logging.getLogger("aiokafka")
    handler = _SaslFailures()
    level, propagate = logger.level, logger.propagate
    logger.addHandler(handler)
    if quiet:
        logger.propagate = False
    if logger.getEffectiveLevel() > logging.ERROR:
        logger.setLevel(logging.ERROR)
    try:
        yield
    except KafkaConnectionError:
        if handler.seen:
            raise KafkaLoginError(
                f"Kafka refused the login of {username!r}: wrong username or password (SaslAuthenticationFailed)"
            ) from None
        if handler.tls:
            reason = handler.tls[-1].split(": ", 1)[-1]
            trusted = f"the CA in {ca_file}" if ca_file else "the system's trust store"
            raise KafkaTlsError(
                f"the TLS handshake with Kafka failed ({reason}); the brokers' certificates must chain to {trusted} "
                "— give the installation's CA file (KIM_KAFKA_CA_FILE, ca_file=…, as `kim agency add` printed it)"
            ) from None
        raise
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
        logger.propagate = propagate
