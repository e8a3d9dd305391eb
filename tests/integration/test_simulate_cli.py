"""`kim simulate` through the real broker: every simulated event lands on its topic, each key's events in order."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest

from infra.client_keys import ClientKeyStore
from schemas import Codec
from schemas.sealing import SEALED, ClientKey, unseal
from simulation import SimEvent, SimulationConfig, simulate_list
from streams.usecases.publish_in_order import publish_in_order
from tests.integration.conftest import REPO, Lane
from tests.integration.helpers import client_keys, read_all

pytestmark = pytest.mark.integration

CONFIG = SimulationConfig(years=0.1, scale=0.02, seed=3)


def kim(*args: str, env: dict[str, str], timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cli.main", *args],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def expected_by_key(events: list[SimEvent]) -> dict[str, list[tuple[Any, ...]]]:
    grouped: dict[str, list[tuple[Any, ...]]] = defaultdict(list)
    for e in events:
        key = e.draft.payload.get("application_id") or e.draft.payload["case_id"]
        grouped[key].append((e.draft.event_type, e.agency, e.draft.occurred_at, e.draft.payload))
    return grouped


async def publish_keyed(lane: Lane, events: list[SimEvent], chunk: int) -> dict[tuple[str, int], int]:
    async with ClientKeyStore(lane.database_url, lane.secrets) as keys:
        return await publish_in_order(
            lane.kafka, events, topic_prefix=lane.prefix, chunk=chunk, client_keys=keys, platform_key=lane.platform_key
        )


def opened(payload: dict[str, Any], event_type: str, keys: dict[str, ClientKey]) -> dict[str, Any]:
    """The payload as published: a sealed client opened with its key from the lane's key table."""
    sealed = payload.get("client_sealed")
    if sealed is None:
        return payload
    aggregate = payload[SEALED[event_type]]
    return {
        **payload,
        "client_ref": unseal(keys[sealed["key_id"]], sealed, event_type, aggregate),
        "client_sealed": None,
    }


def on_the_topics(lane: Lane) -> dict[str, list[tuple[Any, ...]]]:
    """Every event on kim.cases and kim.immigration, per key in offset order (sealed clients opened)."""
    codec = Codec()
    keys = asyncio.run(client_keys(lane))
    grouped: dict[str, list[tuple[Any, ...]]] = defaultdict(list)
    for topic in ("kim.cases", "kim.immigration"):
        records = sorted(asyncio.run(read_all(lane, topic)), key=lambda r: (r.partition, r.offset))
        for record in records:
            event = codec.decode(record.value)
            grouped[record.key.decode()].append(
                (
                    event.event_type,
                    event.source_agency,
                    event.occurred_at,
                    opened(event.payload, event.event_type, keys),
                )
            )
    return grouped


def without_nulls(grouped: dict[str, list[tuple[Any, ...]]]) -> dict[str, list[tuple[Any, ...]]]:
    """Compare payloads without the optional fields that are null (a reader fills them in as defaults)."""
    return {
        key: [(t, a, at, {k: v for k, v in p.items() if v is not None}) for t, a, at, p in events]
        for key, events in grouped.items()
    }


def test_simulate_publish_puts_every_event_on_its_topic_in_per_key_order(lane: Lane) -> None:
    result = kim("simulate", "--years", "0.1", "--scale", "0.02", "--seed", "3", "--publish", env=lane.env())
    assert result.returncode == 0, result.stderr
    events = simulate_list(CONFIG)
    assert f"published {len(events):,} events" in result.stdout
    assert "Traceback" not in result.stdout + result.stderr
    expected = without_nulls(expected_by_key(events))
    published = without_nulls(on_the_topics(lane))
    assert sum(len(v) for v in published.values()) == len(events)
    assert published.keys() == expected.keys()
    mixed = [k for k, v in expected.items() if len({agency for _, agency, _, _ in v}) > 1]
    assert mixed  # keys whose events come from several agencies' producers
    for key, events_of_key in expected.items():
        assert published[key] == events_of_key, key
    (entry,) = asyncio.run(lane.fetch("SELECT * FROM audit_log WHERE action = 'events.simulate'"))
    assert entry["outcome"] == "ok" and entry["target"].startswith("seed 3, scale 0.02, ")
    assert json.loads(entry["details"])["events"] == len(events)  # the platform spoke for them: audited
    assert entry["db_login"].startswith("kim_operations")


def test_publish_in_order_keeps_every_key_in_order_and_returns_the_next_offsets(lane: Lane) -> None:
    events = simulate_list(SimulationConfig(years=0.5, scale=0.05, seed=9))
    expected = expected_by_key(events)
    assert sum(1 for v in expected.values() if len({agency for _, agency, _, _ in v}) > 1) > 20
    targets = asyncio.run(publish_keyed(lane, events, chunk=97))
    assert without_nulls(on_the_topics(lane)) == without_nulls(expected)
    records = asyncio.run(read_all(lane, "kim.cases")) + asyncio.run(read_all(lane, "kim.immigration"))
    ends: dict[tuple[str, int], int] = {}
    for record in records:
        ends[(record.topic, record.partition)] = max(ends.get((record.topic, record.partition), 0), record.offset + 1)
    assert targets == ends
    assert sum(targets.values()) == len(events)


def test_the_json_lines_of_kim_simulate_are_what_kim_publish_reads(lane: Lane, tmp_path: Path) -> None:
    path = tmp_path / "dortmund.jsonl"
    wrote = kim("simulate", "--years", "0.05", "--scale", "0.02", "--seed", "4", "--out", str(path), env=lane.env())
    assert wrote.returncode == 0, wrote.stderr
    published = kim("publish", str(path), env=lane.env())
    assert published.returncode == 0, published.stdout + published.stderr
    expected = without_nulls(expected_by_key(simulate_list(SimulationConfig(years=0.05, scale=0.02, seed=4))))
    assert without_nulls(on_the_topics(lane)) == expected


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--years", "0"], "error: --years must be positive"),
        (["--scale", "many"], "error: --scale 'many' is not a number"),
        (["--start", "2025-02-30"], "error: --start '2025-02-30' is not a date"),
        (["--start", "2099-01-01", "--publish"], "error: the simulated time runs until 2100-01-01"),
        (["--publish", "--out", "x.jsonl"], "error: choose --publish or --out FILE, not both"),
    ],
)
def test_bad_arguments_end_in_one_error_line(args: list[str], message: str) -> None:
    result = kim("simulate", *args, env=dict(os.environ))
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.startswith(message) and result.stderr.count("\n") == 1, result.stderr
