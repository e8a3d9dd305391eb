"""What each database role may do: one declarative table, applied after every migrate.

The roles (migration 0095) are NOLOGIN groups; components log in as members (``infra/db_roles.py``).
``apply_grants`` first revokes everything the roles hold on the ``public`` and ``analytics`` tables and
sequences, then grants exactly what ``GRANTS`` says, in one transaction: the table is the whole truth,
and a table added by a later migration gets its grants by adding its name here. A table that is in no
entry (and not in ``ADMIN_ONLY``) gets nothing, and ``apply_grants`` returns its name so `kim up` warns.

Ownership stays with the migrating (admin) role, so no role here may CREATE, DROP, ALTER or TRUNCATE a
platform table; ``audit_log`` is append-only through its triggers besides.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import asyncpg

from projections.registry import PROJECTIONS

WORKER, OPERATIONS, ANALYST, GATEWAY = "kim_worker", "kim_operations", "kim_analyst", "kim_gateway"
ROLES = (WORKER, OPERATIONS, ANALYST, GATEWAY)

PROJECTION_TABLES = "<projection tables>"  # every table a projection declares (projections/registry.py)
WRITE = "SELECT, INSERT, UPDATE, DELETE"


@dataclass(frozen=True)
class Grant:
    privileges: str  # as GRANT spells them; a column list like "SELECT (a, b)" is allowed
    tables: tuple[str, ...]  # in schema public; PROJECTION_TABLES stands for the registry's tables


GRANTS: dict[str, tuple[Grant, ...]] = {
    WORKER: (
        Grant(WRITE, (PROJECTION_TABLES,)),
        Grant("SELECT, INSERT, UPDATE", ("projection_checkpoints",)),
        # verify record signatures; metrics read rebuild progress and re-drives
        Grant("SELECT", ("signing_keys", "signing_cutoffs", "projection_rebuilds", "dlq_redriven")),
    ),
    OPERATIONS: (
        # replay (its swap), dlq redrive, erase: the projections and their bookkeeping
        Grant(WRITE, (PROJECTION_TABLES, "projection_checkpoints", "projection_rebuilds", "dlq_redriven")),
        Grant(WRITE, ("dlq_tally", "dlq_tally_letters")),  # kim status: the dead letters counted so far
        Grant("SELECT, INSERT, UPDATE", ("agencies", "signing_keys")),  # agency add/remove (keys are retired)
        Grant("SELECT", ("signing_cutoffs",)),
        Grant("SELECT, INSERT", ("audit_log",)),  # appends only; the triggers refuse UPDATE, DELETE, TRUNCATE
        # kim erase: destroys the client's key and remembers the erasure (a peppered digest, not the pseudonym);
        # kim publish / simulate --publish seal (make keys); kim keys rotate re-wraps them (and nothing else)
        Grant("SELECT, INSERT, DELETE, UPDATE (wrapped, kek_id)", ("client_keys",)),
        Grant("SELECT, INSERT, DELETE", ("key_encryption_keys",)),  # kim keys rotate: the current KEK's id
        Grant("SELECT", ("secret_fingerprints",)),  # is the secrets directory this database's?
        Grant("SELECT, INSERT", ("erased_clients",)),
    ),
    GATEWAY: (
        Grant("SELECT", ("agencies", "signing_keys")),  # the token's agency and the key it signs with
        Grant("SELECT", ("referral_cases", "projection_checkpoints")),  # the consent gate
        Grant(WRITE, ("gateway_idempotency",)),
        Grant("SELECT, INSERT", ("client_keys",)),  # seals client_ref: a new client's key is made on first sight
        Grant("SELECT", ("key_encryption_keys", "secret_fingerprints")),  # which KEK wraps; the right secrets?
    ),
    ANALYST: (
        # The API's `min_offsets` waits on where each projection stands in the log: offsets, no personal data.
        Grant("SELECT (projection, topic, partition, next_offset)", ("projection_checkpoints",)),
    ),
}
ADMIN_ONLY = ("schema_migrations",)  # no role gets anything on these

DATABASE_GRANTS = {OPERATIONS: "CREATE"}  # the schemas of `kim replay`'s copies (rebuild_*, asof_*)
ANALYTICS_SCHEMA = "analytics"  # kim_analyst: USAGE, SELECT on every view, EXECUTE on every function
# kim_gateway: USAGE, EXECUTE on every function (migration 0092: a receiving agency's view, the agency from its
# token); the functions are SECURITY DEFINER and not executable by PUBLIC, so no other role may call them
PARTNER_SCHEMA = "partner"


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def projection_tables() -> tuple[str, ...]:
    return tuple(t for p in PROJECTIONS.values() for t in p.tables)


def _expand(tables: Iterable[str], projection: tuple[str, ...]) -> list[str]:
    return [n for t in tables for n in (projection if t == PROJECTION_TABLES else (t,))]


def classified(projection: tuple[str, ...]) -> set[str]:
    """Every table some entry of GRANTS (or ADMIN_ONLY) names."""
    return set(ADMIN_ONLY) | {n for grants in GRANTS.values() for g in grants for n in _expand(g.tables, projection)}


def statements(
    roles: Iterable[str],
    tables: Iterable[str],
    sequences: Mapping[str, Iterable[str]],
    database: str,
    projection: Iterable[str],
    analytics: bool,
) -> list[str]:
    """The SQL that makes the roles hold exactly GRANTS (pure).

    ``roles`` and ``tables`` are those that exist (others are skipped), ``sequences`` maps a table to the
    sequences its serial columns use (granted with INSERT), ``projection`` the projections' tables.
    """
    roles, tables, projection = [r for r in ROLES if r in set(roles)], set(tables), tuple(projection)
    out: list[str] = []
    schemas = ("public", ANALYTICS_SCHEMA) if analytics else ("public",)
    for role in roles:
        for schema in schemas:
            out.append(f"REVOKE ALL ON ALL TABLES IN SCHEMA {schema} FROM {role}")
            out.append(f"REVOKE ALL ON ALL SEQUENCES IN SCHEMA {schema} FROM {role}")
        out.append(f"REVOKE CREATE ON DATABASE {_ident(database)} FROM {role}")
        for grant in GRANTS.get(role, ()):
            for table in _expand(grant.tables, projection):
                if table not in tables:
                    continue
                out.append(f"GRANT {grant.privileges} ON public.{_ident(table)} TO {role}")
                if "INSERT" in grant.privileges:
                    out.extend(
                        f"GRANT USAGE ON SEQUENCE public.{_ident(s)} TO {role}" for s in sequences.get(table, ())
                    )
        if role in DATABASE_GRANTS:
            out.append(f"GRANT {DATABASE_GRANTS[role]} ON DATABASE {_ident(database)} TO {role}")
    if analytics and ANALYST in roles:
        out.append(f"GRANT USAGE ON SCHEMA {ANALYTICS_SCHEMA} TO {ANALYST}")
        out.append(f"GRANT SELECT ON ALL TABLES IN SCHEMA {ANALYTICS_SCHEMA} TO {ANALYST}")
        out.append(f"GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA {ANALYTICS_SCHEMA} TO {ANALYST}")
    return out


_SEQUENCES = """
    SELECT t.relname AS table_name, s.relname AS sequence_name
    FROM pg_class s
    JOIN pg_depend d ON d.objid = s.oid AND d.classid = 'pg_class'::regclass AND d.deptype IN ('a', 'i')
    JOIN pg_class t ON t.oid = d.refobjid
    JOIN pg_namespace n ON n.oid = t.relnamespace AND n.nspname = 'public'
    WHERE s.relkind = 'S'
