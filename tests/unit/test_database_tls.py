"""TLS in database URLs: the local server's, the default for an external one, and which modes warn. Pure."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from hypothesis import given
from hypothesis import strategies as st

from infra import database_tls
from infra.errors import SetupError
from infra.settings import load_settings

REMOTE = "postgresql://u:p@db.example:5432/kim"


def test_the_local_url_verifies_the_server_against_the_installations_ca() -> None:
    url = database_tls.local_url("kim:pw", 15432, "kim", Path("/var/lib/kim home/tls/ca.pem"))
    parts = urlsplit(url)
    assert (parts.hostname, parts.port, parts.path) == ("127.0.0.1", 15432, "/kim")
    assert parse_qs(parts.query) == {"sslmode": ["verify-full"], "sslrootcert": ["/var/lib/kim home/tls/ca.pem"]}


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (REMOTE, REMOTE + "?sslmode=verify-full"),
        (REMOTE + "?application_name=kim", REMOTE + "?application_name=kim&sslmode=verify-full"),
        ("postgresql://u@10.0.0.5/kim", "postgresql://u@10.0.0.5/kim?sslmode=verify-full"),
        ("postgresql://u@h1:5432,h2:5432/kim", "postgresql://u@h1:5432,h2:5432/kim?sslmode=verify-full"),
        ("postgresql://u@localhost,db.example/kim", "postgresql://u@localhost,db.example/kim?sslmode=verify-full"),
        ("postgresql://u@/kim?host=db.example", "postgresql://u@/kim?host=db.example&sslmode=verify-full"),
        # loopback: left as given
        ("postgresql://u:p@127.0.0.1:5432/kim", "postgresql://u:p@127.0.0.1:5432/kim"),
        ("postgresql://u:p@127.0.0.2/kim", "postgresql://u:p@127.0.0.2/kim"),
        ("postgresql://u:p@localhost/kim", "postgresql://u:p@localhost/kim"),
        ("postgresql://u:p@[::1]:5432/kim", "postgresql://u:p@[::1]:5432/kim"),
        ("postgresql://u@/kim?host=/var/run/postgresql", "postgresql://u@/kim?host=/var/run/postgresql"),
        ("postgresql://u@%2Fvar%2Frun%2Fpostgresql/kim", "postgresql://u@%2Fvar%2Frun%2Fpostgresql/kim"),
        ("postgresql:///kim", "postgresql:///kim"),
    ],
)
def test_a_url_without_sslmode_gets_verify_full_unless_it_stays_on_this_machine(url: str, expected: str) -> None:
    assert database_tls.external_url(url) == database_tls.DatabaseTls(expected)


@pytest.mark.parametrize("mode", database_tls.SSLMODES)
def test_a_written_sslmode_is_honoured_and_only_the_unverified_ones_towards_another_machine_warn(mode: str) -> None:
    remote = database_tls.external_url(f"{REMOTE}?sslmode={mode}")
    assert remote.url == f"{REMOTE}?sslmode={mode}"
    assert remote.unsafe_mode == (mode if mode in ("disable", "allow", "prefer") else None)
    local = database_tls.external_url(f"postgresql://u@127.0.0.1/kim?sslmode={mode}")
    assert local.url == f"postgresql://u@127.0.0.1/kim?sslmode={mode}" and local.unsafe_mode is None


def test_an_unknown_sslmode_is_refused() -> None:
    with pytest.raises(ValueError, match="sslmode='verify_full' is not one of"):
        database_tls.external_url(REMOTE + "?sslmode=verify_full")


@given(host=st.from_regex(r"[a-z][a-z0-9-]{0,20}(\.[a-z]{2,6}){1,2}", fullmatch=True), port=st.integers(1, 65535))
def test_every_remote_host_gets_verify_full_and_keeps_the_rest_of_its_url(host: str, port: int) -> None:
    url = f"postgresql://user:pa%40ss@{host}:{port}/db?connect_timeout=5"
    result = database_tls.external_url(url)
    assert result.url == url + "&sslmode=verify-full" and result.unsafe_mode is None
    assert database_tls.sslmode(result.url) == "verify-full"
    assert database_tls.external_url(result.url) == result  # idempotent


@given(octets=st.tuples(st.integers(0, 255), st.integers(0, 255), st.integers(1, 254)))
def test_every_loopback_address_is_loopback(octets: tuple[int, int, int]) -> None:
    assert database_tls.is_loopback("127.{}.{}.{}".format(*octets))


def test_settings_apply_the_default_and_print_one_warning_line_for_every_unsafe_url() -> None:
    settings = load_settings(
        {
            "KIM_DATABASE_URL": REMOTE + "?sslmode=disable",
            "KIM_WORKER_DATABASE_URL": "postgresql://w:pw@db.example/kim",
            "KIM_GATEWAY_DATABASE_URL": "postgresql://g:pw@db.example/kim?sslmode=prefer",
        }
    )
    assert settings.database_url == REMOTE + "?sslmode=disable"
    assert dict(settings.role_database_urls)["worker"] == "postgresql://w:pw@db.example/kim?sslmode=verify-full"
    warned = [w for w in settings.warnings if "sslmode" in w]
    assert len(warned) == 1
    assert "KIM_DATABASE_URL (sslmode=disable)" in warned[0]
    assert "KIM_GATEWAY_DATABASE_URL (sslmode=prefer)" in warned[0]
    assert "pw" not in warned[0]
    assert not [w for w in load_settings({"KIM_DATABASE_URL": REMOTE}).warnings if "sslmode" in w]


def test_settings_refuse_an_unknown_sslmode_naming_the_variable() -> None:
    with pytest.raises(SetupError, match=r"KIM_WORKER_DATABASE_URL: sslmode='on' is not one of"):
        load_settings({"KIM_DATABASE_URL": REMOTE, "KIM_WORKER_DATABASE_URL": REMOTE + "?sslmode=on"})


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"KIM_TLS_CERT_FILE": "/etc/hostname"}, "KIM_TLS_CERT_FILE is set without KIM_TLS_KEY_FILE; set both"),
        ({"KIM_TLS_KEY_FILE": "/etc/hostname"}, "KIM_TLS_KEY_FILE is set without KIM_TLS_CERT_FILE; set both"),
        (
            {"KIM_TLS_CERT_FILE": "/nonexistent.pem", "KIM_TLS_KEY_FILE": "/etc/hostname"},
            "KIM_TLS_CERT_FILE='/nonexistent.pem' is not a readable file",
        ),
        (
            {"KIM_TLS_CERT_FILE": "/etc/hostname", "KIM_TLS_KEY_FILE": "/etc/hostname", "KIM_HTTP_PLAINTEXT": "on"},
            "KIM_TLS_CERT_FILE is set but KIM_HTTP_PLAINTEXT is on",
        ),
        ({"KIM_HTTP_PLAINTEXT": "maybe"}, "KIM_HTTP_PLAINTEXT='maybe' is not on or off"),
    ],
)
def test_the_http_tls_settings_go_together(env: dict[str, str], message: str) -> None:
    with pytest.raises(SetupError, match=message):
        load_settings(env)


def test_a_url_that_cannot_name_the_servers_ca_is_one_line_naming_sslrootcert() -> None:
    import asyncpg

    from infra.db_roles import refusal

    error = asyncpg.ClientConfigurationError(
        'root certificate file "/home/x/.postgresql/root.crt" does not exist\nHINT: …'
    )
    line = refusal(error)
    assert line is not None and "\n" not in line and "sslrootcert=FILE" in line
