"""Migrations on the real PostgreSQL: an applied migration that was changed is refused, a reworded one is not."""

from __future__ import annotations

import asyncpg
import pytest

from projections.migrate import REWORDED, MigrationError, migrate
from tests.integration.analytics_lane import synced
from tests.integration.conftest import Lane


@synced
async def test_a_database_that_applied_an_earlier_wording_migrates_and_records_the_current_one(lane: Lane) -> None:
    conn = await asyncpg.connect(lane.database_url)
    try:
        current = await conn.fetchval("SELECT checksum FROM schema_migrations WHERE version = '0060_analytics'")
        (earlier,) = REWORDED["0060_analytics"]
        await conn.execute("UPDATE schema_migrations SET checksum = $1 WHERE version = '0060_analytics'", earlier)
        await conn.execute(
            "COMMENT ON FUNCTION analytics.small_cell_max() IS 'Counts from 1 to this value are suppressed: old text'"
        )
        await conn.execute("DELETE FROM schema_migrations WHERE version = '0097_domain_document_comment'")
        assert await migrate(conn) == ["0097_domain_document_comment"]
        assert await conn.fetchval("SELECT checksum FROM schema_migrations WHERE version = '0060_analytics'") == current
        comment = await conn.fetchval("SELECT obj_description('analytics.small_cell_max()'::regprocedure)")
        assert "docs/domain.md rule 5" in comment
    finally:
        await conn.close()


@synced
async def test_a_migration_changed_after_it_was_applied_is_refused(lane: Lane) -> None:
    conn = await asyncpg.connect(lane.database_url)
    try:
        await conn.execute("UPDATE schema_migrations SET checksum = 'edited' WHERE version = '0060_analytics'")
        with pytest.raises(MigrationError, match="migration 0060_analytics was changed after it was applied"):
            await migrate(conn)
    finally:
        await conn.close()
