"""Published migrations are history: only their documentation may be reworded (projections/migrate.py)."""

from __future__ import annotations

from projections.migrate import REWORDED, load_migrations, statements_digest

# What the statements of each reworded migration were when it was published (comments and COMMENT ON texts left
# out). A changed statement changes this digest, so a rewording can never smuggle in changed SQL.
STATEMENTS = {
    "0060_analytics": "27cd832749e9975dbddc7df933dc1c739b2df3341f4785468045566044765fed",
    "0090_analytics_secondary_suppression": "22afb10ba596fa93511a70f689b2d9299a842476dcde42993005f5449da65a99",
    "0091_gateway_idempotency": "b4a090ce1245f1473af57a68b56d54c37acbfc060f518b31950a7eeecb484f0d",
    "0092_partner_views": "37df27b00f17f83247e0f3cfc5adef44f1a9ff296dbdc0c4887d31a2be226d9f",
    "0096_dlq_tally": "8b45be207bc183894575b7d96f2e60e2451e9cd9c7cdd1ffd0fa3e8022391218",
}


def test_a_reworded_migration_keeps_its_statements() -> None:
    migrations = {m.version: m for m in load_migrations()}
    assert set(REWORDED) == set(STATEMENTS)
    for version, digest in STATEMENTS.items():
        assert statements_digest(migrations[version].sql) == digest, version
        assert migrations[version].checksum not in REWORDED[version]  # the earlier wording is another text


def test_the_digest_sees_statements_and_ignores_documentation() -> None:
    sql = "CREATE TABLE t (a int);  -- a table\nCOMMENT ON TABLE t IS 'one text';\n"
    assert statements_digest(sql) == statements_digest(sql.replace("a table", "the table").replace("one", "other"))
    assert statements_digest(sql) != statements_digest(sql.replace("a int", "a bigint"))
    assert statements_digest(sql) != statements_digest(sql.replace("TABLE t IS", "TABLE u IS"))
