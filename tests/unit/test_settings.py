import pytest

from infra.errors import SetupError
from infra.settings import load_settings


def test_defaults_run_local_services() -> None:
    settings = load_settings({"KIM_HOME": "/tmp/kim-x"})
    assert settings.local_kafka and settings.local_postgres
    assert settings.kafka_bootstrap == "127.0.0.1:19092"
    assert settings.database_url.startswith("postgresql://kim@127.0.0.1:15432/kim")


def test_existing_services_are_used_when_configured() -> None:
    settings = load_settings(
        {
            "KIM_KAFKA_BOOTSTRAP": "b1:9092,b2:9092",
            "KIM_KAFKA_SECURITY": "ssl",
            "KIM_DATABASE_URL": "postgresql://u:p@db/kim",
        }
    )
    assert not settings.local_kafka and not settings.local_postgres
    assert settings.kafka_bootstrap == "b1:9092,b2:9092"
    assert settings.database_url == "postgresql://u:p@db/kim?sslmode=verify-full"  # TLS verified unless told otherwise


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"KIM_KAFKA_PORT": "kafka"}, "KIM_KAFKA_PORT='kafka' is not a TCP port"),
        ({"KIM_POSTGRES_PORT": "70000"}, "KIM_POSTGRES_PORT='70000' is not a TCP port"),
        ({"KIM_KAFKA_BOOTSTRAP": "localhost"}, "KIM_KAFKA_BOOTSTRAP='localhost' is not a list of host:port"),
        ({"KIM_DATABASE_URL": "mysql://x"}, "KIM_DATABASE_URL='mysql://x' is not a PostgreSQL URL"),
        ({"KIM_TOPIC_PREFIX": "a b"}, "KIM_TOPIC_PREFIX='a b' may hold only"),
        ({"KIM_CASE_MANAGER_FIGURES": "maybe"}, "KIM_CASE_MANAGER_FIGURES='maybe' is not on or off"),
    ],
)
def test_a_broken_setting_names_itself_and_the_fix(env: dict[str, str], message: str) -> None:
    with pytest.raises(SetupError, match=message):
        load_settings(env)


def test_per_case_manager_figures_are_off_unless_turned_on() -> None:
    """KIM_CASE_MANAGER_FIGURES (staff data: only with the staff council's agreement) defaults to off."""
    assert load_settings({}).case_manager_figures is False
    for off in ("", "off", "OFF", "false", "0", "no"):
        assert load_settings({"KIM_CASE_MANAGER_FIGURES": off}).case_manager_figures is False, off
    for on in ("on", "On", "true", "1", "yes"):
        assert load_settings({"KIM_CASE_MANAGER_FIGURES": on}).case_manager_figures is True, on
