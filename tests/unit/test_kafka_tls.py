"""TLS of Kafka connections: the settings an operator gives, the options every client gets, the Java tools' file."""

from __future__ import annotations

import ssl
from pathlib import Path

import pytest

from infra.errors import SetupError
from infra.platform_identity import child_env, kafka_connection
from infra.settings import load_settings
from infra.tls import ensure_tls

EXTERNAL = {
    "KIM_KAFKA_BOOTSTRAP": "kafka.example:9093",
    "KIM_KAFKA_USERNAME": "kim-platform",
    "KIM_KAFKA_PASSWORD": "pw",
}


@pytest.fixture(scope="module")
def tls_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return ensure_tls(tmp_path_factory.mktemp("tls")).directory


def test_an_external_cluster_is_reached_over_tls_unless_the_operator_says_otherwise(tls_dir: Path) -> None:
    settings = load_settings({**EXTERNAL, "KIM_KAFKA_CA_FILE": str(tls_dir / "ca.pem")})
    assert settings.kafka_security == "sasl_ssl" and settings.warnings == ()
    kafka = kafka_connection(settings)
    options = kafka.options()
    assert options["security_protocol"] == "SASL_SSL"
    context = options["ssl_context"]
    assert isinstance(context, ssl.SSLContext)
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
    assert child_env(kafka) == {
        "KIM_KAFKA_SECURITY": "sasl_ssl",
        "KIM_KAFKA_USERNAME": "kim-platform",
        "KIM_KAFKA_PASSWORD": "pw",
        "KIM_KAFKA_CA_FILE": str(tls_dir / "ca.pem"),
    }
    # a child process told these variables gets the same connection
    assert kafka_connection(load_settings({"KIM_KAFKA_BOOTSTRAP": "kafka.example:9093", **child_env(kafka)})) == kafka


def test_without_a_ca_file_the_system_trust_store_verifies() -> None:
    kafka = kafka_connection(load_settings(EXTERNAL))
    assert kafka.tls and kafka.ca_file is None
    assert kafka.ssl_context().verify_mode == ssl.CERT_REQUIRED


@pytest.mark.parametrize("security", ["plaintext", "sasl_scram"])
def test_unencrypted_kafka_is_allowed_only_with_a_warning(security: str) -> None:
    env = {**EXTERNAL, "KIM_KAFKA_SECURITY": security}
    if security == "plaintext":
        env = {"KIM_KAFKA_BOOTSTRAP": "b:9092", "KIM_KAFKA_SECURITY": security}
    settings = load_settings(env)
    assert len(settings.warnings) == 1 and f"KIM_KAFKA_SECURITY={security}" in settings.warnings[0]
    assert not kafka_connection(settings).tls


@pytest.mark.parametrize(
    ("env", "message"),
    [
        (
            {"KIM_KAFKA_CA_FILE": "/nonexistent/ca.pem"},
            "KIM_KAFKA_CA_FILE='/nonexistent/ca.pem' is not a readable file",
        ),
        ({"KIM_KAFKA_KEY_FILE": "/etc/hostname"}, "KIM_KAFKA_KEY_FILE is set without KIM_KAFKA_CERT_FILE"),
        ({"KIM_KAFKA_SECURITY": "sasl_scram", "KIM_KAFKA_CA_FILE": "/etc/hostname"}, "is set but KIM_KAFKA_SECURITY"),
        ({"KIM_KAFKA_SECURITY": "ssl"}, "are set but KIM_KAFKA_SECURITY is ssl"),
    ],
)
def test_tls_settings_that_cannot_work_are_named(env: dict[str, str], message: str) -> None:
    with pytest.raises(SetupError, match=message):
        load_settings({**EXTERNAL, **env})


def test_the_local_broker_takes_no_external_tls_files() -> None:
    with pytest.raises(SetupError, match="KIM_KAFKA_CA_FILE is for an external cluster"):
        load_settings({"KIM_KAFKA_CA_FILE": "/etc/hostname"})


