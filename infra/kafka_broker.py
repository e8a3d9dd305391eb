"""The local Kafka cluster (KRaft) that `kim up` runs when KIM_KAFKA_BOOTSTRAP is unset: one node, or three.

Every node is broker and controller at once (``process.roles=broker,controller``). Node 1 keeps the paths of the
single-node broker (``$KIM_HOME/kafka``, ``run/kafka.pid``, ``run/kafka.log``); nodes 2 and 3 have their own
(``kafka-2``, ``run/kafka-2.pid`` …), ports 10 apart (``Settings.kafka_node_port``). With three nodes the topics
keep three copies, a write needs two in sync (``min.insync.replicas=2``) and no out-of-sync replica is ever
elected leader, so losing any one node loses nothing acknowledged.

Both listeners speak TLS (SASL_SSL) with the installation's own certificate (``infra/tls.py``, PEM key and trust
stores, which Kafka reads natively), so the tested path is the production path.

The broker jars come from Maven Central via `mvn` (checksums enforced) into the user's cache, once.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import os
import re
import secrets
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from infra.errors import SetupError
from infra.platform_identity import PLATFORM_USER, kafka_connection
from infra.processes import (
    file_lock,
    find_pids,
    log_tail,
    meaningful_tail,
    pid_alive,
    port_in_use,
    port_open,
    read_pid,
    remove_pid,
    rotate_log,
    run_sync,
    spawn_detached,
    terminate,
    wait_gone,
    write_pid,
)
from infra.settings import KAFKA_VERSION, Settings
from infra.tls import TlsFiles, ensure_tls
from streams.kafka.connection import MECHANISM, KafkaConnection, KafkaLoginError

Log = Callable[[str], None]

POM = Path(__file__).parent / "kafka" / "pom.xml"
MAIN_CLASS = "kafka.Kafka"
HOST = "127.0.0.1"
HEAP = "-Xmx512m"
TOOL_HEAP = "-Xmx256m"
_COPY_GOAL = "org.apache.maven.plugins:maven-dependency-plugin:3.8.1:copy-dependencies"
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


# --- jars ---


def _marker(settings: Settings) -> Path:
    return settings.jars_dir.parent / ".complete"


def _pom_digest() -> str:
    return hashlib.sha256(POM.read_bytes()).hexdigest()


def jars_ready(settings: Settings) -> bool:
    """True when a complete copy of the jars for the current pom is in the cache."""
    marker = _marker(settings)
    try:
        return marker.read_text().split()[0] == _pom_digest() and settings.jars_dir.is_dir()
    except (FileNotFoundError, IndexError):
        return False


def require_tool(name: str) -> str:
    """Path of `java`/`mvn` on PATH, or a SetupError saying how to install it."""
    path = shutil.which(name)
    if path:
        return path
    hints = {
        "java": "install a Java 17+ runtime (Debian: apt-get install openjdk-17-jre-headless)",
        "mvn": "install Apache Maven (Debian: apt-get install maven)",
    }
    raise SetupError(f"{name} was not found on PATH; {hints.get(name, 'install it')}")


def _maven_error(output: str) -> str:
    """The line of maven's output that says what went wrong, without its boilerplate."""
    boiler = ("To see the full stack trace", "Re-run Maven", "For more information", "[Help 1]", "Help 1")
    lines = []
    for raw in _ANSI.sub("", output).splitlines():
        line = raw.strip()
        if line.startswith("[ERROR]"):
            line = line[len("[ERROR]") :].strip()
        if not line or line.startswith(boiler) or line.startswith("[WARNING]"):
            continue
        lines.append(line.replace(" -> [Help 1]", ""))
    return lines[-1] if lines else "maven failed without a message"


def _run_maven(mvn: str, out_dir: Path, log: Log) -> None:
    cmd = [mvn, "-B", "-q", "-C", "-Dstyle.color=never", "-f", str(POM), _COPY_GOAL, f"-DoutputDirectory={out_dir}"]
    done = threading.Event()
    started = time.monotonic()

    def ticker() -> None:
        while not done.wait(10.0):
            log(f"  … still downloading ({time.monotonic() - started:.0f} s)")

    thread = threading.Thread(target=ticker, daemon=True)
    thread.start()
    try:
        proc = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=1800)
    except subprocess.TimeoutExpired as exc:
        raise SetupError(
            "downloading the Kafka jars took over 30 minutes; check the network connection to Maven Central"
        ) from exc
    finally:
        done.set()
        thread.join()
    if proc.returncode != 0:
        reason = _maven_error(proc.stdout + "\n" + proc.stderr)
        raise SetupError(f"downloading the Kafka jars with maven failed: {reason} — {_maven_hint(reason)}")


