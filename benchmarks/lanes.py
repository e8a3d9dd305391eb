"""Throw-away topics (by prefix) and databases for one benchmark run on the real services."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

import asyncpg

from infra import postgres_server
from infra.platform_identity import kafka_connection, platform_key, signing_secret
from infra.settings import Settings
from projections.migrate import migrate
from schemas.signing import SigningKey
from schemas.topics import TOPICS
from streams.kafka.connection import KafkaConnection
from streams.kafka.topics import provision


@dataclass
class BenchLane:
    settings: Settings
    prefix: str
    databases: dict[str, str] = field(default_factory=dict)  # name -> url

    @property
    def kafka(self) -> KafkaConnection:
        return kafka_connection(self.settings)

    @property
    def platform_secret(self) -> bytes | None:
        return signing_secret(self.kafka)

    @property
    def platform_key(self) -> SigningKey:
        return platform_key(self.kafka)

    def topic(self, name: str) -> str:
        return self.prefix + name

    async def database(self, purpose: str) -> str:
        """A fresh, migrated database for one measurement (each writes its own caseload rows)."""
        name = f"kim_bench_{self.prefix.strip('.').replace('-', '_')}_{purpose}"
        url = postgres_server.create_database(self.settings, name)
        conn = await asyncpg.connect(url)
        try:
            await migrate(conn)
        finally:
            await conn.close()
        self.databases[name] = url
        return url

    async def drop(self) -> None:
        for name in self.databases:
            postgres_server.drop_database(self.settings.database_url, name)
        admin = self.kafka.admin()
        await admin.start()
        try:
            await admin.delete_topics([self.topic(spec.name) for spec in TOPICS])
        finally:
            await admin.close()


async def new_lane(settings: Settings) -> BenchLane:
    prefix = f"bench-{uuid.uuid4().hex[:8]}."
    await provision(kafka_connection(settings), prefix, settings.kafka_replication)
    return BenchLane(settings, prefix)
