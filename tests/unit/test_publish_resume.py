"""The pure parts of a resumable publish: the progress file, event ids read from raw records, which events a
resume skips, the one line of a stopped publish and the refusals before anything is sent."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cli.publish import resume_command as file_resume_command
from cli.simulate import make_config
from cli.simulate_publish import resume_command as simulation_resume_command
from streams.kafka.connection import KafkaConnection
from streams.sdk.draft import EventDraft
from streams.sdk.prepare import Preparer
from streams.usecases.log_event_ids import event_id_of
from streams.usecases.publish_progress import (
    ProgressFileError,
    PublishRun,
    load_run,
    progress_path,
    save_run,
)
from streams.usecases.resumable_publish import CannotResume, Resumable, lock_run, open_run, stopped_message

UNREACHABLE = KafkaConnection("127.0.0.1:9")  # the refusals come before Kafka is asked anything


def a_run(**changes: object) -> PublishRun:
    run = PublishRun({"file": "/data/x.jsonl", "sha256": "ab"}, 10, {("kim.cases", 0): 5, ("kim.cases", 1): 0})
    for name, value in changes.items():
        setattr(run, name, value)
    return run


def test_event_ids_are_the_same_for_the_same_run_and_place_and_differ_otherwise() -> None:
    run, other = a_run(), a_run()
    assert run.event_id(7) == PublishRun.from_json(run.to_json()).event_id(7)
    assert run.event_id(7) != run.event_id(8)
    assert run.event_id(7) != other.event_id(7)  # publishing the same file again is a new run: new ids


def test_the_progress_file_round_trips_and_is_written_whole(tmp_path: Path) -> None:
    path = tmp_path / "run" / "publish" / "file-1.json"
    run = a_run(acked=3)
    save_run(path, run)
    assert load_run(path) == run
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temporary file left beside it
    assert load_run(tmp_path / "missing.json") is None


@pytest.mark.parametrize("text", ["{", "[]", '{"format": 1}', '{"format": 99}'])
def test_a_damaged_progress_file_is_one_error_naming_it(tmp_path: Path, text: str) -> None:
    path = tmp_path / "file-1.json"
    path.write_text(text)
    with pytest.raises(ProgressFileError, match=f"{path}.*delete it"):
        load_run(path)


def test_each_input_and_topic_prefix_has_its_own_progress_file(tmp_path: Path) -> None:
    paths = {
        progress_path(tmp_path, "file", "/data/a.jsonl"),
        progress_path(tmp_path, "file", "/data/b.jsonl"),
        progress_path(tmp_path, "file", "/data/a.jsonl", "test-1."),
        progress_path(tmp_path, "simulate", "/data/a.jsonl"),
    }
    assert len(paths) == 4 and all(p.parent == tmp_path / "publish" for p in paths)


def test_the_event_id_is_read_from_the_raw_record() -> None:
    run = a_run()
    draft = EventDraft("CaseClosed", {"case_id": "DO-1", "reason": "GOALS_ACHIEVED"})
    outgoing = Preparer("JOBCENTER").prepare(draft, event_id=run.event_id(4))
    assert event_id_of(outgoing.value) == run.event_id(4) == outgoing.event_id


@given(st.binary(max_size=64))
def test_any_bytes_give_an_id_or_none_never_an_error(data: bytes) -> None:
    for value in (data, b"\xc3\x01" + bytes(8) + data):
        found = event_id_of(value)
        assert found is None or isinstance(found, str)


def test_a_resume_skips_exactly_the_events_whose_ids_are_in_the_log(tmp_path: Path) -> None:
    run = a_run(acked=2)
    present = {run.event_id(n) for n in (1, 2, 3)} | {"someone-elses-event"}
    resumable = Resumable(tmp_path / "r.json", run, resumed=True, present=present, acked_before=2)
    assert resumable.in_log(range(1, 8)) == {1, 2, 3}
    assert resumable.skipped == 3
    assert resumable.unconfirmed() == 1  # written, its acknowledgement lost
    assert resumable.skipped_text() == "3 (1 of them written but never acknowledged)"


def test_the_stopped_line_states_the_exact_count_what_is_left_and_the_command(tmp_path: Path) -> None:
    fresh = Resumable(tmp_path / "r.json", a_run())
    line = stopped_message("Kafka at h:1 stopped answering", fresh, 4, 1, 10, "lines", "kim publish /x --resume")
    assert line == (
        "Kafka at h:1 stopped answering: 4 of 10 lines acknowledged by the broker, 1 refused, 5 not published or "
        "not confirmed; once it is fixed, run `kim publish /x --resume` to publish the rest (what reached the log "
        "is not published twice)"
    )
    assert "\n" not in line
    again = Resumable(tmp_path / "r.json", a_run(), resumed=True, skipped=6)
    line = stopped_message("why", again, 2, 0, 10, "events", "cmd")
    assert line.startswith("why: 2 more events acknowledged in this run, 8 of 10 in the log in all, 2 not published")


def test_the_resume_commands_give_the_same_input_again(tmp_path: Path) -> None:
    name = tmp_path / "a b.jsonl"
    assert file_resume_command(name) == f"kim publish '{name}' --resume"
    assert file_resume_command(name, 5) == f"kim publish '{name}' --resume --ack-timeout 5"
    config = make_config("0.3", "7", "0.123456789", "2025-02-01")
    command = simulation_resume_command(config)
    assert command == "kim simulate --publish --years 0.3 --seed 7 --scale 0.123456789 --start 2025-02-01 --resume"
    words = command.split()
    again = make_config(*(words[words.index(f"--{n}") + 1] for n in ("years", "seed", "scale", "start")))
    assert again == config


def _open(path: Path, *, resume: bool, source: dict | None = None) -> Resumable:
    source = source if source is not None else {"file": "/data/x.jsonl", "sha256": "ab"}
    return asyncio.run(
        open_run(UNREACHABLE, path, source, 10, [], resume=resume, what="x.jsonl", resume_command="kim publish x")
    )


def test_resume_refuses_when_nothing_stopped_and_a_fresh_run_when_one_did(tmp_path: Path) -> None:
    path = tmp_path / "publish" / "file-1.json"
    with pytest.raises(CannotResume, match=r"nothing to resume: no stopped publish of x\.jsonl"):
        _open(path, resume=True)
    save_run(path, a_run(acked=4))
    with pytest.raises(CannotResume, match=r"stopped after 4 of 10 events.*run `kim publish x`.*or delete"):
        _open(path, resume=False)
    with pytest.raises(CannotResume, match=r"x\.jsonl is not what the stopped publish was publishing"):
        _open(path, resume=True, source={"file": "/data/x.jsonl", "sha256": "changed"})
    assert json.loads(path.read_text())["acked"] == 4  # refusing leaves the record as it was


def test_one_run_per_input_at_a_time(tmp_path: Path) -> None:
    path = tmp_path / "publish" / "file-1.json"
    save_run(path, a_run())
    first = Resumable(path, a_run(), _lock=lock_run(path, "x.jsonl"))
    with pytest.raises(CannotResume, match=r"another publish of x\.jsonl is running"):
        _open(path, resume=False)
    first.release()
    with pytest.raises(CannotResume, match="stopped after"):  # the lock is free again: the usual refusal
        _open(path, resume=False)
