"""Every setting of the platform, read from environment variables in one place.

Unset, the platform runs its own Kafka broker and PostgreSQL server on loopback.
Set ``KIM_KAFKA_BOOTSTRAP`` and/or ``KIM_DATABASE_URL`` to use existing ones instead.
"""

from __future__ import annotations

import getpass
import os
import socket
from dataclasses import dataclass, field, replace
from pathlib import Path
from urllib.parse import quote

from infra import database_tls
from infra.errors import SetupError

KAFKA_VERSION = "4.4.0"
METRICS_PROJECTIONS = 4  # consecutive metrics ports from KIM_METRICS_PORT: caseload, referrals, backlog, outcomes


def _default_home() -> Path:
    # As root the PostgreSQL server runs as the unprivileged `postgres` user, which
    # cannot enter /root: keep state where that user may traverse.
    if os.geteuid() == 0:
        return Path("/var/lib/kim")
    return Path(os.environ.get("XDG_STATE_HOME", Path.home() / ".local/state")) / "kim"


def _default_cache() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "kim"


def _port(env: dict[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    if not raw.isdigit() or not 1 <= int(raw) <= 65535:
        raise SetupError(f"{name}={raw!r} is not a TCP port; set it to a number from 1024 to 65535 or unset it")
    return int(raw)


def _metrics_port(env: dict[str, str], projections: int) -> int:
    """The first projection's metrics port; the others follow it (0: no metrics)."""
    raw = env.get("KIM_METRICS_PORT")
    if raw is None or raw == "":
        return 9464
    if not raw.isdigit() or (int(raw) != 0 and not 1 <= int(raw) <= 65536 - projections):
        raise SetupError(
            f"KIM_METRICS_PORT={raw!r} is not a TCP port; set it to a number from 1024 to {65536 - projections} "
            "(the projections use it and the next ones), to 0 to turn metrics off, or unset it"
        )
    return int(raw)


def _count(env: dict[str, str], name: str, default: int) -> int:
    """A whole number of things, 0 or more."""
    raw = env.get(name, "").strip().replace("_", "")
    if not raw:
        return default
    if not raw.isdigit():
        raise SetupError(
            f"{name}={env[name]!r} is not a whole number; set it to 0 or more (default {default}) or unset it"
        )
    return int(raw)


def _bootstrap(raw: str) -> str:
    for server in raw.split(","):
        host, _, port = server.strip().rpartition(":")
        if not host or not port.isdigit():
            raise SetupError(
                f"KIM_KAFKA_BOOTSTRAP={raw!r} is not a list of host:port; set it like 'broker1:9092,broker2:9092'"
            )
    return raw


def _actor(env: dict[str, str]) -> str:
    """Who is acting, as the audit log records it: ``KIM_ACTOR``, else the login name at this host."""
    raw = env.get("KIM_ACTOR", "").strip()
    if not raw:
        try:
            user = getpass.getuser()
        except (KeyError, OSError):  # no passwd entry and no LOGNAME/USER: still say which process
            user = f"uid{os.getuid()}"
        return f"{user}@{socket.gethostname()}"
    if len(raw) > 200 or not raw.isprintable():
        raise SetupError(f"KIM_ACTOR={raw[:40]!r} must be a printable name of at most 200 characters, or unset")
    return raw


def _database_url(raw: str) -> str:
    if not raw.startswith(("postgresql://", "postgres://")):
        raise SetupError(
            f"KIM_DATABASE_URL={raw!r} is not a PostgreSQL URL; set it like 'postgresql://user:password@host:5432/dbname'"
        )
    return _database_tls(raw, "KIM_DATABASE_URL").url


def _database_tls(url: str, variable: str) -> database_tls.DatabaseTls:
    """The URL with its TLS default (infra/database_tls.py); an unknown sslmode is refused."""
    try:
        return database_tls.external_url(url)
    except ValueError as why:
        raise SetupError(f"{variable}: {why}; use verify-full (the default when unset) or another of them") from None


def _database_warnings(env: dict[str, str]) -> tuple[str, ...]:
    """One line when an external database URL lets a non-loopback connection go without verified TLS."""
    names = ["KIM_DATABASE_URL", *(f"KIM_{r.upper()}_DATABASE_URL" for r in DATABASE_ROLES)]
    unsafe = [
        (name, mode)
        for name in names
        if env.get(name, "").startswith(("postgresql://", "postgres://"))
        and (mode := database_tls.external_url(env[name]).unsafe_mode)
    ]
    line = database_tls.unsafe_warning(unsafe)
    return (line,) if line else ()


@dataclass(frozen=True)
class Settings:
    home: Path
    cache: Path
    kafka_port: int
    kafka_controller_port: int
    postgres_port: int
    external_kafka: str | None
    external_database_url: str | None
    topic_prefix: str
    kafka_security: str = "sasl_ssl"  # plaintext | ssl | sasl_scram | sasl_ssl (the local broker: sasl_ssl)
    kafka_username: str | None = None  # external clusters only; the local broker's platform user is fixed
    kafka_password: str | None = field(default=None, repr=False)
    # KIM_KAFKA_CA_FILE / _CERT_FILE / _KEY_FILE: an external cluster's CA (None: the system's trust store) and an
    # optional client certificate; the local broker's CA is the installation's own (tls_dir)
    kafka_ca_file: Path | None = None
    kafka_cert_file: Path | None = None
    kafka_key_file: Path | None = None
    # KIM_KAFKA_BROKERS: how many KRaft nodes the local cluster runs (1 or 3); node n listens on
    # KIM_KAFKA_PORT + 10·(n−1) and KIM_KAFKA_CONTROLLER_PORT + 10·(n−1)
    kafka_brokers: int = 1
    # KIM_KAFKA_REPLICATION: the replication factor of the topics on an existing cluster (local: one per node)
    external_replication: int | None = None
    # One line each for the settings that weaken protection (plaintext by explicit choice); front doors print them
    warnings: tuple[str, ...] = ()
    metrics_port: int = 9464  # the first projection's; 0: workers serve no metrics
    # KIM_CATCH_UP_AT: records a live worker may be behind before it catches up through the bulk path (0: never)
    catch_up_at: int = 100_000
    actor: str = ""  # who runs operational commands, for the audit log (KIM_ACTOR; default user@host)
    # KIM_<ROLE>_DATABASE_URL of an external database, as (role, url) pairs; see infra/db_roles.py
    role_database_urls: tuple[tuple[str, str], ...] = field(default=(), repr=False)
    # KIM_CASE_MANAGER_FIGURES: analysts may see open cases per case-manager pseudonym — performance data about
    # staff, so on only with the staff council's agreement. `kim up` writes it into the database
    # (infra/platform_settings.py), where the analytics schema reads it; nothing else reads this field.
    case_manager_figures: bool = False
    # KIM_SECRETS_DIR: the directory of the platform's secrets (pepper, key-encryption key); infra/platform_secrets.py
    secrets_directory: Path | None = None
    # KIM_TLS_CERT_FILE / KIM_TLS_KEY_FILE: the certificate (chain) and key `kim gateway` and `kim serve` present;
    # None: the installation's own (infra/tls.py). KIM_HTTP_PLAINTEXT=on: plain HTTP instead (with a warning)
    tls_cert_file: Path | None = None
    tls_key_file: Path | None = None
    http_plaintext: bool = False

    @property
    def secrets_dir(self) -> Path:
        """The secrets outside the database (mode 0700): ``KIM_SECRETS_DIR``, else ``$KIM_HOME/secrets``."""
        return self.secrets_directory or self.home / "secrets"

    @property
    def local_kafka(self) -> bool:
        return self.external_kafka is None

    @property
    def local_postgres(self) -> bool:
        return self.external_database_url is None

    @property
    def kafka_bootstrap(self) -> str:
        local = ",".join(f"127.0.0.1:{self.kafka_node_port(n)}" for n in self.kafka_nodes)
        return self.external_kafka or local

    @property
    def kafka_nodes(self) -> range:
        """The local cluster's node ids, 1…KIM_KAFKA_BROKERS."""
        return range(1, self.kafka_brokers + 1)

    def kafka_node_port(self, node: int) -> int:
        return self.kafka_port + 10 * (node - 1)

    def kafka_controller_node_port(self, node: int) -> int:
        return self.kafka_controller_port + 10 * (node - 1)

    @property
    def kafka_replication(self) -> int:
        """The replication factor topics get: one copy per local node, or KIM_KAFKA_REPLICATION (default 1)."""
        return self.kafka_brokers if self.local_kafka else (self.external_replication or 1)

    @property
    def kafka_dir(self) -> Path:
        return self.home / "kafka"

    @property
    def postgres_dir(self) -> Path:
        return self.home / "postgres"

    @property
    def run_dir(self) -> Path:
        """Pid files and logs of the processes `kim up` starts."""
        return self.home / "run"

    @property
    def jars_dir(self) -> Path:
        return self.cache / f"kafka-{KAFKA_VERSION}" / "libs"

    @property
    def postgres_password_file(self) -> Path:
        return self.home / "postgres-password"

    @property
    def database_url(self) -> str:
        if self.external_database_url:
            return self.external_database_url
        password = ""
        if self.postgres_password_file.exists():
            password = ":" + quote(self.postgres_password_file.read_text().strip(), safe="")
        return database_tls.local_url(f"kim{password}", self.postgres_port, "kim", self.tls_dir / "ca.pem")

    @property
    def tls_dir(self) -> Path:
        """The local installation's CA and server certificate (infra/tls.py), made by `kim up`."""
        return self.home / "tls"

    @property
    def kafka_password_file(self) -> Path:
        """The local broker's platform principal's password (mode 0600), like the PostgreSQL one."""
        return self.home / "kafka-password"

    def topic(self, name: str) -> str:
        return f"{self.topic_prefix}{name}"

    def metrics_port_of(self, index: int) -> int | None:
        """The metrics port of the projection at ``index`` in the registry, or None when metrics are off."""
        return self.metrics_port + index if self.metrics_port else None


def load_settings(env: dict[str, str] | None = None) -> Settings:
    env = dict(os.environ if env is None else env)
    external_kafka = env.get("KIM_KAFKA_BOOTSTRAP") or None
    external_db = env.get("KIM_DATABASE_URL") or None
    prefix = env.get("KIM_TOPIC_PREFIX", "")
    if prefix and not all(c.isalnum() or c in "._-" for c in prefix):
        raise SetupError(f"KIM_TOPIC_PREFIX={prefix!r} may hold only letters, digits, '.', '_' and '-'")
    settings = Settings(
        home=Path(env["KIM_HOME"]) if env.get("KIM_HOME") else _default_home(),
        cache=Path(env["KIM_CACHE"]) if env.get("KIM_CACHE") else _default_cache(),
        kafka_port=_port(env, "KIM_KAFKA_PORT", 19092),
        kafka_controller_port=_port(env, "KIM_KAFKA_CONTROLLER_PORT", 19093),
        postgres_port=_port(env, "KIM_POSTGRES_PORT", 15432),
        external_kafka=_bootstrap(external_kafka) if external_kafka else None,
        external_database_url=_database_url(external_db) if external_db else None,
        topic_prefix=prefix,
        **_kafka_security(env, external_kafka is not None),
        **_kafka_tls_files(env, external_kafka is not None),
        **_kafka_cluster(env, external_kafka is not None),
        metrics_port=_metrics_port(env, METRICS_PROJECTIONS),
        catch_up_at=_count(env, "KIM_CATCH_UP_AT", 100_000),
        actor=_actor(env),
        role_database_urls=_role_database_urls(env, external_db is not None),
        case_manager_figures=_switch(env, CASE_MANAGER_FIGURES),
        secrets_directory=_secrets_dir(env),
        **_http_tls(env),
    )
    return replace(settings, warnings=(*settings.warnings, *_database_warnings(env)))


CASE_MANAGER_FIGURES = "KIM_CASE_MANAGER_FIGURES"
_ON, _OFF = ("on", "true", "yes", "1"), ("off", "false", "no", "0", "")


def _switch(env: dict[str, str], name: str) -> bool:
    """An on/off setting, off when unset."""
    raw = env.get(name, "").strip().lower()
    if raw not in _ON + _OFF:
        raise SetupError(f"{name}={env[name]!r} is not on or off; set it to on, to off, or unset it (off)")
    return raw in _ON


def _secrets_dir(env: dict[str, str]) -> Path | None:
    raw = env.get("KIM_SECRETS_DIR", "")
    if not raw:
        return None
    if not Path(raw).is_absolute():
        raise SetupError(f"KIM_SECRETS_DIR={raw!r} must be an absolute path, like '/var/lib/kim/secrets', or unset")
    return Path(raw)


DATABASE_ROLES = ("worker", "operations", "analyst", "gateway")  # infra/db_roles.py says what each may do


def _role_database_urls(env: dict[str, str], external: bool) -> tuple[tuple[str, str], ...]:
    """KIM_WORKER_DATABASE_URL, …: each component's own login on an external database (local: `kim up` makes them)."""
    given = {
        r: env[f"KIM_{r.upper()}_DATABASE_URL"] for r in DATABASE_ROLES if env.get(f"KIM_{r.upper()}_DATABASE_URL")
    }
    if given and not external:
        raise SetupError(
            f"KIM_{next(iter(given)).upper()}_DATABASE_URL is for an external database (KIM_DATABASE_URL); "
            "the local PostgreSQL gives each role its own login itself — unset it"
        )
    for role, url in given.items():
        if not url.startswith(("postgresql://", "postgres://")):
            raise SetupError(
                f"KIM_{role.upper()}_DATABASE_URL is not a PostgreSQL URL; set it like "
                f"'postgresql://kim_{role}:password@host:5432/dbname' or unset it"
            )
    return tuple((role, _database_tls(url, f"KIM_{role.upper()}_DATABASE_URL").url) for role, url in given.items())


HTTP_PLAINTEXT = "KIM_HTTP_PLAINTEXT"


def _http_tls(env: dict[str, str]) -> dict[str, object]:
    """KIM_TLS_CERT_FILE / KIM_TLS_KEY_FILE (both or neither) and KIM_HTTP_PLAINTEXT for the HTTP servers."""
    cert, key = env.get("KIM_TLS_CERT_FILE") or None, env.get("KIM_TLS_KEY_FILE") or None
    plaintext = _switch(env, HTTP_PLAINTEXT)
    if bool(cert) != bool(key):
        given, missing = ("KIM_TLS_CERT_FILE", "KIM_TLS_KEY_FILE")[:: 1 if cert else -1]
        raise SetupError(f"{given} is set without {missing}; set both (certificate chain and its key) or neither")
    if cert and plaintext:
        raise SetupError(f"KIM_TLS_CERT_FILE is set but {HTTP_PLAINTEXT} is on; unset one of them")
    for name, raw in (("KIM_TLS_CERT_FILE", cert), ("KIM_TLS_KEY_FILE", key)):
        if raw and not Path(raw).is_file():
            raise SetupError(f"{name}={raw!r} is not a readable file; point it at a PEM file or unset it")
    return {
        "tls_cert_file": Path(cert) if cert else None,
        "tls_key_file": Path(key) if key else None,
        "http_plaintext": plaintext,
    }


def _kafka_cluster(env: dict[str, str], external: bool) -> dict[str, int | None]:
    """KIM_KAFKA_BROKERS (the local cluster's size) and KIM_KAFKA_REPLICATION (an existing cluster's factor)."""
    brokers, replication = env.get("KIM_KAFKA_BROKERS", ""), env.get("KIM_KAFKA_REPLICATION", "")
    if brokers and external:
        raise SetupError("KIM_KAFKA_BROKERS is for the local cluster; with KIM_KAFKA_BOOTSTRAP set, unset it")
    if brokers and brokers not in ("1", "3"):
        raise SetupError(f"KIM_KAFKA_BROKERS={brokers!r}: the local cluster runs 1 or 3 nodes; set 1 or 3, or unset it")
    if replication and not external:
        raise SetupError(
            "KIM_KAFKA_REPLICATION is for an existing cluster (KIM_KAFKA_BOOTSTRAP); the local one keeps a copy on "
            "every node (KIM_KAFKA_BROKERS) — unset it"
        )
    if replication and not (replication.isdigit() and 1 <= int(replication) <= 7):
        raise SetupError(f"KIM_KAFKA_REPLICATION={replication!r} is not a replication factor; set 1 to 7, usually 3")
    return {"kafka_brokers": int(brokers or 1), "external_replication": int(replication) if replication else None}


KAFKA_SECURITY = ("sasl_ssl", "ssl", "sasl_scram", "plaintext")  # sasl_scram: SASL/SCRAM without TLS
_KAFKA_TLS_FILES = ("KIM_KAFKA_CA_FILE", "KIM_KAFKA_CERT_FILE", "KIM_KAFKA_KEY_FILE")


def _kafka_security(env: dict[str, str], external: bool) -> dict[str, object]:
    """KIM_KAFKA_SECURITY / _USERNAME / _PASSWORD: how platform clients reach an external cluster (sasl_ssl unless
    the operator chose otherwise, and then with a warning)."""
    security = env.get("KIM_KAFKA_SECURITY") or "sasl_ssl"
    username, password = env.get("KIM_KAFKA_USERNAME") or None, env.get("KIM_KAFKA_PASSWORD") or None
    if security not in KAFKA_SECURITY:
        raise SetupError(
            f"KIM_KAFKA_SECURITY={security!r} is not one of {', '.join(KAFKA_SECURITY)}; set one or unset it (sasl_ssl)"
        )
    if not external:
        if username or password:
            raise SetupError(
                "KIM_KAFKA_USERNAME and KIM_KAFKA_PASSWORD are for an external cluster (KIM_KAFKA_BOOTSTRAP); "
                "the local broker has its own platform user — unset them"
            )
        if security not in ("sasl_ssl", "sasl_scram"):
            raise SetupError(
                f"KIM_KAFKA_SECURITY={security} is not for the local broker, which always logs clients in: set "
                "sasl_ssl (the default) or, without TLS, sasl_scram"
            )
        return {"kafka_security": security, "warnings": _unencrypted(security)}
    if security.startswith("sasl") and not (username and password):
        raise SetupError(
            f"KIM_KAFKA_SECURITY={security} needs KIM_KAFKA_USERNAME and KIM_KAFKA_PASSWORD (the platform principal "
            "of the cluster); set both, or KIM_KAFKA_SECURITY=ssl for a cluster that authenticates by certificate"
        )
    if not security.startswith("sasl") and (username or password):
        raise SetupError(
            f"KIM_KAFKA_USERNAME/KIM_KAFKA_PASSWORD are set but KIM_KAFKA_SECURITY is {security}; "
            "set KIM_KAFKA_SECURITY=sasl_ssl or unset them"
        )
    return {
        "kafka_security": security,
        "kafka_username": username,
        "kafka_password": password,
        "warnings": _unencrypted(security),
    }


def _unencrypted(security: str) -> tuple[str, ...]:
    if security not in ("plaintext", "sasl_scram"):
        return ()
    return (
        f"KIM_KAFKA_SECURITY={security}: events and logins travel to Kafka unencrypted; use sasl_ssl (TLS) "
        "anywhere but a closed test network",
    )


def _kafka_tls_files(env: dict[str, str], external: bool) -> dict[str, Path | None]:
    """KIM_KAFKA_CA_FILE / _CERT_FILE / _KEY_FILE: files of an external TLS cluster, each checked to exist."""
    given = {name: env[name] for name in _KAFKA_TLS_FILES if env.get(name)}
    if given and not external:
        raise SetupError(
            f"{next(iter(given))} is for an external cluster (KIM_KAFKA_BOOTSTRAP); the local broker uses the "
            "installation's own CA — unset it"
        )
    security = env.get("KIM_KAFKA_SECURITY") or "sasl_ssl"
    if given and security not in ("sasl_ssl", "ssl"):
        raise SetupError(f"{next(iter(given))} is set but KIM_KAFKA_SECURITY is {security}; set it to sasl_ssl or ssl")
    if "KIM_KAFKA_KEY_FILE" in given and "KIM_KAFKA_CERT_FILE" not in given:
        raise SetupError("KIM_KAFKA_KEY_FILE is set without KIM_KAFKA_CERT_FILE; set the client certificate too")
    for name, raw in given.items():
        if not Path(raw).is_file():
            raise SetupError(f"{name}={raw!r} is not a readable file; point it at a PEM file or unset it")
    files = {name: Path(raw) for name, raw in given.items()}
    return {
        "kafka_ca_file": files.get("KIM_KAFKA_CA_FILE"),
        "kafka_cert_file": files.get("KIM_KAFKA_CERT_FILE"),
        "kafka_key_file": files.get("KIM_KAFKA_KEY_FILE"),
    }
