"""The local PostgreSQL server that `kim up` runs when KIM_DATABASE_URL is unset.

It uses the distribution's PostgreSQL binaries (Debian: /usr/lib/postgresql/<N>/bin) with a cluster of our
own under KIM_HOME, on its own port, so it never touches a system cluster on 5432. As root, every server
command runs as the unprivileged `postgres` OS user (PostgreSQL refuses to run as root).
The superuser `kim` gets a random password kept in `settings.postgres_password_file`; clients connect over TCP,
with TLS only: the server presents the installation's certificate (infra/tls.py), `pg_hba.conf` (rewritten at
every start, so a cluster made by an older kim is upgraded too) accepts TCP logins only as ``hostssl``, and every
URL the platform hands out verifies the certificate (``sslmode=verify-full``, infra/database_tls.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import secrets
import shlex
import shutil
import stat
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import unquote, urlsplit, urlunsplit

from infra.errors import SetupError
from infra.postgres_state import refusal_line, refusal_state
from infra.processes import file_lock, log_tail, meaningful_tail, pid_alive, port_in_use, run_as, run_sync, user_ids
from infra.settings import Settings
from infra.tls import ensure_tls

Log = Callable[[str], None]

HOST = "127.0.0.1"
SUPERUSER = "kim"
DATABASE = "kim"
OS_USER = "postgres"  # who runs the server when we are root
MIN_VERSION = 15
_PG_ROOT = Path("/usr/lib/postgresql")
_SOCKET_PATH_MAX = 100  # sun_path is 108 bytes; the socket file name adds ".s.PGSQL.<port>.lock"


# --- binaries ---


def _has_server_tools(bin_dir: Path) -> bool:
    return all(os.access(bin_dir / tool, os.X_OK) for tool in ("initdb", "pg_ctl", "postgres"))


def find_pg_bin(version: str | None = None) -> Path | None:
    """The directory holding initdb/pg_ctl: $KIM_PG_BIN, else the newest /usr/lib/postgresql/<N>/bin with N >= 15.

    `version` asks for that major version only (the one an existing data directory was made by).
    """
    override = os.environ.get("KIM_PG_BIN")
    if override:
        path = Path(override)
        if not _has_server_tools(path):
            raise SetupError(f"KIM_PG_BIN={override} holds no initdb, pg_ctl and postgres; point it at their directory")
        return path
    candidates = []
    for entry in _PG_ROOT.iterdir() if _PG_ROOT.is_dir() else ():
        wanted = version is None or entry.name == version
        if wanted and entry.name.isdigit() and int(entry.name) >= MIN_VERSION and _has_server_tools(entry / "bin"):
            candidates.append((int(entry.name), entry / "bin"))
    return max(candidates)[1] if candidates else None


def _not_installed_hint() -> str:
    return (
        "PostgreSQL server programs (initdb, pg_ctl) were not found; install them (sudo apt-get install postgresql), "
        "set KIM_PG_BIN to their directory, or set KIM_DATABASE_URL to use an existing server"
    )


def ensure_postgres_installed(log: Log = print) -> Path:
    """Return the PostgreSQL bin directory, installing Debian's `postgresql` with apt-get first when we are root."""
    found = find_pg_bin()
    if found:
        return found
    apt = shutil.which("apt-get")
    if os.geteuid() != 0 or apt is None:
        raise SetupError(_not_installed_hint())
    log("installing PostgreSQL with apt-get (postgresql, ~60 MB)…")
    started = time.monotonic()
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for argv in ([apt, "update", "-qq"], [apt, "install", "-y", "-qq", "postgresql"]):
        proc = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True, env=env)
        if proc.returncode != 0:
            lines = [line for line in (proc.stdout + proc.stderr).splitlines() if line.strip()]
            reason = lines[-1].strip() if lines else f"exit code {proc.returncode}"
            raise SetupError(
                f"'{' '.join(argv[1:])}' failed: {reason} — check the network connection to the Debian mirror, "
                "or set KIM_DATABASE_URL to use an existing server"
            )
    found = find_pg_bin()
    if found is None:
        raise SetupError(_not_installed_hint())
    log(f"  installed in {time.monotonic() - started:.1f} s ({found})")
    return found


def server_version(bin_dir: Path) -> str:
    """E.g. '15.14' from `postgres --version`; the directory's major version when that fails."""
    try:
        out = subprocess.run(
            [str(bin_dir / "postgres"), "--version"], capture_output=True, text=True, timeout=10
        ).stdout
    except (OSError, subprocess.TimeoutExpired):
        out = ""
    match = re.search(r"\d+(\.\d+)?", out)
    return match.group(0) if match else bin_dir.parent.name


