from analytics.table import table
from cli.catchup import behind
from projections.records import LogRecord, next_offsets
from tests.oracles.report import suppress


def _record(partition: int, offset: int) -> LogRecord:
    return LogRecord("kim.cases", partition, offset, b"k", b"v")


def test_next_offsets_is_highest_offset_plus_one_per_partition() -> None:
    records = [_record(0, 5), _record(1, 2), _record(0, 7), _record(0, 6)]
    assert next_offsets(records) == {("kim.cases", 0): 8, ("kim.cases", 1): 3}


def test_behind_lists_only_partitions_with_work_left() -> None:
    targets = {("t", 0): 10, ("t", 1): 4, ("t", 2): 3}
    assert behind(targets, {("t", 0): 10, ("t", 1): 1}) == {("t", 1): 3, ("t", 2): 3}


def test_small_cells_are_suppressed() -> None:
    assert [suppress(n) for n in (0, 1, 4, 5, 120)] == ["0", "<5", "<5", "5", "120"]


def test_table_aligns_columns() -> None:
    text = table(["agency", "open"], [["Jobcenter", 12], ["Jugendamt", "<5"]])
    lines = text.splitlines()
    assert lines[0] == "agency     open"
    assert lines[2] == "Jobcenter    12"
    assert lines[3] == "Jugendamt    <5"


def test_unseen_drops_records_below_the_checkpoint_and_repeats_within_a_batch() -> None:
    from streams.runtime.batch import unseen

    batch = [_record(0, 4), _record(0, 5), _record(1, 0), _record(0, 5), _record(0, 4), _record(0, 6), _record(1, 0)]
    fresh = unseen(batch, {("kim.cases", 0): 5})
    assert [(r.partition, r.offset) for r in fresh] == [(0, 5), (1, 0), (0, 6)]
