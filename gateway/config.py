"""The gateway's few settings: where Kafka is, and how much one request may carry."""

from __future__ import annotations

from dataclasses import dataclass

MIB = 1024 * 1024


@dataclass(frozen=True)
class GatewayConfig:
    bootstrap: str
    topic_prefix: str = ""
    max_body_bytes: int = MIB
    max_batch: int = 500
    request_timeout_ms: int = 30000
    # Where the referrals projection is: referrals and hand-overs are checked against the case's consents
    # there before they are published. Without it the gateway answers 503 for those two types.
    database_url: str | None = None
    consent_wait_seconds: float = 5.0
