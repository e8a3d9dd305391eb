"""Agency principals on the broker: a SCRAM-SHA-512 login and the ACLs to publish, nothing more.

An agency may WRITE (and DESCRIBE) the event topics and use the idempotent producer; it may not
READ any topic, write the dead-letter topic or create topics. Through the Java admin tools
(ConfigCommand, AclCommand — aiokafka has no API for SCRAM users or ACLs), logged in as the platform.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from infra.errors import SetupError
from infra.kafka_broker import run_admin_tool
from infra.platform_identity import kafka_connection
from infra.settings import Settings
from schemas.topics import EVENT_TOPICS
from streams.kafka.connection import MECHANISM

CONFIG = "org.apache.kafka.tools.ConfigCommand"
ACL = "org.apache.kafka.tools.AclCommand"


def _require_auth(settings: Settings) -> None:
    if not settings.local_kafka and not settings.kafka_security.startswith("sasl"):
        raise SetupError(
            "agency principals need a cluster with SCRAM logins; set KIM_KAFKA_SECURITY=sasl_ssl with the "
            "platform's KIM_KAFKA_USERNAME/KIM_KAFKA_PASSWORD"
        )


def _topic_args(settings: Settings) -> list[str]:
    return [arg for topic in EVENT_TOPICS for arg in ("--topic", settings.topic(topic))]


def _grants(settings: Settings, principal: str, action: str) -> None:
    base = [action, "--force"] if action == "--remove" else [action]
    who = ["--allow-principal", f"User:{principal}"]
    run_admin_tool(
        settings,
        kafka_connection(settings),
        ACL,
        *base,
        *who,
        "--operation",
        "Write",
        "--operation",
        "Describe",
        *_topic_args(settings),
    )
    run_admin_tool(
        settings, kafka_connection(settings), ACL, *base, *who, "--operation", "IdempotentWrite", "--cluster"
    )


def add_principal(settings: Settings, user: str, password: str) -> None:
    """Create (or reset) the SCRAM login and grant publishing to the event topics."""
    _require_auth(settings)
    with tempfile.TemporaryDirectory(prefix="kim-scram-") as tmp:
        # The password goes in a 0600 file, never on the Java tool's command line (visible to `ps`).
        config = Path(tmp) / "scram.properties"
        fd = os.open(config, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(f"{MECHANISM}=password={password}\n")  # no brackets: those belong to --add-config
        _alter_user(settings, user, "--add-config-file", str(config))
    _grants(settings, user, "--add")


def remove_principal(settings: Settings, user: str) -> None:
    """Take the ACLs away and delete the login; a connected producer of it is refused from then on."""
    _require_auth(settings)
    _grants(settings, user, "--remove")
    try:
        _alter_user(settings, user, "--delete-config", MECHANISM)
    except SetupError as why:
        if "not found" not in str(why).lower() and "resourcenotfound" not in str(why).lower():
            raise


def _alter_user(settings: Settings, user: str, *change: str) -> None:
    """One ConfigCommand change to a SCRAM user, run as the platform."""
    run_admin_tool(
        settings,
        kafka_connection(settings),
        CONFIG,
        "--alter",
        "--entity-type",
        "users",
        "--entity-name",
        user,
        *change,
    )


def list_principals(settings: Settings) -> list[str]:
    """The SCRAM users the cluster knows (the platform's among them)."""
    _require_auth(settings)
    out = run_admin_tool(settings, kafka_connection(settings), CONFIG, "--describe", "--entity-type", "users")
    users = []
    for line in out.splitlines():
        if "user-principal '" in line:
            users.append(line.split("user-principal '", 1)[1].split("'", 1)[0])
    return users