# --- paths and ownership ---


def data_dir(settings: Settings) -> Path:
    return settings.postgres_dir / "data"


def log_path(settings: Settings) -> Path:
    return settings.run_dir / "postgres.log"


def _socket_dir(settings: Settings) -> Path | None:
    """Where the server puts its Unix socket; None (no socket, TCP only) when the path would be too long."""
    path = settings.postgres_dir / "socket"
    return path if len(str(path)) <= _SOCKET_PATH_MAX - 20 else None


def _server_user() -> str | None:
    """The OS user to run server commands as: `postgres` when we are root, else ourselves (None)."""
    if os.geteuid() != 0:
        return None
    try:
        user_ids(OS_USER)
    except KeyError:
        raise SetupError(
            f"running as root, but there is no '{OS_USER}' OS user to run PostgreSQL as; "
            "install Debian's postgresql package (it creates the user) or run kim as a normal user"
        ) from None
    return OS_USER


def _give_to(path: Path, user: str | None, mode: int) -> None:
    if user is not None:
        uid, gid = user_ids(user)
        os.chown(path, uid, gid)
    os.chmod(path, mode)


def _check_traversable(path: Path, user: str) -> None:
    """Every ancestor of `path` must let `user` pass, or the server cannot reach its data directory."""
    uid, gid = user_ids(user)
    for directory in [path, *path.parents]:
        st = directory.stat()
        if st.st_uid == uid:
            ok = st.st_mode & stat.S_IXUSR
        elif st.st_gid == gid:
            ok = st.st_mode & stat.S_IXGRP
        else:
            ok = st.st_mode & stat.S_IXOTH
        if not ok:
            raise SetupError(
                f"PostgreSQL runs as the '{user}' user, which cannot enter {directory}; "
                f"set KIM_HOME to a directory outside it, or allow it (chmod o+x {directory})"
            )


def _prepare_dirs(settings: Settings, user: str | None) -> None:
    settings.home.mkdir(parents=True, exist_ok=True)
    settings.run_dir.mkdir(parents=True, exist_ok=True)
    settings.postgres_dir.mkdir(parents=True, exist_ok=True)
    if user is not None:
        os.chmod(settings.home, settings.home.stat().st_mode | 0o755)
        _check_traversable(settings.home, user)
    _give_to(settings.postgres_dir, user, 0o700)
    socket_dir = _socket_dir(settings)
    if socket_dir is not None:
        socket_dir.mkdir(exist_ok=True)
        _give_to(socket_dir, user, 0o700)
    log_file = log_path(settings)
    log_file.touch(exist_ok=True)
    _give_to(log_file, user, 0o640)


# --- TLS ---

HBA = """\
# Written by kim at every start (infra/postgres_server.py); edits here are lost.
# TCP logins only over TLS (hostssl) with a password; the Unix socket only for the server's own OS user.
local    all  all                 peer
hostssl  all  all  127.0.0.1/32   scram-sha-256
hostssl  all  all  ::1/128        scram-sha-256
"""


def _server_tls(settings: Settings, user: str | None) -> tuple[Path, Path]:
    """The installation's server certificate and key, copied where the server's OS user owns them.

    PostgreSQL refuses a key that is not its own user's with mode 0600, and as root the server runs as
    `postgres`, which may not read $KIM_HOME/tls: so a copy under the cluster's directory, renewed every start.
    """
    files = ensure_tls(settings.tls_dir)
    directory = settings.postgres_dir / "tls"
    directory.mkdir(exist_ok=True)
    _give_to(directory, user, 0o700)
    cert, key = directory / "server.pem", directory / "server-key.pem"
    _copy(files.cert, cert, user, 0o644)
    _copy(files.key, key, user, 0o600)
    return cert, key


def _copy(source: Path, target: Path, user: str | None, mode: int) -> None:
    temp = target.with_name(f".{target.name}.tmp")
    temp.unlink(missing_ok=True)
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(source.read_bytes())
    _give_to(temp, user, mode)
    os.replace(temp, target)


def _write_hba(settings: Settings, user: str | None) -> None:
    path = data_dir(settings) / "pg_hba.conf"
    if path.exists() and path.read_text() == HBA:
        return
    temp = path.with_name(".pg_hba.conf.tmp")
    temp.unlink(missing_ok=True)
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(HBA)
    _give_to(temp, user, 0o600)
    os.replace(temp, path)