def test_java_tools_get_pem_stores_and_the_login(tls_dir: Path) -> None:
    kafka = kafka_connection(
        load_settings(
            {
                **EXTERNAL,
                "KIM_KAFKA_CA_FILE": str(tls_dir / "ca.pem"),
                "KIM_KAFKA_CERT_FILE": str(tls_dir / "server.pem"),
                "KIM_KAFKA_KEY_FILE": str(tls_dir / "server-key.pem"),
            }
        )
    )
    properties = dict(line.split("=", 1) for line in kafka.java_properties().splitlines())
    assert properties["security.protocol"] == "SASL_SSL"
    assert properties["ssl.truststore.type"] == "PEM"
    assert properties["ssl.truststore.location"] == str(tls_dir / "ca.pem")
    # inline PEM values: one line each, newlines escaped as Java properties read them
    assert properties["ssl.keystore.key"].startswith("-----BEGIN PRIVATE KEY-----\\n")
    assert properties["ssl.keystore.certificate.chain"].count("-----BEGIN CERTIFICATE-----") == 2
    assert 'username="kim-platform"' in properties["sasl.jaas.config"]


def test_the_server_certificate_names_loopback_and_is_renewed_when_a_name_is_missing(tmp_path: Path) -> None:
    files = ensure_tls(tmp_path, ["127.0.0.1", "localhost"])
    first = files.cert.read_bytes()
    assert ensure_tls(tmp_path, ["127.0.0.1"]).cert.read_bytes() == first  # already covered: kept
    ensure_tls(tmp_path, ["127.0.0.1", "kafka-2.example"])
    assert files.cert.read_bytes() != first
    context = ssl.create_default_context(cafile=str(files.ca))  # the renewed leaf still chains to the same CA
    context.load_verify_locations(cafile=str(files.ca))
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(files.cert, files.key)
    assert oct(files.key.stat().st_mode & 0o777) == "0o600" and oct(tmp_path.stat().st_mode & 0o777) == "0o700"


def test_the_local_broker_runs_without_tls_only_when_told_and_then_warns() -> None:
    settings = load_settings({"KIM_KAFKA_SECURITY": "sasl_scram"})
    assert settings.local_kafka and settings.kafka_security == "sasl_scram"
    assert "unencrypted" in settings.warnings[0]
    assert load_settings({}).kafka_security == "sasl_ssl" and load_settings({}).warnings == ()
    with pytest.raises(SetupError, match="KIM_KAFKA_SECURITY=plaintext is not for the local broker"):
        load_settings({"KIM_KAFKA_SECURITY": "plaintext"})


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"KIM_KAFKA_BROKERS": "2"}, "KIM_KAFKA_BROKERS='2': the local cluster runs 1 or 3 nodes"),
        ({**EXTERNAL, "KIM_KAFKA_BROKERS": "3"}, "KIM_KAFKA_BROKERS is for the local cluster"),
        ({"KIM_KAFKA_REPLICATION": "3"}, "KIM_KAFKA_REPLICATION is for an existing cluster"),
        ({**EXTERNAL, "KIM_KAFKA_REPLICATION": "three"}, "is not a replication factor"),
    ],
)
def test_cluster_settings_that_cannot_work_are_named(env: dict[str, str], message: str) -> None:
    with pytest.raises(SetupError, match=message):
        load_settings(env)


def test_a_local_cluster_of_three_has_its_nodes_ten_ports_apart_and_three_copies() -> None:
    settings = load_settings(
        {"KIM_KAFKA_BROKERS": "3", "KIM_KAFKA_PORT": "30000", "KIM_KAFKA_CONTROLLER_PORT": "30001"}
    )
    assert settings.kafka_bootstrap == "127.0.0.1:30000,127.0.0.1:30010,127.0.0.1:30020"
    assert [settings.kafka_controller_node_port(n) for n in settings.kafka_nodes] == [30001, 30011, 30021]
    assert settings.kafka_replication == 3
    assert load_settings({}).kafka_replication == 1
    assert load_settings({**EXTERNAL, "KIM_KAFKA_REPLICATION": "3"}).kafka_replication == 3