def _maven_hint(reason: str) -> str:
    if "local repository" in reason:
        return (
            "maven keeps downloads in ~/.m2 of your user; make that writable (or set MAVEN_OPTS=-Dmaven.repo.local=DIR)"
        )
    network = ("transfer", "resolve", "connect", "host", "timed out", "Network", "proxy", "certificate", "PKIX")
    if any(word in reason for word in network):
        return (
            "check the network connection to Maven Central (https://repo.maven.apache.org) "
            "or the mirror/proxy in ~/.m2/settings.xml, then retry"
        )
    return "fix what maven reports, then retry"


def ensure_jars(settings: Settings, log: Log = print) -> None:
    """Fetch the Kafka broker jars into `settings.jars_dir` unless a complete copy is already there."""
    if jars_ready(settings):
        return
    with file_lock(settings.jars_dir.parent / ".lock"):
        if jars_ready(settings):  # another process finished it while we waited
            return
        require_tool("java")
        mvn = require_tool("mvn")
        log(f"downloading Kafka {KAFKA_VERSION} jars from Maven Central…")
        started = time.monotonic()
        tmp = settings.jars_dir.parent / f".libs.tmp-{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        try:
            _run_maven(mvn, tmp, log)
            jars = sorted(tmp.glob("*.jar"))
            if not any(j.name.startswith("kafka_2.13-") for j in jars):
                raise SetupError(f"maven finished but put no Kafka jar into {tmp}; delete {settings.cache} and retry")
            _marker(settings).unlink(missing_ok=True)
            shutil.rmtree(settings.jars_dir, ignore_errors=True)
            os.replace(tmp, settings.jars_dir)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        _marker(settings).write_text(f"{_pom_digest()} {len(jars)} jars\n")
        size = sum(j.stat().st_size for j in settings.jars_dir.glob("*.jar")) / 1e6
        log(f"  {len(jars)} jars, {size:.0f} MB in {time.monotonic() - started:.1f} s → {settings.jars_dir}")


# --- configuration ---


def _suffix(node: int) -> str:
    return "" if node == 1 else f"-{node}"


def _node_dir(settings: Settings, node: int = 1) -> Path:
    return settings.kafka_dir if node == 1 else settings.home / f"kafka{_suffix(node)}"


def _config_path(settings: Settings, node: int = 1) -> Path:
    return _node_dir(settings, node) / "server.properties"


def _log4j_path(settings: Settings) -> Path:
    return settings.kafka_dir / "log4j2.properties"


def _data_dir(settings: Settings, node: int = 1) -> Path:
    return _node_dir(settings, node) / "data"


def _pid_path(settings: Settings, node: int = 1) -> Path:
    return settings.run_dir / f"kafka{_suffix(node)}.pid"


def log_path(settings: Settings, node: int = 1) -> Path:
    return settings.run_dir / f"kafka{_suffix(node)}.log"


CONTROLLER_USER = "kim-controller"
_SCRAM_MARK = "scram-sha-512 v1"


def _listeners(settings: Settings, node: int = 1) -> str:
    client, controller = settings.kafka_node_port(node), settings.kafka_controller_node_port(node)
    return f"listeners=CLIENT://{HOST}:{client},CONTROLLER://{HOST}:{controller}"


def _controllers(settings: Settings) -> str:
    return ",".join(f"{HOST}:{settings.kafka_controller_node_port(n)}" for n in settings.kafka_nodes)


def _durability(settings: Settings) -> str:
    """How many copies internal topics keep and how many must be in sync: all nodes, a majority."""
    copies = settings.kafka_brokers
    in_sync = 2 if copies >= 3 else 1
    return f"""\
offsets.topic.replication.factor={copies}
transaction.state.log.replication.factor={copies}
transaction.state.log.min.isr={in_sync}
share.coordinator.state.topic.replication.factor={copies}
share.coordinator.state.topic.min.isr={in_sync}
default.replication.factor={copies}
min.insync.replicas={in_sync}
unclean.leader.election.enable=false
"""


