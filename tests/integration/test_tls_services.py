"""TLS everywhere the platform listens: the local PostgreSQL takes only verified TLS, and `kim gateway` and
`kim serve` answer over HTTPS with the installation's certificate (plain HTTP only when told, with a warning).

Real servers, real clients: asyncpg and psql against the session's PostgreSQL (and a cluster of its own for the
upgrade from a kim without TLS), urllib against `kim gateway` and `kim serve` processes on the lane.
"""

from __future__ import annotations

import contextlib
import http.client
import shutil
import signal
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import asyncpg
import pytest

from infra import postgres_server
from infra.errors import SetupError
from infra.processes import free_port, run_sync
from infra.settings import Settings, load_settings
from infra.tls import ensure_tls
from tests.integration.conftest import REPO, Lane
from tests.integration.helpers import run_kim
from tests.integration.https import ca_file, trusting

pytestmark = pytest.mark.integration


def _without_tls_params(url: str) -> str:
    return url.split("?", 1)[0]


async def _ssl_of_session(url: str) -> bool:
    conn = await asyncpg.connect(url, timeout=10)
    try:
        return await conn.fetchval("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
    finally:
        await conn.close()


# --- PostgreSQL ---


def test_the_local_postgres_takes_only_verified_tls(base_settings: Settings) -> None:
    url = base_settings.database_url
    assert "sslmode=verify-full" in url and f"sslrootcert={base_settings.tls_dir / 'ca.pem'}" in url
    assert run_sync(_ssl_of_session(url)) is True
    with pytest.raises(asyncpg.InvalidAuthorizationSpecificationError, match="no encryption"):
        run_sync(_ssl_of_session(_without_tls_params(url) + "?sslmode=disable"))
    psql = shutil.which("psql")
    assert psql, "psql is missing: install Debian's postgresql-client"
    same_url = subprocess.run([psql, url, "-Atc", "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()"],
                              capture_output=True, text=True, timeout=30)  # fmt: skip
    assert (same_url.returncode, same_url.stdout.strip()) == (0, "t"), same_url.stderr
    plain = subprocess.run([psql, _without_tls_params(url) + "?sslmode=disable", "-c", "SELECT 1"],
                           capture_output=True, text=True, timeout=30)  # fmt: skip
    assert plain.returncode != 0 and "no encryption" in plain.stderr


def test_a_client_trusting_another_ca_is_refused(base_settings: Settings, tmp_path: Path) -> None:
    other = ensure_tls(tmp_path / "other-ca").ca
    url = f"{_without_tls_params(base_settings.database_url)}?sslmode=verify-full&sslrootcert={other}"
    with pytest.raises(ssl.SSLCertVerificationError):
        run_sync(_ssl_of_session(url))
    started = time.monotonic()
    with pytest.raises(SetupError, match=r"certificate is not trusted: name its CA with sslrootcert=FILE") as caught:
        postgres_server.wait_for_database(url, timeout=20)
    assert time.monotonic() - started < 10  # no retrying what retrying cannot fix
    assert (base_settings.postgres_password_file.read_text().strip()) not in str(caught.value)


@pytest.fixture
def own_cluster(base_settings: Settings) -> Iterator[Settings]:
    """A PostgreSQL cluster of its own (its own KIM_HOME and port), stopped and deleted afterwards."""
    home = Path(tempfile.mkdtemp(prefix="kim-pg-tls-"))  # under /tmp: the `postgres` OS user must reach it as root
    settings = replace(base_settings, home=home, postgres_port=free_port())
    try:
        yield settings
    finally:
        postgres_server.stop_postgres(settings)
        shutil.rmtree(home, ignore_errors=True)


def _start_as_an_older_kim(settings: Settings) -> None:
    """The server as kim started it before TLS: initdb's `host` lines in pg_hba.conf, no ssl options."""
    data = postgres_server.data_dir(settings)
    hba = data / "pg_hba.conf"
    hba.write_text(hba.read_text().replace("hostssl", "host   "))
    bin_dir = postgres_server.find_pg_bin()
    assert bin_dir is not None
    argv = [str(bin_dir / "pg_ctl"), "start", "-D", str(data), "-l", str(postgres_server.log_path(settings)), "-w"]
    argv += ["-o", f"-p {settings.postgres_port} -h 127.0.0.1 -k ''"]
    postgres_server._run_server_tool(argv, postgres_server._server_user(), settings, timeout=60)


async def _write_and_read(url: str, value: int | None) -> int:
    conn = await asyncpg.connect(url, timeout=10)
    try:
        if value is not None:
            await conn.execute("CREATE TABLE kept (value int)")
            await conn.execute("INSERT INTO kept VALUES ($1)", value)
        return await conn.fetchval("SELECT value FROM kept")
    finally:
        await conn.close()


def test_a_cluster_of_an_older_kim_is_switched_to_tls_on_the_next_start_with_its_data(own_cluster: Settings) -> None:
    said: list[str] = []
    postgres_server.start_postgres(own_cluster, log=said.append)
    postgres_server.stop_postgres(own_cluster)
    _start_as_an_older_kim(own_cluster)
    plain = _without_tls_params(own_cluster.database_url) + "?sslmode=disable"
    assert run_sync(_write_and_read(plain, 42)) == 42  # the old server took plain TCP logins

    postgres_server.start_postgres(own_cluster, log=said.append)  # running, without TLS: restarted with it
    assert any("restarting PostgreSQL with TLS" in line for line in said), said
    assert run_sync(_write_and_read(own_cluster.database_url, None)) == 42
    assert run_sync(_ssl_of_session(own_cluster.database_url)) is True
    with pytest.raises(asyncpg.InvalidAuthorizationSpecificationError, match="no encryption"):
        run_sync(_write_and_read(plain, None))
    key = own_cluster.postgres_dir / "tls" / "server-key.pem"
    assert key.stat().st_mode & 0o777 == 0o600


# --- HTTPS: kim gateway and kim serve ---


class Running:
    """`kim COMMAND --port P` on the lane until stopped; its stdout and stderr kept apart."""

    def __init__(self, lane: Lane, command: str, **env: str) -> None:
        self.port = free_port()
        self.home = lane.home
        self.out, self.err = lane.home / f"{command}-{self.port}.out", lane.home / f"{command}-{self.port}.err"
        with open(self.out, "wb") as out, open(self.err, "wb") as err:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "cli.main", command, "--port", str(self.port)],
                env={**lane.env(), **env},
                cwd=REPO,
                stdout=out,
                stderr=err,
                start_new_session=True,
            )
        deadline = time.monotonic() + 60
        while f":{self.port}" not in self.out.read_text():  # the start-up line, printed once it listens
            assert self.process.poll() is None, f"kim {command} ended: {self.err.read_text()}"
            assert time.monotonic() < deadline, f"kim {command} did not start: {self.err.read_text()}"
            time.sleep(0.2)

    def get(self, scheme: str, path: str, context: ssl.SSLContext | None = None) -> tuple[int, bytes]:
        with urllib.request.urlopen(f"{scheme}://127.0.0.1:{self.port}{path}", timeout=15, context=context) as answer:
            return answer.status, answer.read()

    def stop(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)


