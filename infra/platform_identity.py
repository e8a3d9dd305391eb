"""The platform's own identity on Kafka, from the settings: its login and the secret it signs records with.

The local broker accepts only SASL/SCRAM-SHA-512 over TLS (SASL_SSL, certificates of the installation's own CA,
``infra/tls.py``) on its client listener; the platform's own clients
(workers, bulk path, topic provisioning, DLQ, status, the platform's publishers) log in as the platform
principal ``kim-platform``, whose password `kim up` generates once into ``$KIM_HOME/kafka-password``
(mode 0600). An external cluster is configured with ``KIM_KAFKA_SECURITY`` / ``KIM_KAFKA_USERNAME`` /
``KIM_KAFKA_PASSWORD`` and ``KIM_KAFKA_CA_FILE`` (``_CERT_FILE`` / ``_KEY_FILE`` for a client certificate).
Front doors call these once and pass the result in.
"""

from __future__ import annotations

import hashlib
import hmac

from infra.errors import SetupError
from infra.settings import Settings
from infra.tls import TlsFiles
from schemas.signing import PLATFORM_SIGNER, SigningKey
from streams.kafka.connection import KafkaConnection

PLATFORM_USER = "kim-platform"


def kafka_connection(settings: Settings) -> KafkaConnection:
    """The platform principal's connection for these settings."""
    if not settings.local_kafka:
        return KafkaConnection(
            settings.kafka_bootstrap,
            settings.kafka_username,
            settings.kafka_password,
            tls=settings.kafka_security in ("ssl", "sasl_ssl"),
            ca_file=_text(settings.kafka_ca_file),
            cert_file=_text(settings.kafka_cert_file),
            key_file=_text(settings.kafka_key_file),
        )
    try:
        password = settings.kafka_password_file.read_text().strip()
    except FileNotFoundError:
        raise SetupError(
            f"{settings.kafka_password_file} is missing: the local Kafka broker's platform password is made by "
            "`kim up`; run it first"
        ) from None
    except PermissionError:
        raise SetupError(f"cannot read {settings.kafka_password_file}: run kim as the user that ran `kim up`") from None
    ca = TlsFiles(settings.tls_dir).ca
    if settings.kafka_security == "sasl_ssl" and not ca.exists():
        raise SetupError(f"{ca} is missing: the local Kafka broker's CA is made by `kim up`; run it first")
    if settings.kafka_security != "sasl_ssl":  # the local broker without TLS, by explicit choice
        return KafkaConnection(settings.kafka_bootstrap, PLATFORM_USER, password, tls=False)
    return KafkaConnection(settings.kafka_bootstrap, PLATFORM_USER, password, tls=True, ca_file=str(ca))


def _text(path: object) -> str | None:
    return None if path is None else str(path)


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
            "the platform can publish for agencies only on an authenticated cluster (KIM_KAFKA_SECURITY=sasl_ssl); "
            "publish with the agency's own credentials (kim agency add) instead"
        )
    return secret


def child_env(kafka: KafkaConnection) -> dict[str, str]:
    """Environment variables that give a child process (told ``KIM_KAFKA_BOOTSTRAP``) the same login and TLS."""
    sasl = kafka.username is not None
    security = ("sasl_" if sasl else "") + ("ssl" if kafka.tls else ("scram" if sasl else "plaintext"))
    env = {"KIM_KAFKA_SECURITY": security}
    if sasl:
        env.update(KIM_KAFKA_USERNAME=kafka.username or "", KIM_KAFKA_PASSWORD=kafka.password or "")
    files = {
        "KIM_KAFKA_CA_FILE": kafka.ca_file,
        "KIM_KAFKA_CERT_FILE": kafka.cert_file,
        "KIM_KAFKA_KEY_FILE": kafka.key_file,
    }
    env.update({name: path for name, path in files.items() if path})
    return env


def platform_key(kafka: KafkaConnection) -> SigningKey:
    """The key the platform signs with when it speaks for an agency; ``SetupError`` where it has none."""
    return SigningKey(PLATFORM_SIGNER, required_signing_secret(kafka))