def _controller_password_file(settings: Settings) -> Path:
    return settings.kafka_dir / "controller-password"


def _auth_marker(settings: Settings) -> Path:
    """Written once the platform's SCRAM user exists in this broker's metadata (at format, or by the upgrade)."""
    return settings.kafka_dir / "auth"


def _secret(path: Path) -> str:
    """A password generated once and kept in `path` (mode 0600), like the PostgreSQL one."""
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    password = secrets.token_urlsafe(24)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(password + "\n")
    return password


def _protocol_map(settings: Settings) -> str:
    """Both listeners SASL over TLS — or, only where the operator set KIM_KAFKA_SECURITY=sasl_scram, without."""
    protocol = "SASL_SSL" if settings.kafka_security == "sasl_ssl" else "SASL_PLAINTEXT"
    return f"listener.security.protocol.map=CLIENT:{protocol},CONTROLLER:{protocol}"


def _auth_properties(settings: Settings, upgrade: bool = False) -> str:
    """TLS and SASL on both listeners and the ACL authorizer; nothing is allowed without an ACL.

    Clients log in with SCRAM-SHA-512 (users live in the cluster metadata, so agencies can be added
    live). The controller listener uses PLAIN with one static user the broker itself logs in as —
    not ANONYMOUS, so no unauthenticated connection is a super user. During the one-off upgrade of a
    broker formatted before authentication existed, the platform also may log in with PLAIN
    (static) to create its own SCRAM user.
    """
    platform = _secret(settings.kafka_password_file)
    controller = _secret(_controller_password_file(settings))
    plain = "org.apache.kafka.common.security.plain.PlainLoginModule required"
    scram = "org.apache.kafka.common.security.scram.ScramLoginModule required"
    tls = TlsFiles(settings.tls_dir)
    lines = [
        _protocol_map(settings),
        "ssl.keystore.type=PEM",
        f"ssl.keystore.location={tls.keystore}",
        "ssl.truststore.type=PEM",
        f"ssl.truststore.location={tls.ca}",
        "sasl.mechanism.controller.protocol=PLAIN",
        "listener.name.controller.sasl.enabled.mechanisms=PLAIN",
        f'listener.name.controller.plain.sasl.jaas.config={plain} username="{CONTROLLER_USER}" '
        f'password="{controller}" user_{CONTROLLER_USER}="{controller}";',
        f'listener.name.client.scram-sha-512.sasl.jaas.config={scram} username="{PLATFORM_USER}" '
        f'password="{platform}";',
        "authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer",
        f"super.users=User:{PLATFORM_USER};User:{CONTROLLER_USER}",
        "allow.everyone.if.no.acl.found=false",
    ]
    if upgrade:
        lines += [
            f"listener.name.client.sasl.enabled.mechanisms={MECHANISM},PLAIN",
            "sasl.mechanism.inter.broker.protocol=PLAIN",
            f'listener.name.client.plain.sasl.jaas.config={plain} username="{PLATFORM_USER}" '
            f'password="{platform}" user_{PLATFORM_USER}="{platform}";',
        ]
    else:
        lines += [
            f"listener.name.client.sasl.enabled.mechanisms={MECHANISM}",
            f"sasl.mechanism.inter.broker.protocol={MECHANISM}",
        ]
    return "\n".join(lines) + "\n"


def server_properties(settings: Settings, upgrade: bool = False, node: int = 1) -> str:
    return f"""\
# Written by kim (infra/kafka_broker.py) on every start; edits are lost. Holds passwords: mode 0600.
process.roles=broker,controller
node.id={node}
{_listeners(settings, node)}
advertised.listeners=CLIENT://{HOST}:{settings.kafka_node_port(node)}
inter.broker.listener.name=CLIENT
controller.listener.names=CONTROLLER
controller.quorum.bootstrap.servers={_controllers(settings)}
{_auth_properties(settings, upgrade)}log.dirs={_data_dir(settings, node)}
num.partitions=6
auto.create.topics.enable=false
{_durability(settings)}group.initial.rebalance.delay.ms=0
log.retention.hours=-1
"""


