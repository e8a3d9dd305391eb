"""Which PostgreSQL login each component uses: ``database_url(settings, role)`` answers it in one place.

- ``worker`` (group ``kim_worker``): the projection workers (``cli.worker``)
- ``operations`` (``kim_operations``): `kim replay`, `dlq`, `agency`, `audit`, `erase`, `status`, and
  `kim publish` / `kim simulate --publish` (they make client keys)
- ``analyst`` (``kim_analyst``): `kim query`, `kim serve` (API and dashboard)
- ``gateway`` (``kim_gateway``): `kim gateway`
- ``admin`` (the owner): `kim up` (migrations, grants), `kim demo`, the tests' setup

What a group may do is ``projections/grants.py``. Local cluster: each role logs in as its own LOGIN role
``kim_<role>_login`` (a member of the group and nothing else) with a random password kept in
``$KIM_HOME/db-<role>.password`` (mode 0600), made by `kim up` (``ensure_logins``). A component is handed
only its own login, so e.g. a worker process never holds the owner's password (the files are all the
invoking OS user's; run components as different OS users to separate them further).
External database (``KIM_DATABASE_URL``): ``KIM_<ROLE>_DATABASE_URL`` gives a role its own login; a role
without one falls back to ``KIM_DATABASE_URL`` — no separation, and `kim status` says so.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

from infra.errors import SetupError
from infra.settings import DATABASE_ROLES, Settings

ADMIN = "admin"
WORKER, OPERATIONS, ANALYST, GATEWAY = DATABASE_ROLES


def group_role(role: str) -> str:
    return f"kim_{role}"


def login_role(role: str) -> str:
    return f"kim_{role}_login"


def password_file(settings: Settings, role: str) -> Path:
    return settings.home / f"db-{role}.password"


def with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, parts.fragment))


def _local_url(settings: Settings, role: str, password: str) -> str:
    base = urlsplit(settings.database_url)
    netloc = f"{login_role(role)}:{quote(password, safe='')}@{base.hostname}:{base.port}"
    return urlunsplit((base.scheme, netloc, base.path, base.query, base.fragment))


def database_url(settings: Settings, role: str) -> str:
    """The URL a component acting as ``role`` connects with (``admin``: the owner's)."""
    if role == ADMIN:
        return settings.database_url
    if role not in DATABASE_ROLES:
        raise ValueError(f"unknown database role {role!r}")
    if not settings.local_postgres:
        return dict(settings.role_database_urls).get(role, settings.database_url)
    try:
        password = password_file(settings, role).read_text().strip()
    except FileNotFoundError:
        raise SetupError(
            f"{password_file(settings, role)} is missing: the database login of the {role} role is made by "
            "`kim up`; run it"
        ) from None
    return _local_url(settings, role, password)


def fallbacks(settings: Settings) -> list[str]:
    """The roles that use the owner's URL because no own login was given (external database only)."""
    if settings.local_postgres:
        return []
    given = dict(settings.role_database_urls)
    return [r for r in DATABASE_ROLES if r not in given]


def fallback_note(settings: Settings) -> str | None:
    """One line for `kim status` and component starts when roles share KIM_DATABASE_URL."""
    missing = fallbacks(settings)
    if not missing:
        return None
    names = ", ".join(f"KIM_{r.upper()}_DATABASE_URL" for r in missing)
    return f"database roles {', '.join(missing)} use KIM_DATABASE_URL (no separation); set {names} to separate them"


def refusal(error: BaseException) -> str | None:
    """One line for a database refusal that reached a front door: a role lacking a privilege, a refused login."""
    import asyncpg

    if isinstance(error, asyncpg.InsufficientPrivilegeError):
        return (
            f"the database refused: {error}; the database role of this command may not do that — check that "
            "KIM_<ROLE>_DATABASE_URL names that role's login (`kim status` shows which roles fall back), "
            "or run `kim up` to renew the grants"
        )
    if isinstance(error, asyncpg.InvalidAuthorizationSpecificationError) and "no encryption" in str(error):
        return (
            f"PostgreSQL refused a connection without TLS ({error}); remove sslmode=disable (or allow) from "
            "KIM_DATABASE_URL / KIM_<ROLE>_DATABASE_URL"
        )
    if isinstance(error, asyncpg.ClientConfigurationError):
        return (
            f"the database URL cannot be used: {str(error).splitlines()[0]}; with sslmode=verify-full (the default "
            "for a database on another machine) name the server's CA with sslrootcert=FILE in KIM_DATABASE_URL / "
            "KIM_<ROLE>_DATABASE_URL"
        )
    if isinstance(error, asyncpg.InvalidAuthorizationSpecificationError | asyncpg.InvalidPasswordError):
        return (
            f"PostgreSQL refused the login ({error}); fix the user or password in KIM_<ROLE>_DATABASE_URL, "
            "or on the local server run `kim up` to renew the logins"
        )
    return None


# --- the local cluster's logins (run as the owner by `kim up` and the test setup) ---


def _password(path: Path) -> tuple[str, bool]:
    """The password in ``path``, made now (mode 0600) if missing; and whether it was made now."""
    with contextlib.suppress(FileNotFoundError):
        return path.read_text().strip(), False
    password = secrets.token_urlsafe(24)  # [A-Za-z0-9_-]: safe inside a SQL literal
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f".{path.name}.{os.getpid()}")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(password + "\n")
    try:
        os.link(temp, path)  # atomic: of two processes at once, one file wins and both read it
    except FileExistsError:
        return path.read_text().strip(), False
    finally:
        temp.unlink(missing_ok=True)
    return password, True


async def ensure_logins(settings: Settings) -> list[str]:
    """Make each group role and its login (password from KIM_HOME) on the local cluster; return what changed."""
    import asyncpg

    conn = await asyncpg.connect(settings.database_url, timeout=10)
    changed = []
    try:
        for role in DATABASE_ROLES:
            password, new = _password(password_file(settings, role))
            for attempt in range(5):  # roles are cluster-wide: parallel setups may update the same rows
                try:
                    if await _ensure_login(conn, role, password, new):
                        changed.append(login_role(role))
                    break
                except (asyncpg.InternalServerError, asyncpg.UniqueViolationError, asyncpg.DuplicateObjectError):
                    if attempt == 4:
                        raise
                    await asyncio.sleep(0.2 * (attempt + 1))
    finally:
        await conn.close()
    return changed


async def _ensure_login(conn, role: str, password: str, new_password: bool) -> bool:  # conn: asyncpg.Connection
    group, login = group_role(role), login_role(role)
    if not await conn.fetchval("SELECT 1 FROM pg_roles WHERE rolname = $1", group):
        await conn.execute(f"CREATE ROLE {group} NOLOGIN")
    row = await conn.fetchrow("SELECT rolcanlogin FROM pg_roles WHERE rolname = $1", login)
    if row is None:
        await conn.execute(f"CREATE ROLE {login} LOGIN INHERIT PASSWORD '{password}'")
    elif new_password or not row["rolcanlogin"]:
        await conn.execute(f"ALTER ROLE {login} LOGIN PASSWORD '{password}'")
    else:
        return False
    await conn.execute(f"GRANT {group} TO {login}")
    return True
