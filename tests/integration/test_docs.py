"""Every code block of README.md and docs/*.md runs against the real broker and database, so a stale example fails.

One test per page, on its own lane (topics and database); the blocks run in page order, as a reader would
type them on a test installation (``tests/integration/docs_blocks.py`` says how blocks are split and marked):

- shell and console blocks: each command in ``bash`` in the page's working directory, with this checkout's
  ``kim`` (``kim``, ``./kim`` and ``.venv/bin/kim`` all run ``python -m cli.main``; ``.venv/bin/python`` is this
  interpreter) and the lane's environment (``lane.env()``). Variables a command exports stay set for the rest
  of the page. The exit code must be 0
  (or what the block's directive says) and a console block's shown output must be in the real output, once
  the lane's topic prefix is taken out of it. `kim serve` and `kim gateway` run in the background until the
  page ends. The documented ports (gateway 8088, API 8089, metrics 9464–9467) are replaced by free ones in
  every command and put back in the output, so pages never collide with other services on this machine;
- python blocks: executed in order in one namespace per page, with the page's environment (so
  ``os.environ["KIM_AGENCY_PASSWORD"]`` is what an earlier shell block exported) and working directory;
- sql blocks: on the lane's database as the role named by the block's first line (``-- as kim`` for the owner,
  ``-- as kim_analyst``, …, with that role's own login where the lane has one), in a transaction rolled back
  at the end, so a ``CREATE ROLE`` leaves nothing behind;
- json and jsonl blocks: parsed; an event in them (an object with ``event_type``) must pass
  ``EventDraft.from_dict``, and, when it names its ``agency`` (a line of a file for `kim publish`), the whole
  publisher's check (schema, domain rules, sealing) as that agency.

Before each block and command the test waits until any projection worker the page started has applied
everything on the log — what a reader does by reading on — so output of asynchronous processing is settled.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from cli.catchup import wait_caught_up
from infra import bringup
from infra.platform_identity import kafka_connection
from infra.processes import run_sync
from infra.settings import Settings, load_settings
from projections.registry import PROJECTIONS
from schemas import EncodeError
from schemas.sealing import KeyRing, client_refs, new_key
from streams.kafka.topics import end_offsets
from streams.sdk.draft import EventDraft
from streams.sdk.prepare import Preparer
from tests.integration.conftest import REPO, Lane
from tests.integration.docs_blocks import SHELL, Block, Command, blocks, commands, missing_output
from tests.integration.https import trusting

pytestmark = pytest.mark.integration

PAGES = ["README.md", *sorted(path.relative_to(REPO).as_posix() for path in (REPO / "docs").glob("*.md"))]
SERVERS = {"gateway": 8088, "serve": 8089}  # commands that serve until stopped, and their default ports
METRICS_PORTS = (9464, 9465, 9466, 9467)  # KIM_METRICS_PORT and the next three (one per projection)
KIM = re.compile(r"^(?:\./kim|\.venv/bin/kim|kim)$")


@pytest.mark.parametrize("page", PAGES)
def test_every_code_block_of_the_page_runs(page: str, request: pytest.FixtureRequest) -> None:
    found = blocks(REPO / page, page)
    problems = [problem for block in found if (problem := block.problem())]
    assert not problems, "\n".join(problems)
    to_run = [block for block in found if block.not_run is None]
    if not to_run:
        return
    lane: Lane = request.getfixturevalue("lane")
    with PageRun(lane, page) as run:
        for block in to_run:
            run.block(block)


class PageRun:
    """One page's blocks on one lane: its working directory, environment, Python namespace and servers."""

    def __init__(self, lane: Lane, page: str) -> None:
        self.lane = lane
        self.page = page
        self.workdir = lane.home / "docs"
        bin_dir = self.workdir / ".venv" / "bin"
        bin_dir.mkdir(parents=True)
        for path, argv in (
            (self.workdir / "kim", '-m cli.main "$@"'),
            (bin_dir / "kim", '-m cli.main "$@"'),
            (bin_dir / "python", '"$@"'),
        ):
            path.write_text(f'#!/bin/sh\nexec "{sys.executable}" {argv}\n')
            path.chmod(0o755)
        documented = (*METRICS_PORTS, *SERVERS.values())
        self.ports = dict(zip(documented, free_ports(len(documented)), strict=True))
        self.env = {
            **lane.env(),
            "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
            "PYTHONPATH": str(REPO),  # this checkout's code, wherever the command runs
            "KIM_METRICS_PORT": str(self.ports[METRICS_PORTS[0]]),
        }
        self.namespace: dict[str, Any] = {"__name__": "__docs__"}
        self.servers: list[subprocess.Popen] = []

    def __enter__(self) -> PageRun:
        return self

    def __exit__(self, *exc: object) -> None:
        for server in self.servers:  # each in its own process group, started by this test
            with contextlib.suppress(ProcessLookupError):
                os.killpg(server.pid, signal.SIGTERM)
            try:
                server.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, signal.SIGKILL)
                server.wait(10)

    def block(self, block: Block) -> None:
        if block.file_name:
            (self.workdir / block.file_name).write_text(block.text + "\n", encoding="utf-8")
        if block.language in SHELL:
            for command in commands(block):
                self.shell(block, command)
        elif block.language == "python":
            self.python(block)
        elif block.language == "sql":
            self.sql(block)
        else:
            self.json_lines(block)

    # shell and console

    def shell(self, block: Block, command: Command) -> None:
        text = self.local_ports(command.text)
        words = shlex.split(text, comments=True)
        if len(words) > 1 and KIM.match(words[0]) and words[1] in SERVERS:
            if "--port" not in words:  # listen on the page's free port, not on the documented default
                local = str(self.ports[SERVERS[words[1]]])
                text, words = f"{text} --port {local}", [*words, "--port", local]
            self.serve(command, text, words)
            return
        self.settle()
        dump = self.workdir / ".env-after"
        script = f'{text}\n__status=$?\nenv -0 > "{dump}"\nexit $__status\n'
        done = subprocess.run(
            ["bash", "-c", script], env=self.env, cwd=self.workdir, capture_output=True, text=True, timeout=600
        )
        self.keep_exports(dump)
        output = self.readable(done.stdout + ("\n" if done.stdout and done.stderr else "") + done.stderr)
        said = f"{command.where(self.page)}: `{command.text}`"
        assert done.returncode == block.exit_code, (
            f"{said} exited {done.returncode}, the page expects {block.exit_code}\n{output[-6000:]}"
        )
        missing = missing_output(command.shown, output)
        assert missing is None, f"{said}: the page shows {missing!r}, the output has no such line\n{output[-6000:]}"

    def serve(self, command: Command, text: str, words: list[str]) -> None:
        port = int(words[words.index("--port") + 1])
        log = self.workdir / f"{words[1]}-{port}.log"
        with open(log, "wb") as out:
            server = subprocess.Popen(
                ["bash", "-c", f"exec {text}"],
                env=self.env,
                cwd=self.workdir,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.servers.append(server)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert server.poll() is None, f"{command.where(self.page)}: `{command.text}` ended:\n{log.read_text()}"
            try:  # over HTTPS, verified against the CA the server made under the page's KIM_HOME
                context = trusting(Path(self.env["KIM_HOME"]))
                with urllib.request.urlopen(f"https://127.0.0.1:{port}/healthz", timeout=5, context=context):
                    return
            except OSError:  # not listening yet, or its CA not made yet (urllib's URLError is an OSError)
                time.sleep(0.2)
        raise AssertionError(f"{command.where(self.page)}: `{command.text}` did not answer:\n{log.read_text()}")

    def keep_exports(self, dump: Path) -> None:
        """Keep what the command exported for the commands and blocks after it."""
        if not dump.exists():
            return
        after = dict(item.split("=", 1) for item in dump.read_text().split("\0") if "=" in item)
        dump.unlink()
        for name in ("_", "SHLVL", "PWD", "OLDPWD", "__status"):
            after.pop(name, None)
        self.env = {**self.env, **after}

    def local_ports(self, text: str) -> str:
        for documented, local in self.ports.items():
            text = re.sub(rf"\b{documented}\b", str(local), text)
        return text

    def readable(self, output: str) -> str:
        """The output as the page shows it: without the lane's topic prefix, with the documented ports."""
        output = output.replace(self.lane.prefix, "")
        for documented, local in self.ports.items():
            output = re.sub(rf"\b{local}\b", str(documented), output)
        return output

    def settle(self) -> None:
        """Wait until every running worker of the lane has applied the log up to its end."""
        settings = load_settings(self.env)
        running = [name for name in PROJECTIONS if bringup.worker_pid(settings, name)]
        if running:
            run_sync(caught_up(settings, running))

    # python, sql, json

    def python(self, block: Block) -> None:
        self.settle()
        code = compile("\n" * block.line + block.text + "\n", str(REPO / self.page), "exec")
        with environment(self.env), contextlib.chdir(self.workdir):
            try:
                exec(code, self.namespace)
            except Exception as error:
                raise AssertionError(f"{block.where}: the python block raised {error!r}") from error

    def sql(self, block: Block) -> None:
        first = block.text.lstrip().splitlines()[0]
        who = re.match(r"--\s*as\s+(?:a member of\s+)?(?P<role>kim_\w+|kim)\b", first)
        assert who, f"{block.where}: a sql block starts with `-- as ROLE` (kim, kim_analyst, …), not {first!r}"
        self.settle()
        try:
            run_sync(self.run_sql(who["role"], block.text))
        except asyncpg.PostgresError as error:
            raise AssertionError(f"{block.where}: as {who['role']}: {error}") from error

    async def run_sql(self, role: str, text: str) -> None:
        logins = {f"kim_{name}": url for name, url in self.lane.role_urls.items()}
        conn = await asyncpg.connect(logins.get(role, self.lane.database_url))
        try:
            transaction = conn.transaction()
            await transaction.start()
            try:
                if role != "kim" and role not in logins:  # an external test server: no login per role
                    await conn.execute(f"SET LOCAL ROLE {role}")
                await conn.execute(text)
            finally:
                await transaction.rollback()
        finally:
            await conn.close()

    def json_lines(self, block: Block) -> None:
        if block.language == "jsonl":
            numbered = [(block.line + n, line) for n, line in enumerate(block.text.splitlines(), 1) if line.strip()]
        else:
            numbered = [(block.line + 1, block.text)]
        for line, text in numbered:
            try:
                value = json.loads(text)
            except json.JSONDecodeError as error:
                raise AssertionError(f"{self.page}:{line}: not JSON: {error}") from None
            for item in value if isinstance(value, list) else [value]:
                if isinstance(item, dict) and "event_type" in item:
                    check_event(item, f"{self.page}:{line}")


def check_event(item: dict[str, Any], where: str) -> None:
    """The event as the SDK takes it from JSON; with its ``agency``, as that agency's publisher would send it."""
    agency = item.get("agency")
    try:
        draft = EventDraft.from_dict({key: value for key, value in item.items() if key != "agency"})
        if agency is not None:
            ring = KeyRing()
            for ref in client_refs(draft.event_type, draft.payload):
                ring.add(ref, *new_key())
            Preparer(agency, keys=ring).prepare(draft)
    except (EncodeError, ValueError) as error:  # ValueError: an agency the network does not know
        raise AssertionError(f"{where}: the event is invalid: {error}") from None


async def caught_up(settings: Settings, names: list[str]) -> None:
    kafka = kafka_connection(settings)
    for name in names:
        targets = await end_offsets(kafka, [settings.topic(topic) for topic in PROJECTIONS[name].source_topics])
        await wait_caught_up(
            settings.database_url,
            name,
            targets,
            timeout=120,
            still_running=lambda name=name: bringup.worker_pid(settings, name) is not None,
        )


@contextlib.contextmanager
def environment(env: dict[str, str]):
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(env)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def free_ports(count: int) -> list[int]:
    """``count`` consecutive free loopback ports."""
    for _ in range(100):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            first = probe.getsockname()[1]
        if first + count > 65535:
            continue
        try:
            with contextlib.ExitStack() as held:
                for port in range(first, first + count):
                    held.enter_context(socket.socket()).bind(("127.0.0.1", port))
        except OSError:
            continue
        return list(range(first, first + count))
    raise RuntimeError(f"no {count} consecutive free ports")
