"""Generic helpers for the background processes `kim up` starts: pid files, ports, spawning, stopping.

Nothing here knows about Kafka or PostgreSQL, so the projection worker daemons can use it too.
"""

from __future__ import annotations

import asyncio
import errno
import fcntl
import os
import pwd
import re
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Coroutine, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")


# --- pid files ---


def read_pid(path: Path) -> int | None:
    """The pid in a pid file, or None when the file is missing or holds no pid."""
    try:
        text = path.read_text().strip()
    except (FileNotFoundError, NotADirectoryError):
        return None
    first = text.split("\n", 1)[0].strip()
    return int(first) if first.isdigit() else None


def write_pid(path: Path, pid: int) -> None:
    """Write a pid file atomically (a reader never sees it half written)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(f"{pid}\n")
    os.replace(tmp, path)


def remove_pid(path: Path) -> None:
    path.unlink(missing_ok=True)


# --- liveness ---


def _reap(pid: int) -> bool:
    """Collect `pid` if it is an exited child of ours; True when it was reaped."""
    try:
        done, _ = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return False
    return done == pid


def cmdline(pid: int) -> str | None:
    """The command line of `pid` with arguments joined by spaces, or None when there is no such live process."""
    proc = Path(f"/proc/{pid}")
    try:
        stat = (proc / "stat").read_text()
        # The state letter follows the parenthesised command name, which may itself hold spaces or ')'.
        if stat[stat.rindex(")") + 2] in "ZX":
            _reap(pid)
            return None
        raw = (proc / "cmdline").read_bytes()
    except (FileNotFoundError, ProcessLookupError, ValueError, IndexError):
        return None
    except PermissionError:
        return ""
    return raw.replace(b"\0", b" ").decode(errors="replace").strip()


def pid_alive(pid: int | None, must_contain: str | Sequence[str] = ()) -> bool:
    """True when `pid` runs and its command line contains every string in `must_contain`.

    The command-line check keeps a reused pid (the old process died, an unrelated one got its number)
    from being mistaken for ours. Zombies count as dead.
    """
    if pid is None or pid <= 0:
        return False
    needles = [must_contain] if isinstance(must_contain, str) else list(must_contain)
    if not Path("/proc/self").exists():  # no procfs: fall back to a signal probe, without the command-line check
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return not _reap(pid)
    line = cmdline(pid)
    if line is None:
        return False
    return all(needle in line for needle in needles)


def find_pids(must_contain: str | Sequence[str]) -> list[int]:
    """Pids of live processes whose command line contains every string in `must_contain` (never our own)."""
    found = []
    for entry in Path("/proc").iterdir() if Path("/proc/self").exists() else ():
        if entry.name.isdigit() and int(entry.name) != os.getpid() and pid_alive(int(entry.name), must_contain):
            found.append(int(entry.name))
    return sorted(found)


# --- ports ---


def port_in_use(host: str, port: int) -> bool:
    """True when some process holds `port` on `host` (listening, or just bound).

    Probes by binding, as a server would: SO_REUSEADDR lets a port still in TIME_WAIT from a stopped server
    count as free, while a listener on the same port (also on 0.0.0.0 or ::) still makes the bind fail.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            if exc.errno in (errno.EADDRINUSE, errno.EACCES):
                return True
            raise
    return False


def port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    """True when something accepts TCP connections on host:port."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def free_port(host: str = "127.0.0.1") -> int:
    """A port the OS says is free right now (for tests and throw-away servers)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


# --- spawning and stopping ---


def user_ids(user: str) -> tuple[int, int]:
    """(uid, gid) of an OS user; KeyError when there is none."""
    entry = pwd.getpwnam(user)
    return entry.pw_uid, entry.pw_gid


def _drop_privileges_kwargs(user: str | None) -> dict[str, Any]:
    """Popen arguments that run the child as `user` (only meaningful when we are root)."""
    if user is None or os.geteuid() != 0:
        return {}
    uid, gid = user_ids(user)
    return {"user": uid, "group": gid, "extra_groups": []}


