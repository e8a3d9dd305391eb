"""Which login each component uses, and the grants as SQL: pure, no database."""

from __future__ import annotations

from pathlib import Path

import pytest

from infra import db_roles
from infra.errors import SetupError
from infra.settings import load_settings
from projections import grants

EXTERNAL = "postgresql://owner:secret@db.example:5432/kim"


def test_a_local_role_logs_in_with_its_own_password_file_and_never_the_owners(tmp_path: Path) -> None:
    settings = load_settings({"KIM_HOME": str(tmp_path)})
    (tmp_path / "postgres-password").write_text("owner-secret\n")
    with pytest.raises(SetupError, match=r"db-worker\.password is missing.*`kim up`"):
        db_roles.database_url(settings, db_roles.WORKER)
    (tmp_path / "db-worker.password").write_text("w/rk+er\n")
    url = db_roles.database_url(settings, db_roles.WORKER)
    ca = tmp_path / "tls" / "ca.pem"
    assert url == f"postgresql://kim_worker_login:w%2Frk%2Ber@127.0.0.1:15432/kim?sslmode=verify-full&sslrootcert={ca}"
    assert "owner-secret" not in url
    assert db_roles.database_url(settings, db_roles.ADMIN) == settings.database_url
    assert db_roles.fallbacks(settings) == [] and db_roles.fallback_note(settings) is None


def test_an_external_database_takes_a_url_per_role_and_says_which_roles_fall_back(tmp_path: Path) -> None:
    env = {"KIM_HOME": str(tmp_path), "KIM_DATABASE_URL": EXTERNAL}
    worker = "postgresql://w:pw@db.example:5432/kim"
    settings = load_settings({**env, "KIM_WORKER_DATABASE_URL": worker})
    assert db_roles.database_url(settings, db_roles.WORKER) == worker + "?sslmode=verify-full"
    assert db_roles.database_url(settings, db_roles.ANALYST) == EXTERNAL + "?sslmode=verify-full"
    assert db_roles.fallbacks(settings) == ["operations", "analyst", "gateway"]
    note = db_roles.fallback_note(settings)
    assert note is not None and "no separation" in note and "KIM_GATEWAY_DATABASE_URL" in note
    assert "pw@" not in repr(settings)  # passwords stay out of logs


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"KIM_WORKER_DATABASE_URL": "postgresql://w@h/kim"}, "is for an external database"),
        ({"KIM_DATABASE_URL": EXTERNAL, "KIM_ANALYST_DATABASE_URL": "mysql://a@h/kim"}, "is not a PostgreSQL URL"),
    ],
)
def test_a_misplaced_or_malformed_role_url_is_one_clear_error(tmp_path: Path, env: dict, message: str) -> None:
    with pytest.raises(SetupError, match=message):
        load_settings({"KIM_HOME": str(tmp_path), **env})


def test_a_refusal_is_one_line_naming_the_fix() -> None:
    import asyncpg

    line = db_roles.refusal(asyncpg.InsufficientPrivilegeError("permission denied for table audit_log"))
    assert line is not None and "\n" not in line
    assert line.startswith("the database refused: permission denied for table audit_log;")
    assert db_roles.refusal(ValueError("x")) is None


def test_grants_revoke_first_then_grant_exactly_the_table_for_tables_and_roles_that_exist() -> None:
    sql = grants.statements(
        roles=[grants.WORKER, grants.OPERATIONS, grants.ANALYST],  # no kim_gateway on this server
        tables=["caseload_cases", "projection_checkpoints", "audit_log", "signing_keys"],
        sequences={"audit_log": ["audit_log_id_seq"]},
        database="kim",
        projection=("caseload_cases", "referrals"),  # referrals: not (yet) a table here
        analytics=True,
        functions=["audit_append(text, text, text, text, jsonb)"],  # the copy functions: not (yet) here
    )
    assert not any("kim_gateway" in s for s in sql)
    first_grant = next(i for i, s in enumerate(sql) if s.startswith("GRANT"))
    assert all(s.startswith("REVOKE") for s in sql[:first_grant])
    worker = [s for s in sql if s.endswith("TO kim_worker")]
    assert 'GRANT SELECT, INSERT, UPDATE, DELETE ON public."caseload_cases" TO kim_worker' in worker
    assert not any("referrals" in s or "audit_log" in s for s in worker)
    assert not any("audit_log_id_seq" in s for s in sql if s.startswith("GRANT"))  # appends via audit_append()
    assert not any(s.startswith("GRANT CREATE") for s in sql)  # no role creates objects: the owner's functions do
    assert 'REVOKE CREATE ON DATABASE "kim" FROM kim_operations' in sql
    assert "GRANT EXECUTE ON FUNCTION public.audit_append(text, text, text, text, jsonb) TO kim_operations" in sql
    assert not any("kim_copy_create" in s for s in sql)
    assert "GRANT SELECT ON ALL TABLES IN SCHEMA analytics TO kim_analyst" in sql
    analyst = [s for s in sql if s.startswith("GRANT") and s.endswith("TO kim_analyst")]
    assert all("analytics" in s or "(projection, topic, partition, next_offset)" in s for s in analyst)


def test_every_granted_table_is_known_and_no_role_is_granted_the_audit_log_but_operations() -> None:
    projection = grants.projection_tables()
    assert {"caseload_cases", "referrals", "backlog_applications"} <= set(projection)
    assert {"audit_log", "schema_migrations", "signing_keys"} <= grants.classified(projection)
    for role, entries in grants.GRANTS.items():
        assert role in grants.ROLES
        for entry in entries:
            if "audit_log" in entry.tables:
                assert role == grants.OPERATIONS and entry.privileges == "SELECT"  # appends via audit_append()