def _serves_tls(settings: Settings) -> bool:
    """Whether the running server was started with TLS (by this kim); unknown counts as yes."""
    try:
        return "ssl=on" in (data_dir(settings) / "postmaster.opts").read_text()
    except (FileNotFoundError, PermissionError):
        return True


# --- password ---


def _password(settings: Settings) -> str:
    """The superuser's password, generated once; the file stays with the invoking user (mode 0600)."""
    path = settings.postgres_password_file
    if path.exists():
        return path.read_text().strip()
    password = secrets.token_urlsafe(24)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(password + "\n")
    return password


# --- initdb and pg_ctl ---


def _run_server_tool(argv: list[str], user: str | None, settings: Settings, timeout: float) -> str:
    """Run initdb/pg_ctl (as `user` when root) from a directory that user can enter; SetupError on failure."""
    try:
        proc = run_as(argv, user=user, cwd=settings.postgres_dir, timeout=timeout, env=_server_env())
    except subprocess.TimeoutExpired:
        raise SetupError(
            f"{Path(argv[0]).name} did not finish within {timeout:g} s; see {log_path(settings)}"
        ) from None
    if proc.returncode != 0:
        tail = meaningful_tail(proc.stdout)
        raise SetupError(f"{Path(argv[0]).name} {argv[1]} failed (exit {proc.returncode}):\n{tail}")
    return proc.stdout


def _server_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}  # a stray PGDATA/PGPORT must not steer pg_ctl
    env["LC_MESSAGES"] = "C"
    return env


