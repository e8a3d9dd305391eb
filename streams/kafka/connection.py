"""How every platform Kafka client authenticates: the one place that turns settings into client options.

The local broker accepts only SASL/SCRAM-SHA-512 on its client listener; the platform's own
clients (workers, bulk path, topic provisioning, DLQ, status, the platform's publishers) log in
as the platform principal ``kim-platform``, whose password `kim up` generates once into
``$KIM_HOME/kafka-password`` (mode 0600). An external cluster is configured with
``KIM_KAFKA_SECURITY`` / ``KIM_KAFKA_USERNAME`` / ``KIM_KAFKA_PASSWORD``.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from infra.errors import SetupError
from infra.settings import Settings, load_settings

PLATFORM_USER = "kim-platform"
MECHANISM = "SCRAM-SHA-512"


@dataclass(frozen=True)
class KafkaLogin:
    """A SASL/SCRAM-SHA-512 login, or none (``username`` None: a plaintext cluster)."""

    username: str | None = None
    password: str | None = field(default=None, repr=False)

    def options(self) -> dict[str, Any]:
        """aiokafka keyword arguments (producer, consumer, admin client)."""
        if self.username is None:
            return {}
        return {
            "security_protocol": "SASL_PLAINTEXT",
            "sasl_mechanism": MECHANISM,
            "sasl_plain_username": self.username,
            "sasl_plain_password": self.password,
        }

    def java_properties(self) -> str:
        """A client properties file for the Java admin tools (``--command-config``)."""
        if self.username is None:
            return "security.protocol=PLAINTEXT\n"
        return (
            "security.protocol=SASL_PLAINTEXT\n"
            f"sasl.mechanism={MECHANISM}\n"
            "sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required "
            f'username="{self.username}" password="{self.password}";\n'
        )


def platform_login(settings: Settings | None = None) -> KafkaLogin:
    """The platform principal's login for these settings (from the environment when None)."""
    settings = settings or load_settings()
    if not settings.local_kafka:
        if settings.kafka_security == "plaintext":
            return KafkaLogin()
        return KafkaLogin(settings.kafka_username, settings.kafka_password)
    try:
        password = settings.kafka_password_file.read_text().strip()
    except FileNotFoundError:
        raise SetupError(
            f"{settings.kafka_password_file} is missing: the local Kafka broker's platform password is made by "
            "`kim up`; run it first"
        ) from None
    except PermissionError:
        raise SetupError(f"cannot read {settings.kafka_password_file}: run kim as the user that ran `kim up`") from None
    return KafkaLogin(PLATFORM_USER, password)


def client_options(settings: Settings | None = None) -> dict[str, Any]:
    """aiokafka keyword arguments that log a platform client in: ``AIOKafkaProducer(..., **client_options())``."""
    return platform_login(settings).options()


def faust_credentials(settings: Settings | None = None) -> Any:
    """faust's ``broker_credentials`` for the platform principal (None on a plaintext cluster)."""
    login = platform_login(settings)
    if login.username is None:
        return None
    import faust

    return faust.SASLCredentials(username=login.username, password=login.password, mechanism=MECHANISM)


def kafka_env(settings: Settings | None = None) -> dict[str, str]:
    """Environment variables that give a child process (told ``KIM_KAFKA_BOOTSTRAP``) the same login."""
    login = platform_login(settings)
    if login.username is None:
        return {"KIM_KAFKA_SECURITY": "plaintext"}
    return {
        "KIM_KAFKA_SECURITY": "sasl_scram",
        "KIM_KAFKA_USERNAME": login.username,
        "KIM_KAFKA_PASSWORD": login.password or "",
    }


def platform_signing_secret(settings: Settings | None = None) -> bytes:
    """The key the platform signs records with when it publishes for an agency (demo, simulator, files).

    Derived from the platform principal's password, so only who can log in as the platform can sign as it;
    a plaintext cluster has no platform secret, so there only agencies' own keys sign.
    """
    login = platform_login(settings)
    if not login.password:
        raise SetupError(
            "the platform can publish for agencies only on an authenticated cluster (KIM_KAFKA_SECURITY=sasl_scram); "
            "publish with the agency's own credentials (kim agency add) instead"
        )
    return hmac.new(login.password.encode(), b"kim platform record signing v1", hashlib.sha256).digest()


class KafkaLoginError(Exception):
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
