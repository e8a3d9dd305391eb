"""A real `kim gateway` on a benchmark lane of its own, as an installation runs it, for ``benchmarks.gateway``.

The lane's topics (``benchmarks.lanes``) and a fresh database migrated as `kim up` migrates one (secrets
directory made and recorded, each component logging in as its own role); a token per agency registered in it;
the referrals worker, which the gateway's case check waits for (every event but an opening is judged against
the referrals projection once it has caught up); and `kim gateway` itself, HTTPS with the installation's CA.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import signal
import ssl
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import asyncpg

from benchmarks.lanes import BenchLane, new_lane
from benchmarks.measures import REPO, lane_env
from infra import agencies, bringup, db_roles, postgres_server
from infra.errors import SetupError
from infra.platform_secrets import Secrets
from infra.processes import free_port
from infra.settings import DATABASE_ROLES, Settings
from infra.tls import TlsFiles
from schemas.topics import CASES, DLQ
from streams.kafka.topics import end_offsets

MIB = 1024 * 1024
START_TIMEOUT_S = 90.0


@dataclass
class Spawned:
    """A process of the lane and the file its output goes to."""

    process: subprocess.Popen
    log: Path

    def last_line(self) -> str:
        lines = [line for line in self.log.read_text(errors="replace").splitlines() if line.strip()]
        return lines[-1] if lines else "(no output)"


@dataclass
class RunningGateway:
    lane: BenchLane
    database_url: str  # the owner's URL of the lane's database (agencies, keys, projections)
    url: str  # https://127.0.0.1:<port>
    tokens: dict[str, str]  # agency -> its bearer token
    ca: Path  # the installation's CA, which the gateway's certificate chains to
    gateway: Spawned
    worker: Spawned

    def client(self, connections: int) -> aiohttp.ClientSession:
        """An HTTPS client that verifies the gateway against the CA and keeps up to ``connections`` alive.

        aiohttp rather than httpx: with a hundred requests in flight, httpx's connection pool cost the client
        ~14 ms of CPU a request (its pool scans every waiting request per change, encode/httpcore#1035), so the
        client, not the gateway, set the single-POST row's latency."""
        verify = ssl.create_default_context(cafile=self.ca)
        connector = aiohttp.TCPConnector(limit=connections, ssl=verify)
        return aiohttp.ClientSession(self.url, connector=connector, timeout=aiohttp.ClientTimeout(total=120.0))

    async def records(self, topic: str = CASES) -> int:
        """Records in the lane's ``topic`` (all its partitions): what reached Kafka."""
        return sum((await end_offsets(self.lane.kafka, [self.lane.topic(topic)])).values())

    async def dead_letters(self) -> int:
        return await self.records(DLQ)

    async def referrals_applied(self) -> int:
        """Records of the lane's kim.cases the referrals worker has applied (or dead-lettered) so far."""
        conn = await asyncpg.connect(self.database_url)
        try:
            done = await conn.fetchval(
                "SELECT coalesce(sum(next_offset), 0) FROM projection_checkpoints WHERE projection = $1 AND topic = $2",
                "referrals",
                self.lane.topic(CASES),
            )
        finally:
            await conn.close()
        return int(done)

    def failed(self) -> str | None:
        """Why a process of the lane ended early (its log's last line), or None while both run."""
        for name, spawned in (("kim gateway", self.gateway), ("the referrals worker", self.worker)):
            if spawned.process.poll() is not None:
                return f"{name} ended (exit {spawned.process.returncode}): {spawned.last_line()}"
        return None


@asynccontextmanager
async def running_gateway(
    settings: Settings, agency_names: list[str], max_batch: int, step: Callable[[str], None]
) -> AsyncIterator[RunningGateway]:
    """The gateway and the referrals worker on a fresh lane, stopped and the lane dropped on the way out."""
    lane = await new_lane(settings)
    scratch = Path(tempfile.mkdtemp(prefix="kim-bench-gateway-"))
    processes: list[Spawned] = []
    try:
        step("gateway lane: database, agency tokens, referrals worker, kim gateway")
        secrets = Secrets(scratch / "secrets")
        name, url = await _database(lane, secrets)
        tokens = await _register(url, agency_names)
        env = lane_env(
            lane,
            KIM_DATABASE_URL=url,
            KIM_SECRETS_DIR=str(secrets.directory),
            KIM_METRICS_PORT="0",
            PYTHONPATH=str(REPO),
            **(await _role_urls(settings, name)),
        )
        worker = _spawn([sys.executable, "-m", "cli.worker", "referrals"], env, scratch / "worker.log", scratch)
        processes.append(worker)
        port = free_port()
        command = [sys.executable, "-m", "cli.main", "gateway", "--port", str(port), "--max-batch", str(max_batch)]
        command += ["--max-body-bytes", str(max(MIB, 4096 * max_batch))]
        gateway = _spawn(command, env, scratch / "gateway.log", REPO)
        processes.append(gateway)
        running = RunningGateway(
            lane, url, f"https://127.0.0.1:{port}", tokens, TlsFiles(settings.tls_dir).ca, gateway, worker
        )
        await _wait_healthy(running)
        yield running
    finally:
        for spawned in reversed(processes):
            _stop(spawned.process)
        await lane.drop()
        shutil.rmtree(scratch, ignore_errors=True)


async def _database(lane: BenchLane, secrets: Secrets) -> tuple[str, str]:
    """A fresh database for the lane, migrated and its secrets recorded as `kim up` does; dropped with the lane."""
    name = f"kim_bench_{lane.prefix.strip('.').replace('-', '_')}_gateway"
    url = postgres_server.create_database(lane.settings, name)
    lane.databases[name] = url
    await bringup.migrate_database(url, secrets, log=lambda _: None)
    return name, url


async def _role_urls(settings: Settings, database: str) -> dict[str, str]:
    """Each component's own login to the lane's database, as in production (external server: the owner's).

    The logins are the local server's, made here as `kim up` makes them if this installation has none yet."""
    if not settings.local_postgres:
        return {}
    await db_roles.ensure_logins(settings)
    return {
        f"KIM_{role.upper()}_DATABASE_URL": db_roles.with_database(db_roles.database_url(settings, role), database)
        for role in DATABASE_ROLES
    }


async def _register(url: str, agency_names: list[str]) -> dict[str, str]:
    """A gateway identity (token and signing key) per agency, as `kim agency add` records it; agency -> token."""
    tokens: dict[str, str] = {}
    conn = await asyncpg.connect(url)
    try:
        for agency in agency_names:
            credentials = agencies.AgencyCredentials.new(agency)
            await agencies.register(conn, credentials)
            tokens[agency] = credentials.token
    finally:
        await conn.close()
    return tokens


def _spawn(command: list[str], env: dict[str, str], log: Path, cwd: Path) -> Spawned:
    with open(log, "wb") as out:
        process = subprocess.Popen(
            command, env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    return Spawned(process, log)


async def _wait_healthy(running: RunningGateway) -> None:
    """Until the gateway answers ``GET /healthz`` over HTTPS verified by the CA; SetupError when it cannot start."""
    deadline = time.monotonic() + START_TIMEOUT_S
    async with running.client(1) as client:
        while True:
            if why := running.failed():
                raise SetupError(why)
            with contextlib.suppress(aiohttp.ClientError):
                async with client.get("/healthz") as response:
                    if response.status == 200:
                        return
            if time.monotonic() > deadline:
                last = running.gateway.last_line()
                raise SetupError(f"kim gateway did not answer in {START_TIMEOUT_S:.0f} s: {last}")
            await asyncio.sleep(0.2)


def _stop(process: subprocess.Popen) -> None:
    """SIGTERM (the gateway flushes its producers, the worker commits), SIGKILL if it does not end in 30 s."""
    if process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        process.send_signal(signal.SIGTERM)
    try:
        process.wait(30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(10)
