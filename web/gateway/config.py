"""The gateway's few settings: where Kafka is, and how much one request may carry."""

from __future__ import annotations

from dataclasses import dataclass, field

from infra.platform_secrets import Secrets
from streams.kafka.connection import KafkaConnection

MIB = 1024 * 1024


@dataclass(frozen=True)
class GatewayConfig:
    kafka: KafkaConnection  # the platform's login: the gateway publishes as the platform, signed per agency
    topic_prefix: str = ""
    max_body_bytes: int = MIB
    max_batch: int = 500
    request_timeout_ms: int = 30000
    # The platform database: the agencies' tokens (hashed) are there, and the referrals projection the consent
    # check reads. Without it every request is a 503.
    database_url: str | None = field(default=None, repr=False)
    consent_wait_seconds: float = 5.0
    # The secrets directory (needed with the database): the pepper keys the client table's lookups and the
    # idempotency hashes, the key-encryption key wraps new client keys (infra/platform_secrets.py).
    secrets: Secrets | None = None
