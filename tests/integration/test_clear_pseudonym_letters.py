"""A raw producer's record that shows a client's pseudonym in clear: dead-lettered once, never copied.

Before, each `kim replay` sent it to `kim.dlq` again, bytes and pseudonym included (four copies after two
rebuilds), and `kim erase` could reach none of them. Now its letter carries no bytes (the record stays only at
its source position) and a rebuild sends no second letter for a record already dead-lettered.
"""

from __future__ import annotations

import asyncio

import pytest

from schemas import Codec
from streams.runtime.dlq import OMITTED_HEADER, PSEUDONYM_OMITTED
from tests.integration.conftest import Lane
from tests.integration.helpers import caught_up, read_all, run_kim, send_raw
from tests.unit.bad_records import fresh, raw

pytestmark = pytest.mark.integration

PSEUDONYM = "P-CLEAR-7f3a9c2e41b8"


def test_a_clear_pseudonym_is_dead_lettered_once_without_its_bytes_and_rebuilds_add_no_copy(lane: Lane) -> None:
    codec = Codec()
    envelope, payload = fresh("CaseOpened", codec, case_id="DO-2025-C1", client_ref=PSEUDONYM, client_sealed=None)
    value = raw(codec.schema_for("CaseOpened"), envelope, payload)
    assert PSEUDONYM.encode() in value
    worker = lane.worker("caseload")

    async def scenario() -> None:
        partition, offset = await send_raw(lane, "kim.cases", b"DO-2025-C1", value)
        await caught_up(lane, worker, {(lane.topic("kim.cases"), partition): offset + 1})

    asyncio.run(scenario())
    for _ in range(2):
        rebuilt = run_kim(lane, "replay", "caseload", timeout=300)
        assert rebuilt.returncode == 0, rebuilt.stdout + rebuilt.stderr
    letters = asyncio.run(read_all(lane, "kim.dlq"))
    assert len(letters) == 1, [dict(letter.headers) for letter in letters]  # one letter, not one per rebuild
    (letter,) = letters
    headers = {k: v.decode() for k, v in letter.headers}
    assert letter.value == b"" and headers[OMITTED_HEADER] == PSEUDONYM_OMITTED
    assert "in clear on the log" in headers["kim.reason"]
    assert all(PSEUDONYM.encode() not in v for _, v in letter.headers) and PSEUDONYM.encode() not in (letter.key or b"")
    assert not asyncio.run(lane.fetch("SELECT 1 FROM caseload_cases"))  # never applied
