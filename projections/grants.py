"""What each database role may do: one declarative table, applied after every migrate.

The roles (migration 0095) are NOLOGIN groups; components log in as members (``infra/db_roles.py``).
``apply_grants`` first revokes everything the roles hold on the ``public`` and ``analytics`` tables and
sequences, then grants exactly what ``GRANTS`` says, in one transaction: the table is the whole truth,
and a table added by a later migration gets its grants by adding its name here. A table that is in no
entry (and not in ``ADMIN_ONLY``) gets nothing, and ``apply_grants`` returns its name so `kim up` warns.

Ownership stays with the migrating (admin) role, so no role here may CREATE, DROP, ALTER or TRUNCATE a
platform table, nor create a schema or a persistent table anywhere (temporary tables, which vanish with the
session, stay allowed: the sinks stage their COPY in one). What a role needs done as the owner it asks a
``SECURITY DEFINER`` function of ``FUNCTIONS`` for: appending to the audit log (which records the caller's
database login) and making or dropping `kim replay`'s copies. ``audit_log`` is append-only through its
triggers besides.
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
        # verify record signatures (a retired key by signing_keys.retired_at and append_time_cutoffs); metrics
        # read rebuild progress and re-drives
        Grant(
            "SELECT",
            ("signing_keys", "signing_cutoffs", "append_time_cutoffs", "projection_rebuilds", "dlq_redriven"),
        ),
        Grant("SELECT, INSERT", ("dead_letters_sent",)),  # a letter once per record (migration 0132)
    ),
    OPERATIONS: (
        # replay (its swap), dlq redrive, erase: the projections and their bookkeeping
        Grant(WRITE, (PROJECTION_TABLES, "projection_checkpoints", "projection_rebuilds", "dlq_redriven")),
        Grant(WRITE, ("dlq_tally", "dlq_tally_letters")),  # kim status: the dead letters counted so far
        Grant("SELECT, INSERT", ("dead_letters_sent",)),  # a rebuild sends no second letter for a record
        # agency add/remove (keys are retired: UPDATE also lets remove lock the key table while it dates the retirement)
        Grant("SELECT, INSERT, UPDATE", ("agencies", "signing_keys")),
        Grant("SELECT", ("signing_cutoffs", "append_time_cutoffs")),  # dlq redrive verifies signatures
        Grant("SELECT", ("audit_log",)),  # appends through audit_append() only (FUNCTIONS), which records the login
        # kim erase: destroys the client's key and remembers the erasure (a peppered digest, not the pseudonym);
        # kim publish / simulate --publish seal (make keys); kim keys rotate re-wraps them (and nothing else)
        Grant("SELECT, INSERT, DELETE, UPDATE (wrapped, kek_id)", ("client_keys",)),
        Grant("SELECT, INSERT, DELETE", ("key_encryption_keys",)),  # kim keys rotate: the current KEK's id
        Grant("SELECT", ("secret_fingerprints",)),  # is the secrets directory this database's?
        Grant("SELECT, INSERT", ("erased_clients",)),
    ),
    GATEWAY: (
        Grant("SELECT", ("agencies", "signing_keys")),  # the token's agency and the key it signs with
        Grant("SELECT", ("referral_cases", "projection_checkpoints")),  # the case gate: consents and parties
        Grant("SELECT (case_id, referral_id, to_agency)", ("referrals",)),  # … who may answer a referral
        Grant("SELECT (application_id, office)", ("backlog_applications",)),  # … who may act on an application
        Grant(WRITE, ("gateway_idempotency",)),
        Grant("SELECT, INSERT", ("client_keys",)),  # seals client_ref: a new client's key is made on first sight
        Grant("SELECT", ("key_encryption_keys", "secret_fingerprints")),  # which KEK wraps; the right secrets?
    ),
    ANALYST: (
        # The API's `min_offsets` waits on where each projection stands in the log: offsets, no personal data.
        Grant("SELECT (projection, topic, partition, next_offset)", ("projection_checkpoints",)),
    ),
}
# No role gets anything on these. platform_settings holds switches the analytics schema obeys (migration 0100:
# KIM_CASE_MANAGER_FIGURES); only `kim up`, as the owner, writes it, and analytics reads it as its owner.
ADMIN_ONLY = ("schema_migrations", "platform_settings")

# Functions in schema public a role may EXECUTE (each SECURITY DEFINER, owned by the migrating role, not PUBLIC's).
FUNCTIONS: dict[str, tuple[str, ...]] = {
    OPERATIONS: (
        "audit_append(text, text, text, text, jsonb)",  # migration 0130: the entry records session_user
        "kim_copy_create(text, text[], boolean)",  # migration 0131: kim replay's copies, made as the owner
        "kim_copy_drop(text)",
    ),
}
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
    functions: Iterable[str] = (),
) -> list[str]:
    """The SQL that makes the roles hold exactly GRANTS (pure).

    ``roles``, ``tables`` and ``functions`` (signatures as ``FUNCTIONS`` spells them) are those that exist
    (others are skipped), ``sequences`` maps a table to the sequences its serial columns use (granted with
    INSERT), ``projection`` the projections' tables.
    """
    roles, tables, projection = [r for r in ROLES if r in set(roles)], set(tables), tuple(projection)
    functions = set(functions)
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
        out.append(f"REVOKE ALL ON ALL FUNCTIONS IN SCHEMA public FROM {role}")
        out.extend(f"GRANT EXECUTE ON FUNCTION public.{f} TO {role}" for f in FUNCTIONS.get(role, ()) if f in functions)
    if analytics and ANALYST in roles:
        out.append(f"GRANT USAGE ON SCHEMA {ANALYTICS_SCHEMA} TO {ANALYST}")
        out.append(f"GRANT SELECT ON ALL TABLES IN SCHEMA {ANALYTICS_SCHEMA} TO {ANALYST}")
        out.append(f"GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA {ANALYTICS_SCHEMA} TO {ANALYST}")
    return out


_FUNCTIONS = """
    SELECT p.proname || '(' || oidvectortypes(p.proargtypes) || ')'
    FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = 'public'
"""
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
    functions = [r[0] for r in await conn.fetch(_FUNCTIONS)]
    async with conn.transaction():
        for sql in statements(roles, tables, sequences, database, projection, analytics, functions):
            await conn.execute(sql)
        if partner and GATEWAY in roles:
            await conn.execute(f"GRANT USAGE ON SCHEMA {PARTNER_SCHEMA} TO {GATEWAY}")
            await conn.execute(f"GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA {PARTNER_SCHEMA} TO {GATEWAY}")
    known = classified(projection)
    return sorted(t for t in tables if t not in known)