@contextlib.contextmanager
def running(lane: Lane, command: str, **env: str) -> Iterator[Running]:
    server = Running(lane, command, **env)
    try:
        yield server
    finally:
        server.stop()


@pytest.mark.parametrize(("command", "path"), [("gateway", "/openapi.json"), ("serve", "/v1/labels")])
def test_the_servers_answer_over_https_verified_by_the_installations_ca(
    lane: Lane, tmp_path: Path, command: str, path: str
) -> None:
    with running(lane, command) as server:
        started = server.out.read_text()
        assert f"on https://127.0.0.1:{server.port}" in started and f"clients trust {ca_file(lane.home)}" in started
        assert "warning" not in server.err.read_text()
        assert server.get("https", path, trusting(lane.home))[0] == 200
        another = ssl.create_default_context(cafile=ensure_tls(tmp_path / "other-ca").ca)
        with pytest.raises(urllib.error.URLError, match="CERTIFICATE_VERIFY_FAILED"):
            server.get("https", path, another)
        with pytest.raises((urllib.error.URLError, ConnectionError, http.client.HTTPException)):
            server.get("http", path)  # plain HTTP to the TLS port gets no answer


@pytest.mark.parametrize("command", ["gateway", "serve"])
def test_plain_http_only_when_told_and_then_with_one_warning(lane: Lane, command: str) -> None:
    with running(lane, command, KIM_HTTP_PLAINTEXT="on") as server:
        assert f"on http://127.0.0.1:{server.port}" in server.out.read_text()
        warnings = [line for line in server.err.read_text().splitlines() if line.startswith("warning:")]
        assert len(warnings) == 1 and "KIM_HTTP_PLAINTEXT=on" in warnings[0] and "plain HTTP" in warnings[0]
        assert server.get("http", "/healthz")[0] == 200


def test_the_operators_own_certificate_is_served_and_a_broken_one_is_one_error_line(lane: Lane, tmp_path: Path) -> None:
    own = ensure_tls(tmp_path / "organisation")
    with running(lane, "serve", KIM_TLS_CERT_FILE=str(own.cert), KIM_TLS_KEY_FILE=str(own.key)) as server:
        assert server.get("https", "/healthz", ssl.create_default_context(cafile=own.ca))[0] == 200
        with pytest.raises(urllib.error.URLError, match="CERTIFICATE_VERIFY_FAILED"):
            server.get("https", "/healthz", ssl.create_default_context())  # the system's trust store: not enough
    broken = tmp_path / "broken-key.pem"
    broken.write_text("not a key\n")
    env = {**lane.env(), "KIM_TLS_CERT_FILE": str(own.cert), "KIM_TLS_KEY_FILE": str(broken)}
    result = subprocess.run(
        [sys.executable, "-m", "cli.main", "serve", "--port", str(free_port())],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert result.stderr.startswith(f"error: cannot use the certificate {own.cert} with the key {broken}")
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    half = subprocess.run(
        [sys.executable, "-m", "cli.main", "gateway", "--port", str(free_port())],
        env={**lane.env(), "KIM_TLS_CERT_FILE": str(own.cert)},
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert half.returncode == 1
    assert half.stderr == "error: KIM_TLS_CERT_FILE is set without KIM_TLS_KEY_FILE; set both " + (
        "(certificate chain and its key) or neither\n"
    )


def test_settings_of_the_lane_carry_the_tls_of_the_local_server(lane: Lane) -> None:
    """A lane's processes get the session server's URLs as an external database on loopback: kept as given."""
    settings = load_settings(lane.env())
    assert "sslmode=verify-full" in settings.database_url
    assert all("sslmode=verify-full" in url for _, url in settings.role_database_urls)
    assert not [w for w in settings.warnings if "sslmode" in w]
    assert run_sync(_ssl_of_session(settings.database_url)) is True


def test_a_front_door_refused_for_want_of_tls_says_so_in_one_line(lane: Lane) -> None:
    analyst = _without_tls_params(lane.role_urls.get("analyst", lane.database_url)) + "?sslmode=disable"
    result = run_kim(lane, "serve", "--port", str(free_port()), KIM_ANALYST_DATABASE_URL=analyst)
    assert result.returncode == 1
    assert result.stderr.startswith("error: PostgreSQL refused a connection without TLS (no pg_hba.conf entry")
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
