"""The platform's own identity on Kafka, from the settings: its login and the secret it signs records with.

The local broker accepts only SASL/SCRAM-SHA-512 on its client listener; the platform's own clients
(workers, bulk path, topic provisioning, DLQ, status, the platform's publishers) log in as the platform
principal ``kim-platform``, whose password `kim up` generates once into ``$KIM_HOME/kafka-password``
(mode 0600). An external cluster is configured with ``KIM_KAFKA_SECURITY`` / ``KIM_KAFKA_USERNAME`` /
``KIM_KAFKA_PASSWORD``. Front doors call these once and pass the result in.
"""

from __future__ import annotations

import hashlib
import hmac

from infra.errors import SetupError
from infra.settings import Settings
from schemas.signing import PLATFORM_SIGNER, SigningKey
from streams.kafka.connection import KafkaConnection

PLATFORM_USER = "kim-platform"


def kafka_connection(settings: Settings) -> KafkaConnection:
    """The platform principal's connection for these settings."""
    if not settings.local_kafka:
        if settings.kafka_security == "plaintext":
            return KafkaConnection(settings.kafka_bootstrap)
        return KafkaConnection(settings.kafka_bootstrap, settings.kafka_username, settings.kafka_password)
    try:
        password = settings.kafka_password_file.read_text().strip()
    except FileNotFoundError:
        raise SetupError(
            f"{settings.kafka_password_file} is missing: the local Kafka broker's platform password is made by "
            "`kim up`; run it first"
        ) from None
    except PermissionError:
        raise SetupError(f"cannot read {settings.kafka_password_file}: run kim as the user that ran `kim up`") from None
    return KafkaConnection(settings.kafka_bootstrap, PLATFORM_USER, password)


def signing_secret(kafka: KafkaConnection) -> bytes | None:
    """The key the platform signs records with when it publishes for an agency (demo, simulator, files, erasure).

    Derived from the platform principal's password, so only who can log in as the platform can sign as it;
    a plaintext cluster has no platform secret (None), so there only agencies' own keys sign.
    """
    if not kafka.password:
        return None
    return hmac.new(kafka.password.encode(), b"kim platform record signing v1", hashlib.sha256).digest()


def required_signing_secret(kafka: KafkaConnection) -> bytes:
    """``signing_secret``, or the one-line reason the platform cannot speak for an agency here."""
    secret = signing_secret(kafka)
    if secret is None:
        raise SetupError(
            "the platform can publish for agencies only on an authenticated cluster (KIM_KAFKA_SECURITY=sasl_scram); "
            "publish with the agency's own credentials (kim agency add) instead"
        )
    return secret


def child_env(kafka: KafkaConnection) -> dict[str, str]:
    """Environment variables that give a child process (told ``KIM_KAFKA_BOOTSTRAP``) the same login."""
    if kafka.username is None:
        return {"KIM_KAFKA_SECURITY": "plaintext"}
    return {
        "KIM_KAFKA_SECURITY": "sasl_scram",
        "KIM_KAFKA_USERNAME": kafka.username,
        "KIM_KAFKA_PASSWORD": kafka.password or "",
    }


def platform_key(kafka: KafkaConnection) -> SigningKey:
    """The key the platform signs with when it speaks for an agency; ``SetupError`` where it has none."""
    return SigningKey(PLATFORM_SIGNER, required_signing_secret(kafka))
