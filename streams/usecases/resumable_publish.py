"""A bulk publish that can be resumed after an outage without publishing anything twice or losing anything.

Why by event id, not by count: when the broker dies, some events were written to the log but their
acknowledgement never arrived (sent, in the log, not acked). A resume that skipped the first *acked*
events would publish those again. So every event of a run gets an id derived from the run and its place in
the input (``PublishRun.event_id``); a resume reads the log from the run's start offsets, collects the ids
that are there (``log_event_ids``) and skips exactly those events; the rest goes out in the original order.

Why that keeps each case in order: what a run got into the log is, per key, a prefix of the key's events —
one agency's producer is idempotent and keeps its order per partition, and an event whose key's previous
event came from another agency is only sent once that one was acknowledged (``delivery``). Publishing the
missing events in input order therefore appends each key's remaining events after the ones already there.

The flow: ``open_run`` (a fresh run records the start offsets in the progress file before anything is
sent; a resume reads the log), ``in_log`` and ``event_id`` while preparing, ``checkpoint`` after every window,
``finish`` at the end — or ``stopped_message`` for the one line that says how far it got and how to go on.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Awaitable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, TypeVar

from aiokafka.errors import KafkaError

from schemas.errors import KimError
from streams.kafka.connection import KafkaConnection
from streams.kafka.topics import end_offsets
from streams.usecases.log_event_ids import event_ids_since
from streams.usecases.publish_progress import PublishRun, load_run, remove_run, save_run

T = TypeVar("T")


class CannotResume(KimError):
    """No resume is possible as asked, or a fresh run would publish again what a stopped one published."""


@dataclass
class Resumable:
    """A run in progress: its progress file (held locked: one run per input at a time) and, on a resume, the
    ids already in the log."""

    path: Path
    run: PublishRun
    resumed: bool = False
    present: set[str] = field(default_factory=set, repr=False)
    acked_before: int = 0  # acknowledged by the earlier runs, as their progress file says
    skipped: int = 0  # events of the input found in the log, so not sent again
    _lock: IO[Any] | None = field(default=None, repr=False)

    def in_log(self, ordinals: Iterable[int]) -> set[int]:
        """Which of the input's events (by their place in it) are in the log already: a resume skips them."""
        found = {o for o in ordinals if self.present and self.run.event_id(o) in self.present}
        self.skipped = len(found)
        return found

    def event_id(self, ordinal: int) -> str:
        return self.run.event_id(ordinal)

    def checkpoint(self, acked: int) -> None:
        """Record that ``acked`` events were acknowledged in this run so far."""
        self.run.acked = self.acked_before + acked
        save_run(self.path, self.run)

    def finish(self) -> None:
        """Everything is published: the progress file goes."""
        remove_run(self.path)
        self.release()

    def release(self) -> None:
        if self._lock is not None:  # the lock file stays: unlinking it could let two runs lock two files
            self._lock.close()
            self._lock = None

    def unconfirmed(self) -> int:
        """Of the skipped events, how many the earlier runs never saw acknowledged (written, the ack lost)."""
        return max(self.skipped - self.acked_before, 0)

    def skipped_text(self) -> str:
        """How many events of the input a resume found in the log, for its summary."""
        lost = self.unconfirmed()
        return f"{self.skipped:,}" + (f" ({lost:,} of them written but never acknowledged)" if lost else "")


async def open_run(
    kafka: KafkaConnection,
    path: Path,
    source: dict[str, Any],
    total: int,
    topics: list[str],
    *,
    resume: bool,
    what: str,
    resume_command: str,
) -> Resumable:
    """Start a fresh run (recording where the log ends now) or resume the stopped one recorded at ``path``.

    ``source`` identifies the input (path and digest, or simulation parameters); ``what`` names it for people,
    ``resume_command`` is the command that resumes. ``CannotResume`` names what is wrong."""
    lock = lock_run(path, what)
    try:
        earlier = load_run(path)
        if resume:
            if earlier is None:
                raise CannotResume(f"nothing to resume: no stopped publish of {what} is recorded (in {path.parent})")
            if earlier.input != source or earlier.total != total:
                raise CannotResume(
                    f"{what} is not what the stopped publish was publishing ({path} records {earlier.input}); "
                    f"resume with the same input, or delete {path} to publish this one from the start"
                )
            present = await _from_kafka(kafka, event_ids_since(kafka, earlier.start_offsets), "read the log")
            return Resumable(path, earlier, True, present, earlier.acked, _lock=lock)
        if earlier is not None:
            raise CannotResume(
                f"a publish of {what} started {earlier.started_at} stopped after {earlier.acked:,} of "
                f"{earlier.total:,} events were acknowledged; run `{resume_command}` to publish the rest "
                f"without duplicates, or delete {path} to publish all of it again as new events"
            )
        run = PublishRun(source, total, await _from_kafka(kafka, end_offsets(kafka, topics), "ask where the log ends"))
        save_run(path, run)  # before the first event is sent: a resume must know where this run began
        return Resumable(path, run, _lock=lock)
    except BaseException:
        lock.close()
        raise


async def _from_kafka(kafka: KafkaConnection, asked: Awaitable[T], what: str) -> T:
    """``asked``, or ``CannotResume`` naming the broker when it went away (the run has not begun: nothing sent)."""
    try:
        return await asked
    except (KafkaError, OSError, TimeoutError) as why:
        raise CannotResume(
            f"cannot {what} at Kafka {kafka.bootstrap} ({type(why).__name__}: {why}); nothing was sent — run the "
            "same command again once it answers"
        ) from None


def lock_run(path: Path, what: str) -> IO[Any]:
    """Hold the lock of the run recorded at ``path`` (released when the returned file is closed)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    lock = open(f"{path}.lock", "a+")  # noqa: SIM115 — held for the whole run, closed by Resumable.release
    try:
        fcntl.flock(lock.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        lock.close()
        raise CannotResume(f"another publish of {what} is running right now; wait for it to end") from None
    lock.truncate(0)
    lock.write(f"{os.getpid()}\n")
    lock.flush()
    return lock


def stopped_message(
    why: str, run: Resumable, acked: int, refused: int, total: int, unit: str, resume_command: str
) -> str:
    """The one line for a publish that stopped: why, exactly how many events the broker acknowledged, how many
    are left, and the command that publishes them."""
    left = max(total - run.skipped - acked - refused, 0)
    if run.resumed:
        done = f"{acked:,} more {unit} acknowledged in this run, {run.skipped + acked:,} of {total:,} in the log in all"
    else:
        done = f"{acked:,} of {total:,} {unit} acknowledged by the broker"
    if refused:
        done += f", {refused:,} refused"
    return (
        f"{why}: {done}, {left:,} not published or not confirmed; once it is fixed, run `{resume_command}` to "
        "publish the rest (what reached the log is not published twice)"
    )