def log4j_properties() -> str:
    # The console appender writes to the broker's stdout, which spawn_detached sends to run/kafka.log:
    # one writer for log lines and JVM errors alike.
    return """\
# Written by kim (infra/kafka_broker.py) on every start; edits are lost.
status = warn
appender.console.type = Console
appender.console.name = STDOUT
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.stdout.ref = STDOUT
logger.kafka.name = kafka
logger.kafka.level = INFO
logger.clients.name = org.apache.kafka
logger.clients.level = WARN
logger.raft.name = org.apache.kafka.raft
logger.raft.level = WARN
logger.request.name = kafka.request.logger
logger.request.level = WARN
logger.authorizer.name = kafka.authorizer.logger
logger.authorizer.level = WARN
logger.cleaner.name = kafka.log.LogCleaner
logger.cleaner.level = WARN
logger.logs.name = org.apache.kafka.storage
logger.logs.level = WARN
logger.coordinator.name = org.apache.kafka.coordinator
logger.coordinator.level = WARN
logger.metadata.name = org.apache.kafka.image
logger.metadata.level = WARN
logger.controller.name = org.apache.kafka.controller
logger.controller.level = WARN
"""


def _java_argv(settings: Settings, main_class: str, *args: str, heap: str = TOOL_HEAP) -> list[str]:
    return [
        require_tool("java"),
        heap,
        "-XX:+UseG1GC",
        "-XX:+ExitOnOutOfMemoryError",
        "-Djava.awt.headless=true",
        f"-Dlog4j2.configurationFile={_log4j_path(settings)}",
        "-Dlog4j2.shutdownHookEnabled=false",  # else log4j stops before Kafka has logged its shutdown
        "-cp",
        f"{settings.jars_dir}/*",
        main_class,
        *args,
    ]


def _write_config(settings: Settings, upgrade: bool = False) -> None:
    for node in settings.kafka_nodes:
        _node_dir(settings, node).mkdir(parents=True, exist_ok=True)
        _write_private(_config_path(settings, node), server_properties(settings, upgrade, node))
    _write_private(_log4j_path(settings), log4j_properties())


def _write_private(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def _formatted(settings: Settings, node: int) -> bool:
    return (_data_dir(settings, node) / "meta.properties").exists()


def _kafka_uuid() -> str:
    """A random id as Kafka writes them (16 bytes, base64url without padding, never starting with '-')."""
    while True:
        text = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not text.startswith("-"):
            return text


def _format_storage(settings: Settings, log: Log) -> None:
    """Give every node's empty log directory the cluster id, once (KRaft needs it before the first start)."""
    nodes = list(settings.kafka_nodes)
    done = [n for n in nodes if _formatted(settings, n)]
    if len(settings.kafka_nodes) == 1 and _formatted(settings, 2):
        raise SetupError(
            f"{settings.home} holds a three-node Kafka cluster; set KIM_KAFKA_BROKERS=3 (or use another KIM_HOME)"
        )
    if done == nodes:
        return
    if done:
        raise SetupError(
            f"{settings.home} holds a single-node Kafka broker, which cannot grow into a three-node cluster in place; "
            "use a new KIM_HOME for the cluster (or unset KIM_KAFKA_BROKERS)"
        )
    log(f"  formatting Kafka storage of {len(nodes)} node{'s' if len(nodes) > 1 else ''} (first start)")
    cluster = _kafka_uuid()
    password = _secret(settings.kafka_password_file)
    if len(nodes) == 1:
        quorum = ["--standalone"]
    else:
        voters = ",".join(f"{n}@{HOST}:{settings.kafka_controller_node_port(n)}:{_kafka_uuid()}" for n in nodes)
        quorum = ["--initial-controllers", voters]
    for node in nodes:
        # Without meta.properties no broker ever ran here: whatever is left is from an interrupted format.
        shutil.rmtree(_data_dir(settings, node), ignore_errors=True)
        _run_java_tool(
            settings,
            "kafka.tools.StorageTool",
            "format",
            "-t",
            cluster,
            "-c",
            str(_config_path(settings, node)),
            *quorum,
            "--add-scram",
            f"{MECHANISM}=[name={PLATFORM_USER},password={password}]",
        )
    _auth_marker(settings).write_text(_SCRAM_MARK + "\n")


def _run_java_tool(settings: Settings, main_class: str, *args: str) -> str:
    argv = _java_argv(settings, main_class, *args)
    proc = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=120)
    if proc.returncode != 0:
        tail = meaningful_tail(proc.stdout + proc.stderr)
        raise SetupError(f"{main_class} {args[0]} failed (exit {proc.returncode}):\n{tail}")
    return proc.stdout


