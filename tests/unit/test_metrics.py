"""The Prometheus text a worker serves: exposition format, counters, gauges (pure, no services)."""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime, timedelta

import pytest

from infra.errors import SetupError
from infra.settings import load_settings
from projections.records import LogRecord, Rejection
from streams.operations.health import PartitionState, Rebuild
from streams.operations.metrics import Family, Histogram, Sample, WorkerMetrics, render, state_families

# One line of the text format 0.0.4: a comment (HELP/TYPE) or a sample with escaped label values.
_NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
_LABEL_VALUE = r'"(?:[^"\\\n]|\\\\|\\"|\\n)*"'
_LABELS = rf"\{{(?:[a-zA-Z_][a-zA-Z0-9_]*={_LABEL_VALUE})(?:,[a-zA-Z_][a-zA-Z0-9_]*={_LABEL_VALUE})*\}}"
_VALUE = r"(?:[+-]?(?:\d+(?:\.\d*)?(?:[eE][+-]?\d+)?)|\+Inf|-Inf|NaN)"
HELP = re.compile(rf"# HELP ({_NAME}) (?:[^\\\n]|\\\\|\\n)*")
TYPE = re.compile(rf"# TYPE ({_NAME}) (counter|gauge|histogram|summary|untyped)")
SAMPLE = re.compile(rf"({_NAME})({_LABELS})? ({_VALUE})")


def parse(text: str) -> dict[str, dict]:
    """A strict reader of the exposition text: every line must match; HELP and TYPE once per family,
    before its samples; a sample belongs to the family declared last."""
    assert text.endswith("\n")
    families: dict[str, dict] = {}
    current = None
    for line in text[:-1].split("\n"):
        if m := HELP.fullmatch(line):
            assert m[1] not in families, f"family {m[1]} twice"
            current = families[m[1]] = {"help": line, "type": None, "samples": []}
        elif m := TYPE.fullmatch(line):
            assert current is families.get(m[1]) and current["type"] is None and not current["samples"], line
            current["type"] = m[2]
        else:
            m = SAMPLE.fullmatch(line)
            assert m, f"not a sample line: {line!r}"
            assert current is not None
            name = next(iter(k for k, v in families.items() if v is current))
            suffixes = ("", "_bucket", "_sum", "_count") if current["type"] == "histogram" else ("",)
            assert m[1] in {name + s for s in suffixes}, f"{m[1]} outside its family {name}"
            current["samples"].append((m[1], m[2] or "", m[3]))
    for name, family in families.items():
        assert family["type"] is not None
        if family["type"] == "counter":
            assert name.endswith("_total")
    return families


def test_label_values_and_help_are_escaped() -> None:
    text = render(
        [
            Family(
                "kim_x_total",
                "counter",
                'with \\ and\nnewline and "quotes"',
                (Sample((("projection", 'a"b\\c\nd'),), 3),),
            )
        ]
    )
    assert text.splitlines()[0] == '# HELP kim_x_total with \\\\ and\\nnewline and "quotes"'
    assert text.splitlines()[2] == 'kim_x_total{projection="a\\"b\\\\c\\nd"} 3'
    assert parse(text)["kim_x_total"]["type"] == "counter"


def test_values_are_written_as_prometheus_reads_them() -> None:
    samples = tuple(Sample((("i", str(i)),), v) for i, v in enumerate([0, 7.0, 0.25, math.nan, math.inf, -math.inf]))
    lines = render([Family("kim_g", "gauge", "g", samples)]).splitlines()[2:]
    assert [line.split(" ")[1] for line in lines] == ["0", "7", "0.25", "NaN", "+Inf", "-Inf"]


