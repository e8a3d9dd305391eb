"""One long-lived ``Publisher`` per agency, made on first use: for front doors that speak for many agencies.

Each agency keeps its own producer (its own idempotent producer id), so the source agency of
every event is still fixed by the publisher that sent it.
"""

from __future__ import annotations

import asyncio

from schemas import Codec
from schemas.signing import SigningKey
from streams.kafka.connection import KafkaConnection
from streams.sdk.draft import check_agency
from streams.sdk.publisher import Publisher


class PublisherPool:
    def __init__(
        self,
        kafka: KafkaConnection,
        *,
        platform_key: SigningKey | None = None,
        topic_prefix: str = "",
        codec: Codec | None = None,
        request_timeout_ms: int = 30000,
    ) -> None:
        """``platform_key``: what a publisher signs with when ``get`` is given no agency key (the platform
        speaking for an agency: `kim publish`, the simulator); without it every ``get`` needs one."""
        self.kafka = kafka
        self.platform_key = platform_key
        self.topic_prefix = topic_prefix
        self.codec = codec or Codec()
        self.request_timeout_ms = request_timeout_ms
        self._publishers: dict[str, Publisher] = {}
        self._lock = asyncio.Lock()

    async def get(self, agency: str, signing_key: SigningKey | None = None) -> Publisher:
        """The started publisher of ``agency`` (``ValueError`` for an unknown agency, aiokafka's error when the
        broker cannot be reached — the next call tries again). It signs with ``signing_key`` when given (the
        agency's own key, as the gateway knows it), else with the pool's ``platform_key``."""
        check_agency(agency, self.codec)
        key = signing_key or self.platform_key
        if key is None:
            raise ValueError(f"no signing key for {agency}: give the agency's own key or the pool a platform_key")
        name = agency if signing_key is None else f"{agency}/{signing_key.key_id}"
        if name in self._publishers:
            return self._publishers[name]
        async with self._lock:
            if name not in self._publishers:
                publisher = Publisher(
                    self.kafka,
                    agency,
                    signing_key=key,
                    topic_prefix=self.topic_prefix,
                    codec=self.codec,
                    request_timeout_ms=self.request_timeout_ms,
                )
                await publisher.start()
                self._publishers[name] = publisher
            return self._publishers[name]

    async def close(self) -> None:
        """Flush and stop every publisher. Twice is harmless."""
        publishers, self._publishers = list(self._publishers.values()), {}
        await asyncio.gather(*(p.stop() for p in publishers), return_exceptions=True)

    async def __aenter__(self) -> PublisherPool:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