def run_admin_tool(settings: Settings, kafka: KafkaConnection, main_class: str, *args: str) -> str:
    """A Kafka admin tool (ConfigCommand, AclCommand) against the cluster, logged in as `kafka` says.

    The login goes in a temporary 0600 ``--command-config`` file, never on the command line.
    """
    ensure_jars(settings, log=lambda _: None)
    with tempfile.TemporaryDirectory(prefix="kim-admin-") as tmp:
        config = Path(tmp) / "client.properties"
        _write_private(config, kafka.java_properties())
        return _run_java_tool(
            settings, main_class, "--bootstrap-server", kafka.bootstrap, "--command-config", str(config), *args
        )


# --- readiness ---


async def _describe_cluster(kafka: KafkaConnection, timeout: float) -> dict:
    admin = kafka.admin(request_timeout_ms=max(1000, int(timeout * 1000)), client_id="kim-setup")
    try:
        await admin.start()
        return await admin.describe_cluster()
    finally:
        await admin.close()


def _first_server(bootstrap: str) -> tuple[str, int]:
    host, _, port = bootstrap.split(",")[0].strip().rpartition(":")
    return host.strip("[]"), int(port)


def kafka_answers(kafka: KafkaConnection, timeout: float = 2.0, brokers: int = 1) -> str | None:
    """None when a broker of `kafka` answers a metadata request listing at least ``brokers`` brokers and a
    controller, else the reason it does not."""
    servers = [_first_server(s) for s in kafka.bootstrap.split(",")]
    if not any(port_open(host, port, timeout=min(timeout, 1.0)) for host, port in servers):
        return "connection refused"
    try:
        with kafka.explained(quiet=True):
            info = run_sync(_describe_cluster(kafka, timeout))
    except (SetupError, KafkaLoginError) as why:
        return str(why)
    except Exception as exc:  # any failure means "not ready yet"; the caller reports the reason
        return f"{type(exc).__name__}: {exc}".rstrip(": ")
    registered = len(info.get("brokers") or [])
    if not registered:
        return "no broker registered yet"
    if registered < brokers:
        return f"only {registered} of {brokers} brokers registered yet"
    if info.get("controller_id", -1) < 0:
        return "no active controller yet"
    return None


def wait_for_kafka(
    kafka: KafkaConnection, timeout: float, alive: Callable[[], bool] | None = None, brokers: int = 1
) -> None:
    """Poll until Kafka answers metadata requests, or raise SetupError after `timeout` seconds.

    `alive` (optional) is checked between polls so a dead local broker fails fast instead of at the timeout.
    """
    bootstrap = kafka.bootstrap
    deadline = time.monotonic() + timeout
    while True:
        reason = kafka_answers(kafka, min(5.0, max(1.0, deadline - time.monotonic())), brokers) or ""
        if not reason:
            return
        if "refused the login" in reason:  # waiting does not fix a password
            raise SetupError(f"{reason} at {bootstrap}; fix KIM_KAFKA_USERNAME/KIM_KAFKA_PASSWORD (or kim up)")
        if alive is not None and not alive():
            raise SetupError(f"the Kafka process exited before answering at {bootstrap}")
        if time.monotonic() >= deadline:
            raise SetupError(
                f"cannot reach Kafka at {bootstrap} within {timeout:g} s ({reason}); "
                "start it (kim up) or fix KIM_KAFKA_BOOTSTRAP"
            )
        time.sleep(0.25)


# --- lifecycle ---


def _ours(settings: Settings, node: int = 1) -> tuple[str, str]:
    """What the command line of a node contains: the main class and this KIM_HOME's config file of that node."""
    return (MAIN_CLASS, str(_config_path(settings, node)))


def node_pid(settings: Settings, node: int = 1) -> int | None:
    """Pid of this KIM_HOME's Kafka node when it runs (adopting one whose pid file was lost), else None."""
    pid = read_pid(_pid_path(settings, node))
    if pid_alive(pid, _ours(settings, node)):
        return pid
    found = find_pids(_ours(settings, node))
    if found:
        write_pid(_pid_path(settings, node), found[0])
        return found[0]
    return None


def broker_pid(settings: Settings) -> int | None:
    """Pid of node 1 (the single broker, or the cluster's first node) when it runs."""
    return node_pid(settings, 1)


def running_nodes(settings: Settings) -> dict[int, int]:
    """The local cluster's running nodes and their pids."""
    return {node: pid for node in settings.kafka_nodes if (pid := node_pid(settings, node)) is not None}


