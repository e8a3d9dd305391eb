"""Throw-away topics (by prefix) and databases for one benchmark run on the real services."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

import asyncpg
from aiokafka.admin import AIOKafkaAdminClient

from infra import postgres_server
from infra.settings import Settings
from projections.migrate import migrate
from schemas.topics import TOPICS
from streams.kafka.connection import client_options
from streams.kafka.topics import provision


@dataclass
class BenchLane:
    settings: Settings
    prefix: str
    databases: dict[str, str] = field(default_factory=dict)  # name -> url

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
        admin = AIOKafkaAdminClient(bootstrap_servers=self.settings.kafka_bootstrap, **client_options())
        await admin.start()
        try:
            await admin.delete_topics([self.topic(spec.name) for spec in TOPICS])
        finally:
            await admin.close()


async def new_lane(settings: Settings) -> BenchLane:
    prefix = f"bench-{uuid.uuid4().hex[:8]}."
    await provision(settings.kafka_bootstrap, prefix)
    return BenchLane(settings, prefix)
