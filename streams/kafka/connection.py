"""One Kafka connection configuration and the one factory of Kafka clients.

A ``KafkaConnection`` says where the brokers are and how a client logs in (SASL/SCRAM-SHA-512, or none on a
plaintext cluster). It is built once — by a front door from the platform's settings
(``infra.platform_identity.kafka_connection``), or by a partner from the credentials `kim agency add` printed —
and passed to whatever talks to Kafka. Every producer, consumer, admin client and faust app of the platform
is made here, so the security options are written once and nothing reads credentials from the environment
deep inside.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient

from schemas.errors import KimError

MECHANISM = "SCRAM-SHA-512"


@dataclass(frozen=True)
class KafkaConnection:
    """Where Kafka is and who logs in (``username`` None: a plaintext cluster, no login)."""

    bootstrap: str  # host:port[,host:port…]
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    mechanism: str = MECHANISM

    def login_as(self, username: str, password: str) -> KafkaConnection:
        """The same brokers with another principal's login (an agency's, as `kim agency add` printed it)."""
        return replace(self, username=username, password=password)

    def options(self) -> dict[str, Any]:
        """aiokafka keyword arguments of every client: the brokers and the login."""
        options: dict[str, Any] = {"bootstrap_servers": self.bootstrap}
        if self.username is not None:
            options.update(
                security_protocol="SASL_PLAINTEXT",
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
        """``faust.App`` keyword arguments: the brokers and the login."""
        import faust  # only the live worker needs faust; it costs a second to import

        credentials = None
        if self.username is not None:
            credentials = faust.SASLCredentials(
                username=self.username, password=self.password, mechanism=self.mechanism
            )
        return {
            "broker": [f"kafka://{server.strip()}" for server in self.bootstrap.split(",")],
            "broker_credentials": credentials,
        }

    def java_properties(self) -> str:
        """A client properties file for Kafka's Java tools (``--command-config``)."""
        if self.username is None:
            return "security.protocol=PLAINTEXT\n"
        module = "scram.ScramLoginModule" if self.mechanism.startswith("SCRAM") else "plain.PlainLoginModule"
        return (
            "security.protocol=SASL_PLAINTEXT\n"
            f"sasl.mechanism={self.mechanism}\n"
            f"sasl.jaas.config=org.apache.kafka.common.security.{module} required "
            f'username="{self.username}" password="{self.password}";\n'
        )

    @contextlib.contextmanager
    def explained(self, quiet: bool = False) -> Iterator[None]:
        """``explain_login`` for this connection's user: a refused login raises ``KafkaLoginError``."""
        with explain_login(self.username, quiet):
            yield


class KafkaLoginError(KimError):
    """The broker answered but refused the login (wrong user or password): aiokafka only logs that and then
    raises a generic ``KafkaConnectionError``; this names the real cause."""


class _SaslFailures(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.seen: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if "SaslAuthenticationFailed" in message or "Authentication failed" in message:
            self.seen.append(message)


@contextlib.contextmanager
def explain_login(username: str | None, quiet: bool = False) -> Iterator[None]:
    """Turn aiokafka's "Unable to bootstrap" after a refused SASL login into ``KafkaLoginError``.

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
        raise
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
        logger.propagate = propagate