def broker_running(settings: Settings) -> bool:
    """True when any node of the local cluster runs."""
    return bool(running_nodes(settings))


def _running_line(settings: Settings, key: str, node: int = 1) -> str | None:
    """The ``key=`` line a running node was started with (from its config file on disk)."""
    try:
        for line in _config_path(settings, node).read_text().splitlines():
            if line.startswith(f"{key}="):
                return line
    except FileNotFoundError:
        return None
    return None


def _check_ports(settings: Settings, nodes: list[int]) -> None:
    if settings.kafka_port == settings.kafka_controller_port:
        raise SetupError(
            "KIM_KAFKA_PORT and KIM_KAFKA_CONTROLLER_PORT are the same port; set them to two different ports"
        )
    for node in nodes:
        for port, var in (
            (settings.kafka_node_port(node), "KIM_KAFKA_PORT"),
            (settings.kafka_controller_node_port(node), "KIM_KAFKA_CONTROLLER_PORT"),
        ):
            if _still_in_use(port):
                where = "" if node == 1 else f" (node {node}: the setting + {10 * (node - 1)})"
                raise SetupError(
                    f"port {port} on {HOST} is already in use by another program; stop it or set {var} to a free "
                    f"port{where}"
                )


def _still_in_use(port: int, grace: float = 10.0) -> bool:
    """``port_in_use``, waiting up to ``grace`` s: a node killed a moment ago leaves connections closing."""
    deadline = time.monotonic() + grace
    while port_in_use(HOST, port):
        if time.monotonic() >= deadline:
            return True
        time.sleep(0.25)
    return False


def start_broker(settings: Settings, timeout: float = 60.0, log: Log = print) -> None:
    """Start this KIM_HOME's Kafka nodes that are not running and wait until the cluster answers with all of
    them; harmless when they all run."""
    with file_lock(settings.run_dir / ".kafka.lock"):
        _start_broker(settings, timeout, log)


def _start_broker(settings: Settings, timeout: float, log: Log) -> None:
    running = running_nodes(settings)
    for node in running:
        listeners = _running_line(settings, "listeners", node)
        if (
            listeners != _listeners(settings, node)
            or _running_line(settings, "listener.security.protocol.map", node) != _protocol_map(settings)
            or not _auth_marker(settings).exists()
        ):
            raise SetupError(
                f"the Kafka broker of {settings.home} already runs with {listeners}, "
                "not the ports, TLS or authentication now configured (a broker started by an older kim runs without "
                "them); stop it first (kim down), then kim up"
            )
    missing = [node for node in settings.kafka_nodes if node not in running]
    if not missing:
        try:
            wait_for_kafka(_login(settings), timeout, alive=lambda: bool(running_nodes(settings)), brokers=len(running))
        except SetupError as exc:
            raise SetupError(
                f"the Kafka broker of {settings.home} (pid {', '.join(map(str, running.values()))}) runs but does not "
                f"answer: {exc}; see {log_path(settings)}, stop it (kim down) and retry"
            ) from None
        return
    _check_ports(settings, missing)
    ensure_jars(settings, log)
    ensure_tls(settings.tls_dir)
    started = time.monotonic()
    what = "broker" if settings.kafka_brokers == 1 else f"node{'s' if len(missing) > 1 else ''} {_listed(missing)}"
    log(f"starting Kafka {KAFKA_VERSION} {what} on {_bootstrap_of(settings, missing)} …")
    if not running:
        _format_or_upgrade(settings, timeout, log)
    _write_config(settings)
    _spawn_and_wait(settings, timeout, _login(settings), missing)
    log(f"  Kafka ready in {time.monotonic() - started:.1f} s (log: {log_path(settings, missing[0])})")


def _listed(nodes: list[int]) -> str:
    return ", ".join(map(str, nodes))


def _bootstrap_of(settings: Settings, nodes: list[int]) -> str:
    return ",".join(f"{HOST}:{settings.kafka_node_port(n)}" for n in nodes)


def _login(settings: Settings, mechanism: str = MECHANISM) -> KafkaConnection:
    """The platform's connection to this cluster (PLAIN only during the upgrade)."""
    return replace(
        kafka_connection(settings), bootstrap=_bootstrap_of(settings, list(settings.kafka_nodes)), mechanism=mechanism
    )


