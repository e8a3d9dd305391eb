"""`kim replay` through the real broker and database: rebuilds equal the live result and the oracle,
beside a live worker, after SIGKILL and Ctrl-C; readers never see half a swap; as-of copies equal
the oracle folded up to T; refusals are one clear line.
"""

from __future__ import annotations

import asyncio
import io
import signal
import subprocess
import sys
import time
from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime

import asyncpg
import pytest
from aiokafka import TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.records_to_delete import RecordsToDelete

from cli.catchup import wait_caught_up
from projections.registry import PROJECTIONS
from streams.runtime.bulk import catch_up
from streams.runtime.progress import Progress
from tests.integration.conftest import REPO, Lane
from tests.integration.helpers import read_all, run_kim
from tests.oracles import caseload as caseload_oracle
from tests.oracles import compare
from tests.oracles.history import sized
from tests.oracles.publish import Encoded, encode, publish, with_repeats

pytestmark = pytest.mark.integration

EVENTS = 8_000


@pytest.fixture(scope="module")
def records() -> list[Encoded]:
    return with_repeats(encode(sized(EVENTS, seed=21)), share=0.01, seed=4)


def kim(lane: Lane, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return run_kim(lane, *args, timeout=300, **env)


def start_kim(lane: Lane, *args: str) -> subprocess.Popen[str]:
    """`kim …` in the background, interruptible by SIGINT as at a terminal — even when the tests themselves run
    as a background job of a non-interactive shell, whose children inherit SIGINT ignored (Python then installs
    no KeyboardInterrupt handler and a Ctrl-C test would see the replay finish instead)."""
    return subprocess.Popen(
        [sys.executable, "-m", "cli.main", *args],
        env=lane.env(),
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=_sigint_as_at_a_terminal,
    )


def _sigint_as_at_a_terminal() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


async def _publish(lane: Lane, records: list[Encoded]) -> dict[tuple[str, int], int]:
    return await publish(
        lane.kafka, [Encoded(replace(r.outgoing, topic=lane.prefix + r.outgoing.topic), r.event) for r in records]
    )


async def _bulk(lane: Lane, name: str) -> None:
    """The live projection, built by the bulk path (the same sink as a worker)."""
    await catch_up(
        PROJECTIONS[name],
        lane.kafka,
        lane.database_url,
        platform_secret=lane.platform_secret,
        topic_prefix=lane.prefix,
        progress=Progress(1, name, out=io.StringIO()),
    )


async def _tables(lane: Lane, name: str, schema: str = "public") -> dict[str, dict]:
    conn = await asyncpg.connect(lane.database_url, server_settings={"search_path": f"{schema}, public"})
    try:
        return await compare.db_tables(conn, compare.PROJECTION_TABLES[name])
    finally:
        await conn.close()


def _expected(records: list[Encoded], name: str, until: datetime | None = None) -> compare.Expected:
    events = [r.event for r in records if until is None or r.event.occurred_at <= until]
    expected = compare.oracle(events)
    expected.tables = {t: expected.tables[t] for t in compare.PROJECTION_TABLES[name]}
    return expected


async def _row(lane: Lane, schema: str) -> asyncpg.Record | None:
    rows = await lane.fetch("SELECT * FROM projection_rebuilds WHERE copy_schema = $1", schema)
    return rows[0] if rows else None


async def _audited(lane: Lane, action: str) -> list[tuple[str, str]]:
    rows = await lane.fetch("SELECT target, outcome FROM audit_log WHERE action = $1 ORDER BY target, id", action)
    return [(r["target"], r["outcome"]) for r in rows]


async def _schema_exists(lane: Lane, schema: str) -> bool:
    return bool(await lane.fetch("SELECT 1 FROM pg_namespace WHERE nspname = $1", schema))


def _ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, f"exit {result.returncode}\n{result.stdout}\n{result.stderr}"
    return result.stdout


def test_a_rebuild_of_each_projection_equals_the_live_result_and_the_oracle(lane: Lane, records: list) -> None:
    async def scenario() -> None:
        await _publish(lane, records)
        for name in PROJECTIONS:
            await _bulk(lane, name)
            before = await _tables(lane, name)
            out = _ok(kim(lane, "replay", name))
            assert "every row equal" in out and "swapped it in" in out, out
            assert "differing" not in out
            after = await _tables(lane, name)
            compare.assert_same(after, before)
            compare.assert_same(after, _expected(records, name).tables)
            row = await _row(lane, f"rebuild_{name}")
            assert row["state"] == "swapped" and row["finished_at"] is not None and row["applied"] == row["total"]
            assert not await _schema_exists(lane, f"rebuild_{name}")
        assert await _audited(lane, "replay.swap") == [(n, "ok") for n in sorted(PROJECTIONS)]
        # a rebuild sends no second letter for what the projection already dead-lettered: one letter per record
        letters = await read_all(lane, "kim.dlq", timeout=60)
        headers = [dict(r.headers) for r in letters]
        assert headers and not any(b"kim.rebuild" in h for h in headers)
        positions = Counter(
            (h["kim.projection"], h["kim.source.topic"], h["kim.source.partition"], h["kim.source.offset"])
            for h in headers
        )
        assert set(positions.values()) == {1}

    asyncio.run(scenario())


def test_a_rebuild_while_the_live_worker_applies_new_events_swaps_in_the_fold_at_the_same_offsets(
    lane: Lane, records: list
) -> None:
    half = len(records) // 2

    async def scenario() -> None:
        targets = await _publish(lane, records[:half])
        worker = lane.worker("caseload")
        await wait_caught_up(lane.database_url, "caseload", _cases(lane, targets), 300, worker.alive)
        replay = start_kim(lane, "replay", "caseload", "--batch", "100")
        rest = records[half:]
        for i in range(0, len(rest), 400):  # new events keep arriving while the replay runs
            for tp, end in (await _publish(lane, rest[i : i + 400])).items():
                targets[tp] = max(targets.get(tp, 0), end)
            await asyncio.sleep(0.2)
        out, err = await asyncio.to_thread(replay.communicate, timeout=300)
        assert replay.returncode == 0, f"{out}\n{err}\n{worker.log_text()[-3000:]}"
        assert "every row equal" in out, out
        print(out, err[-2000:])
        await wait_caught_up(lane.database_url, "caseload", _cases(lane, targets), 300, worker.alive)
        compare.assert_same(await _tables(lane, "caseload"), _expected(records, "caseload").tables)
        assert worker.alive()

    asyncio.run(scenario())


def _cases(lane: Lane, targets: dict[tuple[str, int], int]) -> dict[tuple[str, int], int]:
    return {tp: end for tp, end in targets.items() if tp[0] == lane.topic("kim.cases")}


def test_an_interrupted_replay_resumes_from_its_own_checkpoints_and_ends_equal(lane: Lane, records: list) -> None:
    async def scenario() -> None:
        await _publish(lane, records)
        await _bulk(lane, "caseload")
        expected = _expected(records, "caseload").tables

        async def midway(process: subprocess.Popen[str]) -> int:
            deadline = time.monotonic() + 120
            while True:
                row = await _row(lane, "rebuild_caseload")
                if row is not None and row["total"] and 0 < row["applied"] < row["total"]:
                    return row["applied"]
                assert process.poll() is None, process.communicate()
                assert time.monotonic() < deadline, "the replay never got part-way"
                await asyncio.sleep(0.05)

        first = start_kim(lane, "replay", "caseload", "--batch", "20")
        await midway(first)
        first.send_signal(signal.SIGINT)  # Ctrl-C: a clean stop that says how to resume
        _, err = await asyncio.to_thread(first.communicate, timeout=60)
        assert first.returncode == 130 and "run the same command again to resume" in err, err
        assert "Traceback" not in err

        second = start_kim(lane, "replay", "caseload", "--batch", "20")
        applied = await midway(second)
        second.kill()  # SIGKILL: nothing to clean up
        second.wait(30)
        row = await _row(lane, "rebuild_caseload")
        assert row["state"] == "running" and await _schema_exists(lane, "rebuild_caseload")

        out = _ok(kim(lane, "replay", "caseload"))
        assert "(resumed)" in out and "every row equal" in out, out
        assert applied > 0
        compare.assert_same(await _tables(lane, "caseload"), expected)
        assert (await _row(lane, "rebuild_caseload"))["state"] == "swapped"

    asyncio.run(scenario())


SNAPSHOT = """
    SELECT (SELECT count(*) FROM backlog_applications), (SELECT sum(documents_requested) FROM backlog_applications),
           (SELECT count(*) FROM backlog_intervals), (SELECT sum(seq) FROM backlog_intervals)
"""


def test_a_reader_during_the_swap_sees_the_old_or_the_new_state_never_a_mix(lane: Lane, records: list) -> None:
    async def scenario() -> None:
        await _publish(lane, records)
        await _bulk(lane, "backlog")
        conn = await asyncpg.connect(lane.database_url)
        try:
            # a "bug" in the live copy: the rebuild repairs it, so old and new differ in both tables
            some = "SELECT application_id FROM backlog_applications ORDER BY application_id LIMIT 25"
            await conn.execute(f"DELETE FROM backlog_intervals WHERE application_id IN ({some})")
            await conn.execute(
                f"UPDATE backlog_applications SET documents_requested = 99 WHERE application_id IN ({some})"
            )
            old = tuple(await conn.fetchrow(SNAPSHOT))
            refused = await asyncio.to_thread(kim, lane, "replay", "backlog")
            assert refused.returncode == 1 and "differs from the live one" in refused.stderr, refused
            assert "only in copy 0, differing 25" in refused.stdout, refused.stdout
            assert tuple(await conn.fetchrow(SNAPSHOT)) == old and await _schema_exists(lane, "rebuild_backlog")
            assert (await _row(lane, "rebuild_backlog"))["state"] == "failed"

            seen: set[tuple] = set()
            replay = start_kim(lane, "replay", "backlog", "--accept-differences")
            reads = 0
            while replay.poll() is None:
                seen.add(tuple(await conn.fetchrow(SNAPSHOT)))
                reads += 1
            out, err = replay.communicate()
            assert replay.returncode == 0, f"{out}\n{err}"
            assert "(resumed)" in out, out
            new = tuple(await conn.fetchrow(SNAPSHOT))
            seen.add(new)
            assert new != old
            assert seen <= {old, new}, f"{reads} reads saw a mix: {seen - {old, new}}"
            print(f"{reads} reads during the replay; {out}")
            compare.assert_same(await _tables(lane, "backlog"), _expected(records, "backlog").tables)
            assert await _audited(lane, "replay.swap") == [("backlog", "refused"), ("backlog", "ok")]
        finally:
            await conn.close()

    asyncio.run(scenario())


def test_an_as_of_copy_equals_the_oracle_folded_up_to_t_and_stays_beside_the_live_tables(
    lane: Lane, records: list
) -> None:
    until = datetime(2025, 3, 31, 21, 59, 59, 999999, tzinfo=UTC)  # end of 31 March in Dortmund (CEST)
    as_of = datetime(2025, 3, 31, 12, tzinfo=UTC)
    schema = "asof_caseload_2025_03_31"

    async def scenario() -> None:
        await _publish(lane, records)
        await _bulk(lane, "caseload")
        live = await _tables(lane, "caseload")
        letters = len(await read_all(lane, "kim.dlq", timeout=60))
        out = _ok(kim(lane, "replay", "caseload", "--until", "2025-03-31"))
        assert f"as-of copy {schema} of caseload is ready" in out, out
        expected = _expected(records, "caseload", until)
        copy = await _tables(lane, "caseload", schema)
        compare.assert_same(copy, expected.tables)
        assert 0 < len(copy["caseload_cases"]) < len(live["caseload_cases"])
        compare.assert_same(await _tables(lane, "caseload"), live)  # never swapped in
        # rejections are kept in the copy, not dead-lettered
        assert len(await read_all(lane, "kim.dlq", timeout=60)) == letters
        stored = await lane.fetch(f"SELECT count(*) AS n FROM {schema}.rejections")
        assert stored[0]["n"] == len(expected.rejected["caseload"])
        assert f"{len(expected.rejected['caseload'])} events rejected" in out

        conn = await asyncpg.connect(lane.database_url)
        try:
            # the projection's SQL functions resolve table names at call time: they work on the copy
            await conn.execute(f"SET search_path TO {schema}, public")
            rows = await conn.fetch("SELECT * FROM caseload_waiting($1)", as_of)
            await conn.execute("RESET search_path")
            want = caseload_oracle.views(expected.tables["caseload_cases"], as_of)["caseload_waiting"]
            assert compare.differences({r[0]: tuple(r[1:]) for r in rows}, want) == []
            assert rows != await conn.fetch("SELECT * FROM caseload_waiting($1)", as_of)
            with pytest.raises(asyncpg.InsufficientPrivilegeError):  # case-level data: not for analysts
                async with conn.transaction():
                    await conn.execute("SET LOCAL ROLE kim_analyst")
                    await conn.fetch(f"SELECT * FROM {schema}.caseload_cases")
        finally:
            await conn.close()

        again = kim(lane, "replay", "caseload", "--until", "2025-03-31")
        assert again.returncode == 1 and "already exists" in again.stderr, again
        listed = _ok(kim(lane, "replay", "--list"))
        assert schema in listed and "ready" in listed and "as_of" in listed, listed
        assert "dropped" in _ok(kim(lane, "replay", "--drop", schema))
        assert not await _schema_exists(lane, schema)
        assert (await _row(lane, schema))["state"] == "dropped"
        assert await _audited(lane, "replay.as_of") == [(schema, "ok")]
        assert await _audited(lane, "replay.drop") == [(schema, "ok")]

    asyncio.run(scenario())


def _one_error(result: subprocess.CompletedProcess[str], text: str) -> None:
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 1, result
    assert len(lines) == 1 and lines[0].startswith("error: ") and text in lines[0], result.stderr


def test_refusals_are_one_clear_line(lane: Lane, records: list) -> None:
    async def scenario() -> None:
        await _publish(lane, records[:2000])
        _one_error(kim(lane, "replay", "nosuch"), "unknown projection 'nosuch'")
        _one_error(kim(lane, "replay", "--drop", "asof_nothing"), "there is no copy")
        nowhere = {"KIM_DATABASE_URL": "postgresql://kim@127.0.0.1:1/kim"}
        nowhere["KIM_OPERATIONS_DATABASE_URL"] = nowhere["KIM_DATABASE_URL"]  # replay logs in as operations
        _one_error(kim(lane, "replay", "caseload", **nowhere), "cannot reach the database")
        _one_error(kim(lane, "replay", "--list", **nowhere), "cannot reach the database")

        conn = await asyncpg.connect(lane.database_url)
        try:  # as a running rebuild of caseload does
            await conn.execute("SELECT pg_advisory_lock(hashtextextended('kim-rebuild|caseload', 0))")
            _one_error(await asyncio.to_thread(kim, lane, "replay", "caseload"), "another `kim replay` is running")
        finally:
            await conn.close()

        admin = AIOKafkaAdminClient(**lane.kafka.options())
        await admin.start()
        try:  # retention removed the start of one partition
            await admin.delete_records({TopicPartition(lane.topic("kim.immigration"), 0): RecordsToDelete(1)})
        finally:
            await admin.close()
        _one_error(await asyncio.to_thread(kim, lane, "replay", "backlog"), "no longer holds the full history")
        _one_error(
            await asyncio.to_thread(kim, lane, "replay", "backlog", "--until", "2025-03-31"),
            "no longer holds the full history",
        )
        assert await _row(lane, "rebuild_backlog") is None
        assert await _audited(lane, "replay") == [
            ("asof_backlog_2025_03_31", "refused"),
            ("rebuild_backlog", "refused"),
            ("rebuild_caseload", "refused"),
        ]

    asyncio.run(scenario())