"""


async def apply_grants(conn: asyncpg.Connection) -> list[str]:
    """Grant each existing role exactly its entry of GRANTS in this database; return the unclassified tables."""
    roles = [r["rolname"] for r in await conn.fetch("SELECT rolname FROM pg_roles WHERE rolname = ANY($1)", ROLES)]
    tables = [r["tablename"] for r in await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")]
    sequences: dict[str, list[str]] = {}
    for row in await conn.fetch(_SEQUENCES):
        sequences.setdefault(row["table_name"], []).append(row["sequence_name"])
    analytics = bool(await conn.fetchval("SELECT 1 FROM pg_namespace WHERE nspname = $1", ANALYTICS_SCHEMA))
    database = await conn.fetchval("SELECT current_database()")
    projection = projection_tables()
    partner = bool(await conn.fetchval("SELECT 1 FROM pg_namespace WHERE nspname = $1", PARTNER_SCHEMA))
    async with conn.transaction():
        for sql in statements(roles, tables, sequences, database, projection, analytics):
            await conn.execute(sql)
        if partner and GATEWAY in roles:
            await conn.execute(f"GRANT USAGE ON SCHEMA {PARTNER_SCHEMA} TO {GATEWAY}")
            await conn.execute(f"GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA {PARTNER_SCHEMA} TO {GATEWAY}")
    known = classified(projection)
    return sorted(t for t in tables if t not in known)