def _initdb(settings: Settings, bin_dir: Path, user: str | None, log: Log) -> None:
    """Create the cluster once: superuser `kim` with a password for TCP, peer auth on the Unix socket."""
    data = data_dir(settings)
    if (data / "PG_VERSION").exists():
        return
    if data.exists() and any(data.iterdir()):
        raise SetupError(f"{data} exists but holds no PostgreSQL cluster; move it away or delete it, then retry")
    password = _password(settings)
    log("  creating the PostgreSQL cluster (first start)")
    pwfile = settings.postgres_dir / ".initdb-pw"
    fd = os.open(pwfile, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(password + "\n")
    _give_to(pwfile, user, 0o600)
    base = [str(bin_dir / "initdb"), "-D", str(data), "-U", SUPERUSER, f"--pwfile={pwfile}", "-E", "UTF8"]
    base += ["--auth-host=scram-sha-256", "--auth-local=peer"]
    try:
        try:
            # C collation: byte order, stable across glibc upgrades (no index rebuilds); C.UTF-8 character classes.
            _run_server_tool([*base, "--locale=C.UTF-8", "--lc-collate=C"], user, settings, timeout=120)
        except SetupError:
            shutil.rmtree(data, ignore_errors=True)
            _run_server_tool([*base, "--no-locale"], user, settings, timeout=120)
    finally:
        pwfile.unlink(missing_ok=True)


def _postmaster_info(settings: Settings) -> list[str]:
    """Lines of postmaster.pid: pid, data dir, start time, port, socket dir, listen address, shm key, status."""
    try:
        return (data_dir(settings) / "postmaster.pid").read_text().splitlines()
    except (FileNotFoundError, PermissionError):
        return []


def postgres_pid(settings: Settings) -> int | None:
    info = _postmaster_info(settings)
    if not info or not info[0].strip().isdigit():
        return None
    pid = int(info[0])
    return pid if pid_alive(pid, str(data_dir(settings))) else None


def postgres_running(settings: Settings) -> bool:
    return postgres_pid(settings) is not None


def _running_port(settings: Settings) -> int | None:
    info = _postmaster_info(settings)
    return int(info[3]) if len(info) > 3 and info[3].strip().isdigit() else None


def _pg_ctl_start(settings: Settings, bin_dir: Path, user: str | None, timeout: float) -> None:
    socket_dir = _socket_dir(settings)
    cert, key = _server_tls(settings, user)
    _write_hba(settings, user)
    options = f"-p {settings.postgres_port} -h {HOST} -k {shlex.quote(str(socket_dir) if socket_dir else '')}"
    options += f" -c ssl=on -c ssl_cert_file={shlex.quote(str(cert))} -c ssl_key_file={shlex.quote(str(key))}"
    argv = [str(bin_dir / "pg_ctl"), "start", "-D", str(data_dir(settings)), "-l", str(log_path(settings))]
    argv += ["-w", "-t", str(max(1, int(timeout))), "-o", options]
    logfile = log_path(settings)
    mark = logfile.stat().st_size
    try:
        _run_server_tool(argv, user, settings, timeout=timeout + 10)
    except SetupError:
        # pg_ctl only says "could not start server"; the reason is in the server log.
        raise SetupError(
            f"PostgreSQL failed to start on {HOST}:{settings.postgres_port}; last lines of {logfile}:\n"
            + (log_tail(logfile, 15, offset=mark) or "(nothing logged)")
        ) from None


def start_postgres(settings: Settings, timeout: float = 30.0, log: Log = print) -> None:
    """Start this KIM_HOME's PostgreSQL on 127.0.0.1 and make sure database `kim` exists; harmless when it runs."""
    with file_lock(settings.run_dir / ".postgres.lock"):
        _start_postgres(settings, timeout, log)


def _start_postgres(settings: Settings, timeout: float, log: Log) -> None:
    if postgres_running(settings) and not _serves_tls(settings):
        log("  restarting PostgreSQL with TLS (an earlier kim started it without)")
        stop_postgres(settings)
    if postgres_running(settings):
        port = _running_port(settings)
        if port is not None and port != settings.postgres_port:
            raise SetupError(
                f"the PostgreSQL of {settings.home} already runs on port {port}, not {settings.postgres_port}; "
                "stop it first (kim down)"
            )
        wait_for_database(settings.database_url, timeout)
        return
    if port_in_use(HOST, settings.postgres_port):
        raise SetupError(
            f"port {settings.postgres_port} on {HOST} is already in use by another program; "
            "stop it or set KIM_POSTGRES_PORT to a free port"
        )
    _check_password_kept(settings)
    bin_dir = _bin_for_existing_cluster(settings) or ensure_postgres_installed(log)
    user = _server_user()
    _prepare_dirs(settings, user)
    started = time.monotonic()
    log(f"starting PostgreSQL {server_version(bin_dir)} on {HOST}:{settings.postgres_port} …")
    _initdb(settings, bin_dir, user, log)
    _pg_ctl_start(settings, bin_dir, user, timeout)
    try:
        create_database(settings, DATABASE, timeout=timeout)
    except SetupError:
        stop_postgres(settings)
        raise
    log(f"  PostgreSQL ready in {time.monotonic() - started:.1f} s (log: {log_path(settings)})")


def _check_password_kept(settings: Settings) -> None:
    if (data_dir(settings) / "PG_VERSION").exists() and not settings.postgres_password_file.exists():
        raise SetupError(
            f"{settings.postgres_password_file} is missing, so the password of the cluster in {data_dir(settings)} "
            f"is unknown; restore the file, or delete {settings.postgres_dir} to start afresh (its data is lost)"
        )


def _bin_for_existing_cluster(settings: Settings) -> Path | None:
    """An existing data directory must be served by the major version that created it."""
    try:
        version = (data_dir(settings) / "PG_VERSION").read_text().strip()
    except (FileNotFoundError, PermissionError):
        return None
    found = find_pg_bin(version)
    if found is None:
        raise SetupError(
            f"{data_dir(settings)} was created by PostgreSQL {version}, whose server programs are not installed; "
            f"install them (sudo apt-get install postgresql-{version}) "
            f"or delete {settings.postgres_dir} to start afresh (its data is lost)"
        )
    return found


def stop_postgres(settings: Settings, timeout: float = 30.0) -> bool:
    """Stop this KIM_HOME's PostgreSQL (fast shutdown: open sessions are rolled back). False when not running."""
    if not postgres_running(settings):
        return False
    bin_dir = _bin_for_existing_cluster(settings) or find_pg_bin()
    if bin_dir is None:
        raise SetupError(_not_installed_hint())
    user = _server_user()
    base = [str(bin_dir / "pg_ctl"), "stop", "-D", str(data_dir(settings)), "-w", "-t", str(max(1, int(timeout)))]
    try:
        _run_server_tool([*base, "-m", "fast"], user, settings, timeout=timeout + 10)
    except SetupError:
        _run_server_tool([*base, "-m", "immediate"], user, settings, timeout=timeout + 10)
    return True


# --- clients ---


def _endpoint(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.hostname or 'localhost'}:{parts.port or 5432}"


def _with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, parts.fragment))


