"""`kim publish` survives a broker loss: one `error:` line with the exact count, and a resume that publishes the
rest — every event exactly once, every case in order.

The publish runs against a throw-away broker of its own (own KIM_HOME, free ports; the other tests share the
session's broker, which must not be stopped), is SIGKILLed mid-publish, started again on the same KIM_HOME (its
log survives) and resumed with the command the error line names. The database is the lane's.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shlex
import signal
import subprocess
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import pytest
from aiokafka import TopicPartition

from infra import kafka_broker
from infra.platform_identity import child_env, kafka_connection
from infra.processes import run_sync
from infra.settings import Settings
from schemas import Codec
from simulation import SimulationConfig, simulate_list
from simulation.jsonl import to_line
from streams.kafka.connection import KafkaConnection
from streams.kafka.topics import end_offsets, provision
from tests.integration.conftest import REPO, Lane

pytestmark = pytest.mark.integration

CONFIG = SimulationConfig(years=1, scale=0.15, seed=11)  # ~18,000 events of 15 agencies, many cases handed over
ACK_TIMEOUT = "5"


def test_a_killed_broker_ends_in_one_line_and_the_resume_publishes_everything_exactly_once(
    lane: Lane, own_broker: Settings
) -> None:
    kafka = kafka_connection(own_broker)
    run_sync(provision(kafka, lane.prefix))
    events = simulate_list(CONFIG)
    path = lane.home / "dortmund.jsonl"
    path.write_text("".join(to_line(e) + "\n" for e in events))
    env = {**lane.env(), "KIM_KAFKA_BOOTSTRAP": kafka.bootstrap, **child_env(kafka)}

    publishing = subprocess.Popen(
        [sys.executable, "-m", "cli.main", "publish", str(path), "--chunk", "1000", "--ack-timeout", ACK_TIMEOUT],
        env=env,
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    _wait_for_acknowledged(lane.home / "run" / "publish", publishing)
    os.kill(_pid(own_broker), signal.SIGKILL)  # mid-publish: a window is in flight
    out, err = publishing.communicate(timeout=90)

    assert publishing.returncode != 0, out + err
    *progress, last = err.splitlines()
    assert all(line.startswith(f"{path.name}: ") for line in progress), err  # nothing else: no traceback, no log
    assert last.startswith(f"error: Kafka at {kafka.bootstrap} stopped answering"), err
    found = re.search(r": ([\d,]+) of ([\d,]+) lines acknowledged by the broker, ([\d,]+) not published", last)
    assert found, last
    acked, total, left = (int(n.replace(",", "")) for n in found.groups())
    assert total == len(events) and 0 < acked < total and acked + left == total, last
    command = re.search(r"run `(kim publish [^`]+ --resume[^`]*)`", last)
    assert command, last

    kafka_broker.start_broker(own_broker, log=lambda _: None)  # the same KIM_HOME: the log survived
    in_log = _read_events(kafka, lane.prefix)
    assert acked <= len(in_log) <= acked + 1000  # what was acknowledged, and at most a window written unacknowledged
    assert len({event_id for event_id, *_ in in_log}) == len(in_log)

    argv = shlex.split(command.group(1))[1:]
    resumed = subprocess.run(
        [sys.executable, "-m", "cli.main", *argv], env=env, cwd=REPO, capture_output=True, text=True, timeout=180
    )
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert f"accepted {len(events) - len(in_log):,} of {len(events):,} lines" in resumed.stdout, resumed.stdout
    found = re.search(
        r"; ([\d,]+)(?: \(([\d,]+) of them written but never acknowledged\))? were in the log", resumed.stdout
    )
    assert found, resumed.stdout
    unconfirmed = len(in_log) - acked  # written in the outage, acknowledgement lost: skipped all the same
    assert found.group(1) == f"{len(in_log):,}"
    assert found.group(2) == (f"{unconfirmed:,}" if unconfirmed else None)
    assert not list((lane.home / "run" / "publish").glob("*.json"))  # done: the progress file is gone

    published = _read_events(kafka, lane.prefix)
    assert len(published) == len(events)
    assert max(Counter(event_id for event_id, *_ in published).values()) == 1  # nothing twice
    assert _by_key(published) == _by_key_expected(events)  # nothing lost, every case in the file's order


def _wait_for_acknowledged(progress_dir: Path, process: subprocess.Popen[str], timeout: float = 60) -> None:
    """Until the run's progress file records acknowledged events (then it is mid-publish)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, "the publish ended before the broker was killed"
        for file in progress_dir.glob("*.json"):
            try:
                if json.loads(file.read_text())["acked"] > 0:
                    return
            except (ValueError, KeyError, OSError):
                pass  # being replaced right now
        time.sleep(0.05)
    raise AssertionError("no acknowledged events within the time")


def _pid(settings: Settings) -> int:
    pid = kafka_broker.broker_pid(settings)
    assert pid is not None
    return pid


Read = tuple[str, str, str, str, Any]  # event id, key, type, agency, occurred_at


def _read_events(kafka: KafkaConnection, prefix: str) -> list[Read]:
    return asyncio.run(_read(kafka, [prefix + "kim.cases", prefix + "kim.immigration"]))


async def _read(kafka: KafkaConnection, topics: list[str]) -> list[Read]:
    ends = {TopicPartition(t, p): end for (t, p), end in (await end_offsets(kafka, topics)).items() if end}
    codec = Codec()
    consumer = kafka.consumer(auto_offset_reset="earliest")
    await consumer.start()
    try:
        consumer.assign(list(ends))
        await consumer.seek_to_beginning(*ends)
        records = []
        async with asyncio.timeout(60):
            while any([await consumer.position(tp) < end for tp, end in ends.items()]):
                for batch in (await consumer.getmany(timeout_ms=500)).values():
                    records.extend(batch)
    finally:
        await consumer.stop()
    out = []
    for record in sorted(records, key=lambda r: (r.topic, r.partition, r.offset)):
        event = codec.decode(record.value)
        out.append(
            (event.envelope["event_id"], record.key.decode(), event.event_type, event.source_agency, event.occurred_at)
        )
    return out


def _by_key(read: list[Read]) -> dict[str, list[tuple[Any, ...]]]:
    grouped: dict[str, list[tuple[Any, ...]]] = defaultdict(list)
    for _, key, event_type, agency, occurred_at in read:
        grouped[key].append((event_type, agency, occurred_at))
    return grouped


def _by_key_expected(events: list[Any]) -> dict[str, list[tuple[Any, ...]]]:
    grouped: dict[str, list[tuple[Any, ...]]] = defaultdict(list)
    for e in events:
        key = e.draft.payload.get("application_id") or e.draft.payload["case_id"]
        grouped[key].append((e.draft.event_type, e.agency, e.draft.occurred_at))
    return grouped