def _format_or_upgrade(settings: Settings, timeout: float, log: Log) -> None:
    """Format new nodes with the platform's SCRAM user; give a broker formatted by an older kim that user, once.

    The upgrade keeps every topic and offset: the broker starts once with a static PLAIN login for the
    platform, which then creates its own SCRAM user (ConfigCommand), and stops again.
    """
    if not _formatted(settings, 1) or settings.kafka_brokers > 1:
        _write_config(settings)
        _format_storage(settings, log)
        return
    if _auth_marker(settings).exists():
        return
    log("  upgrading this broker to authentication (one-off): creating the platform's SCRAM user")
    _write_config(settings, upgrade=True)
    _spawn_and_wait(settings, timeout, _login(settings, "PLAIN"), [1])
    try:
        password = _secret(settings.kafka_password_file)
        properties = _login(settings, "PLAIN").java_properties()
        with tempfile.TemporaryDirectory(prefix="kim-admin-") as tmp:
            config = Path(tmp) / "client.properties"
            _write_private(config, properties)
            _run_java_tool(
                settings,
                "org.apache.kafka.tools.ConfigCommand",
                "--bootstrap-server",
                f"{HOST}:{settings.kafka_port}",
                "--command-config",
                str(config),
                "--alter",
                "--entity-type",
                "users",
                "--entity-name",
                PLATFORM_USER,
                "--add-config",
                f"{MECHANISM}=[password={password}]",
            )
    finally:
        stop_broker(settings)
    _auth_marker(settings).write_text(_SCRAM_MARK + "\n")


def _spawn_and_wait(settings: Settings, timeout: float, kafka: KafkaConnection, nodes: list[int]) -> None:
    """Start ``nodes`` together (a quorum of three needs two before any answers), then wait for the cluster."""
    marks: dict[int, int] = {}
    pids: dict[int, int] = {}
    for node in nodes:
        logfile = log_path(settings, node)
        rotate_log(logfile)
        marks[node] = logfile.stat().st_size if logfile.exists() else 0
        argv = _java_argv(settings, MAIN_CLASS, str(_config_path(settings, node)), heap=HEAP)
        pids[node] = spawn_detached(argv, logfile, cwd=_node_dir(settings, node))
        write_pid(_pid_path(settings, node), pids[node])

    def alive() -> bool:  # the pids are our own children of a moment ago: no command-line check needed
        return all(pid_alive(pid) for pid in pids.values())

    try:
        deadline = time.monotonic() + timeout
        for node in nodes:  # each new node answers itself (a killed one may still look registered for a while)
            own = replace(kafka, bootstrap=_bootstrap_of(settings, [node]))
            left = max(1.0, deadline - time.monotonic())
            wait_for_kafka(own, left, alive=alive, brokers=settings.kafka_brokers)
    except SetupError as exc:
        dead = [node for node, pid in pids.items() if not pid_alive(pid)]
        node = dead[0] if dead else nodes[0]
        for started in nodes:
            stop_node(settings, started)
        reason = "the process exited" if dead else str(exc)
        raise SetupError(
            f"Kafka failed to start on {_bootstrap_of(settings, nodes)}: {reason}; last lines of "
            f"{log_path(settings, node)}:\n"
            + (log_tail(log_path(settings, node), 15, offset=marks[node]) or "(nothing logged)")
        ) from None


def stop_node(settings: Settings, node: int, timeout: float = 30.0, kill: bool = False) -> bool:
    """Stop one node (SIGTERM, or SIGKILL at once with ``kill``); False when it was not running."""
    pid = node_pid(settings, node)
    if pid is None:
        remove_pid(_pid_path(settings, node))
        return False
    if kill:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        wait_gone(pid, 10.0, _ours(settings, node))
        stopped = True
    else:
        stopped = terminate(pid, timeout, _ours(settings, node))
    remove_pid(_pid_path(settings, node))
    return stopped


def stop_broker(settings: Settings, timeout: float = 30.0) -> bool:
    """Stop every node of this KIM_HOME's cluster (all told at once, so none waits for a quorum the others
    already left; SIGKILL only after ``timeout``). False when none was running."""
    running = running_nodes(settings)
    for pid in running.values():
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    for node in running:
        stop_node(settings, node, timeout)
    for node in settings.kafka_nodes:
        remove_pid(_pid_path(settings, node))
    return bool(running)