def _scrub(text: str, url: str) -> str:
    """Remove the password of `url` from a message, however it is spelled."""
    password = urlsplit(url).password
    for secret in {password, unquote(password or "")} - {None, ""}:
        text = text.replace(secret, "***")
    return text


def _permanent(exc: BaseException) -> bool:
    """Errors that retrying will not fix (wrong password, unknown database/user, a certificate not trusted)."""
    import ssl

    import asyncpg

    return isinstance(
        exc,
        asyncpg.InvalidAuthorizationSpecificationError
        | asyncpg.InvalidCatalogNameError
        | asyncpg.ClientConfigurationError
        | ssl.SSLCertVerificationError,
    )


def _hint(exc: BaseException) -> str:
    """What to do about a failed connection."""
    import ssl

    if isinstance(exc, ssl.SSLCertVerificationError):
        return "the server's certificate is not trusted: name its CA with sslrootcert=FILE in KIM_DATABASE_URL"
    return "start it (kim up) or fix KIM_DATABASE_URL"


async def _connect(url: str, timeout: float):  # -> asyncpg.Connection
    import asyncpg

    return await asyncpg.connect(url, timeout=timeout)


async def _wait_connect(url: str, timeout: float, local: bool = True):  # -> asyncpg.Connection
    """Connect to `url`, retrying while the server is not up yet; SetupError (without the password) on giving up.

    A server that runs but refuses for a reason waiting will not cure (shutting down) is named at once, one that
    is starting up or recovering is named when the time is up (infra/postgres_state.py; `local`: kim runs it).
    """
    deadline = time.monotonic() + timeout
    while True:
        try:
            return await _connect(url, timeout=max(1.0, min(5.0, deadline - time.monotonic())))
        except Exception as exc:  # reported below, without the password
            state = refusal_state(exc)
            if state is not None and (not state.passing or time.monotonic() >= deadline):
                raise SetupError(refusal_line(state, _endpoint(url), _scrub(str(exc), url), local=local)) from None
            if _permanent(exc) or time.monotonic() >= deadline:
                reason = _scrub(f"{type(exc).__name__}: {exc}".splitlines()[0].rstrip(": "), url)
                raise SetupError(f"cannot reach PostgreSQL at {_endpoint(url)} ({reason}); {_hint(exc)}") from None
            await asyncio.sleep(0.2)


async def _wait(url: str, timeout: float, local: bool) -> None:
    conn = await _wait_connect(url, timeout, local)
    await conn.close()


def wait_for_database(url: str, timeout: float, local: bool = True) -> None:
    """Poll until PostgreSQL at `url` accepts a connection, or raise SetupError (never showing the password).

    `local`: the server is the one kim runs (the advice names `kim down postgres`/`kim up postgres`).
    """
    run_sync(_wait(url, timeout, local))


def _quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


async def _create(url: str, name: str, timeout: float) -> None:
    conn = await _wait_connect(_with_database(url, "postgres"), timeout)
    try:
        if not await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name):
            import asyncpg

            with contextlib.suppress(asyncpg.DuplicateDatabaseError):  # created concurrently
                await conn.execute(f"CREATE DATABASE {_quote_ident(name)}")
    finally:
        await conn.close()


def create_database(settings_or_url: Settings | str, name: str, timeout: float = 30.0) -> str:
    """Create database `name` on the server of `settings_or_url` unless it exists; return its URL."""
    url = settings_or_url.database_url if isinstance(settings_or_url, Settings) else settings_or_url
    try:
        run_sync(_create(url, name, timeout))
    except SetupError:
        raise
    except Exception as exc:  # e.g. no CREATEDB privilege on an external server
        raise SetupError(
            f"cannot create database {name!r} at {_endpoint(url)}: {_scrub(str(exc), url)}; "
            "grant the user CREATEDB or create it yourself"
        ) from None
    return _with_database(url, name)


async def _drop(url: str, name: str, timeout: float) -> None:
    conn = await _connect(_with_database(url, "postgres"), timeout)
    try:
        await conn.execute(f"DROP DATABASE IF EXISTS {_quote_ident(name)} WITH (FORCE)")
    finally:
        await conn.close()


def drop_database(url: str, name: str, timeout: float = 30.0) -> None:
    """Drop database `name` (disconnecting its sessions) on the server of `url`; harmless when it does not exist."""
    try:
        run_sync(_drop(url, name, timeout))
    except Exception as exc:
        raise SetupError(f"cannot drop database {name!r} at {_endpoint(url)}: {_scrub(str(exc), url)}") from None