@pytest.mark.parametrize(
    ("family", "message"),
    [
        (Family("kim_events", "counter", "h", ()), "must end in _total"),
        (Family("kim-bad", "gauge", "h", ()), "not a valid metric name"),
        (Family("kim_g", "gauge", "h", (Sample((("__x", "1"),), 1),)), "not a valid label name"),
    ],
)
def test_render_refuses_what_prometheus_would_reject(family: Family, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        render([family])


def test_a_family_is_rendered_once() -> None:
    with pytest.raises(ValueError, match="twice"):
        render([Family("kim_g", "gauge", "h", ()), Family("kim_g", "gauge", "h", ())])


def test_histogram_buckets_are_cumulative_and_end_in_inf() -> None:
    histogram = Histogram([0.1, 1.0])
    for value in (0.05, 0.5, 0.5, 3.0):
        histogram.observe(value)
    text = render([Family("kim_batch_seconds", "histogram", "h", histogram.samples((("projection", "p"),)))])
    samples = parse(text)["kim_batch_seconds"]["samples"]
    assert samples == [
        ("kim_batch_seconds_bucket", '{projection="p",le="0.1"}', "1"),
        ("kim_batch_seconds_bucket", '{projection="p",le="1.0"}', "3"),
        ("kim_batch_seconds_bucket", '{projection="p",le="+Inf"}', "4"),
        ("kim_batch_seconds_sum", '{projection="p"}', "4.05"),
        ("kim_batch_seconds_count", '{projection="p"}', "4"),
    ]


def _record(partition: int, offset: int) -> LogRecord:
    return LogRecord("kim.cases", partition, offset, b"k", b"v")


def test_worker_counts_each_new_record_once_and_dead_letters_apart() -> None:
    metrics = WorkerMetrics("caseload")
    metrics.assign({("kim.cases", 0): 10}, [("kim.cases", 0), ("kim.cases", 1)])
    batch = [_record(0, 9), _record(0, 10), _record(0, 11), _record(1, 0), _record(1, 1)]
    metrics.batch_committed(batch, [Rejection(_record(1, 1), "undecodable")], 0.02)
    metrics.batch_committed([_record(0, 11), _record(0, 12)], [], 0.5)  # 11 again after a re-fetch
    assert metrics.applied == {("kim.cases", 0): 3, ("kim.cases", 1): 1}
    assert metrics.dead_letters == {("kim.cases", 1): 1}
    families = parse(render(metrics.families()))
    assert families["kim_events_applied_total"]["samples"] == [
        ("kim_events_applied_total", '{projection="caseload",topic="kim.cases",partition="0"}', "3"),
        ("kim_events_applied_total", '{projection="caseload",topic="kim.cases",partition="1"}', "1"),
    ]
    assert families["kim_batches_total"]["samples"] == [("kim_batches_total", '{projection="caseload"}', "2")]
    count = [s for s in families["kim_batch_seconds"]["samples"] if s[0] == "kim_batch_seconds_count"]
    assert count == [("kim_batch_seconds_count", '{projection="caseload"}', "2")]


def test_state_gauges_lag_freshness_dlq_and_rebuilds() -> None:
    now = datetime(2026, 11, 30, 12, tzinfo=UTC)
    partitions = [
        PartitionState("kim.cases", 0, 120, 100, datetime(2025, 3, 1, tzinfo=UTC), now),
        PartitionState("kim.cases", 1, 0, 0, None, None),
    ]
    rebuild = Rebuild("replay_caseload_1", "caseload", "rebuild", "running", 250, 1000, now, now - timedelta(seconds=5))
    unknown = Rebuild("asof_x", "caseload", "as_of", "running", 7, None, now, now)
    families = parse(render(state_families("caseload", partitions, 4, [rebuild, unknown], True)))
    lag = families["kim_consumer_lag"]["samples"]
    assert [(s[1], s[2]) for s in lag] == [
        ('{projection="caseload",topic="kim.cases",partition="0"}', "20"),
        ('{projection="caseload",topic="kim.cases",partition="1"}', "0"),
    ]
    last = families["kim_last_event_timestamp_seconds"]["samples"]
    assert float(last[0][2]) == datetime(2025, 3, 1, tzinfo=UTC).timestamp()
    assert last[1][2] == "NaN"
    assert families["kim_dlq_letters"]["samples"] == [("kim_dlq_letters", '{projection="caseload"}', "4")]
    ratio = families["kim_rebuild_progress_ratio"]["samples"]
    assert ratio == [
        ("kim_rebuild_progress_ratio", '{projection="caseload",copy="replay_caseload_1",kind="rebuild"}', "0.25"),
        ("kim_rebuild_progress_ratio", '{projection="caseload",copy="asof_x",kind="as_of"}', "NaN"),
    ]
    assert families["kim_rebuild_applied"]["samples"][0][2] == "250"
    assert families["kim_state_read_ok"]["samples"] == [("kim_state_read_ok", '{projection="caseload"}', "1")]


def test_metrics_ports_follow_the_base_and_0_turns_them_off() -> None:
    assert [load_settings({}).metrics_port_of(i) for i in range(3)] == [9464, 9465, 9466]
    assert load_settings({"KIM_METRICS_PORT": "19000"}).metrics_port_of(2) == 19002
    assert load_settings({"KIM_METRICS_PORT": "0"}).metrics_port_of(1) is None


@pytest.mark.parametrize("raw", ["x", "-1", "65534", "99999"])
def test_a_broken_metrics_port_names_itself_and_the_fix(raw: str) -> None:
    with pytest.raises(SetupError, match=rf"KIM_METRICS_PORT='{raw}' is not a TCP port; .* 0 to turn metrics off"):
        load_settings({"KIM_METRICS_PORT": raw})