def spawn_detached(
    argv: Sequence[str],
    log_path: Path,
    env: Mapping[str, str] | None = None,
    user: str | None = None,
    cwd: Path | None = None,
) -> int:
    """Start `argv` in its own session with stdout and stderr appended to `log_path`; return its pid.

    The child outlives us and ignores our terminal's Ctrl-C. `user` (when we are root) runs it as that OS user.
    """
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab", buffering=0) as log, open(os.devnull, "rb") as devnull:
        proc = subprocess.Popen(
            list(argv),
            stdin=devnull,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=dict(env) if env is not None else None,
            cwd=cwd,
            start_new_session=True,
            close_fds=True,
            **_drop_privileges_kwargs(user),
        )
    # Popen would warn "subprocess still running" when the object is collected; we track the pid ourselves
    # and reap the child in pid_alive/terminate.
    proc.returncode = 0
    return proc.pid


def run_as(
    argv: Sequence[str],
    user: str | None = None,
    cwd: Path | None = None,
    timeout: float | None = None,
    env: Mapping[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run a short command (as `user` when we are root), capturing its combined output as text."""
    return subprocess.run(
        list(argv),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=cwd,
        timeout=timeout,
        env=dict(env) if env is not None else None,
        start_new_session=True,
        **_drop_privileges_kwargs(user),
    )


def wait_gone(pid: int, timeout: float, must_contain: str | Sequence[str] = ()) -> bool:
    """Wait up to `timeout` seconds for `pid` to exit; True when it did."""
    deadline = time.monotonic() + timeout
    while pid_alive(pid, must_contain):
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)
    return True


def terminate(pid: int, timeout: float = 30.0, must_contain: str | Sequence[str] = ()) -> bool:
    """SIGTERM `pid`, wait up to `timeout` s, then SIGKILL. False when it was not running (nothing was signalled).

    `must_contain` guards against signalling an unrelated process that reused the pid.
    """
    if not pid_alive(pid, must_contain):
        return False
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return False
    if wait_gone(pid, timeout, must_contain):
        return True
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        return True
    wait_gone(pid, 10.0, must_contain)
    return True


# --- misc ---


_STACK_FRAME = re.compile(r"^\s+(at |\.\.\. \d+ more)")


def meaningful_tail(text: str, lines: int = 15) -> str:
    """The last `lines` lines of `text`, skipping blank lines and Java stack frames (the messages say more)."""
    kept = [line.rstrip() for line in text.splitlines() if line.strip() and not _STACK_FRAME.match(line)]
    return "\n".join(kept[-lines:])


def log_tail(path: Path, lines: int = 15, offset: int | None = None) -> str:
    """The meaningful last lines of a log file, from byte `offset` on when given ('' when there is none)."""
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            end = f.tell()
            f.seek(max(0, end - 256 * 1024) if offset is None else max(offset, end - 256 * 1024))
            text = f.read().decode(errors="replace")
    except FileNotFoundError:
        return ""
    return meaningful_tail(text, lines)


def rotate_log(path: Path, max_bytes: int = 50 * 1024 * 1024) -> None:
    """Move a log that has grown past `max_bytes` to `<name>.1` (one old generation kept)."""
    try:
        if path.stat().st_size > max_bytes:
            os.replace(path, path.with_name(path.name + ".1"))
    except FileNotFoundError:
        pass


def run_sync(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to completion from synchronous code, even when this thread already runs an event loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["result"] = asyncio.run(coro)
        except BaseException as exc:
            box["error"] = exc

    thread = threading.Thread(target=target, name="run_sync")
    thread.start()
    thread.join()
    if "error" in box:
        raise box["error"]
    return box["result"]


@contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """Hold an exclusive advisory lock on `path` (created if missing), so concurrent `kim` runs take turns."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)
