"""A worker's metrics and their Prometheus text exposition (format 0.0.4): pure, no I/O.

``WorkerMetrics`` counts what the worker did (events applied, batches, batch time, dead letters);
``state_families`` turns what Kafka and PostgreSQL report (lag, freshness, dead letters, rebuilds)
into gauges; ``render`` writes the text a Prometheus server scrapes.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from projections.records import LogRecord, Rejection, next_offsets
from streams.operations.health import PartitionState, Rebuild
from streams.runtime.batch import unseen

Kind = Literal["counter", "gauge", "histogram"]
Labels = tuple[tuple[str, str], ...]

_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*\Z")
_LABEL = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*\Z")
BATCH_SECONDS_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


@dataclass(frozen=True)
class Sample:
    labels: Labels
    value: float
    suffix: str = ""  # histograms: "_bucket", "_sum", "_count"


@dataclass(frozen=True)
class Family:
    name: str
    kind: Kind
    help: str
    samples: tuple[Sample, ...]


def render(families: Iterable[Family]) -> str:
    """The exposition text: HELP and TYPE once per family, then its samples; ends with a newline."""
    lines: list[str] = []
    seen: set[str] = set()
    for family in families:
        if not _NAME.match(family.name):
            raise ValueError(f"{family.name!r} is not a valid metric name")
        if family.name in seen:
            raise ValueError(f"metric family {family.name} rendered twice")
        if family.kind == "counter" and not family.name.endswith("_total"):
            raise ValueError(f"counter {family.name} must end in _total")
        seen.add(family.name)
        lines.append(f"# HELP {family.name} {_escape_help(family.help)}")
        lines.append(f"# TYPE {family.name} {family.kind}")
        for sample in family.samples:
            lines.append(f"{family.name}{sample.suffix}{_labels(sample.labels)} {_value(sample.value)}")
    return "\n".join(lines) + "\n" if lines else ""


def _escape_help(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def _escape_label(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(labels: Labels) -> str:
    if not labels:
        return ""
    for name, _ in labels:
        if not _LABEL.match(name) or name.startswith("__"):
            raise ValueError(f"{name!r} is not a valid label name")
    return "{" + ",".join(f'{name}="{_escape_label(value)}"' for name, value in labels) + "}"


def _value(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if float(value).is_integer() and abs(value) < 2**53:
        return str(int(value))
    return repr(float(value))


def _le(bound: float) -> str:
    return "+Inf" if math.isinf(bound) else repr(float(bound))


class Histogram:
    """Cumulative buckets, sum and count of observed values."""

    def __init__(self, buckets: Sequence[float] = BATCH_SECONDS_BUCKETS) -> None:
        self.bounds = (*sorted(buckets), math.inf)
        self.counts = [0] * len(self.bounds)
        self.sum = 0.0

    def observe(self, value: float) -> None:
        for i, bound in enumerate(self.bounds):
            if value <= bound:
                self.counts[i] += 1
        self.sum += value

    def samples(self, labels: Labels) -> tuple[Sample, ...]:
        buckets = [
            Sample((*labels, ("le", _le(b))), n, "_bucket") for b, n in zip(self.bounds, self.counts, strict=True)
        ]
        return (*buckets, Sample(labels, self.sum, "_sum"), Sample(labels, self.counts[-1], "_count"))


class WorkerMetrics:
    """What one worker process did since it started, per source partition."""

    def __init__(self, projection: str) -> None:
        self.projection = projection
        self.applied: Counter[tuple[str, int]] = Counter()
        self.dead_letters: Counter[tuple[str, int]] = Counter()
        self.batches = 0
        self.batch_seconds = Histogram()
        self.assigned: set[tuple[str, int]] = set()
        self._positions: dict[tuple[str, int], int] = {}

    def assign(self, checkpoints: Mapping[tuple[str, int], int], assigned: Iterable[tuple[str, int]]) -> None:
        """A new assignment: these partitions, starting at these checkpoints."""
        self.assigned = set(assigned)
        self._positions.update({tp: checkpoints.get(tp, 0) for tp in self.assigned})

    def batch_committed(self, records: Sequence[LogRecord], dead_lettered: Sequence[Rejection], seconds: float) -> None:
        """One batch committed: its new records (those past the checkpoint) count, each once."""
        fresh = unseen(records, self._positions)
        self._positions.update(next_offsets(fresh))
        rejected = Counter(r.record.tp for r in dead_lettered)
        for tp, n in Counter(r.tp for r in fresh).items():
            self.applied[tp] += n - rejected.get(tp, 0)
        self.dead_letters.update(rejected)
        self.batches += 1
        self.batch_seconds.observe(seconds)

    def families(self) -> list[Family]:
        mine = (("projection", self.projection),)
        return [
            Family(
                "kim_events_applied_total",
                "counter",
                "Records of a source partition this worker committed (the checkpoint moved past them), "
                "dead letters not included.",
                tuple(Sample(_tp_labels(self.projection, tp), n) for tp, n in sorted(self.applied.items())),
            ),
            Family(
                "kim_dead_letters_total",
                "counter",
                "Records this worker sent to the dead-letter topic (counted once their batch committed).",
                tuple(Sample(_tp_labels(self.projection, tp), n) for tp, n in sorted(self.dead_letters.items())),
            ),
            Family("kim_batches_total", "counter", "Batches this worker committed.", (Sample(mine, self.batches),)),
            Family(
                "kim_batch_seconds",
                "histogram",
                "Time of one batch's PostgreSQL transaction (rows, checkpoints, dead letters).",
                self.batch_seconds.samples(mine),
            ),
        ]


def _tp_labels(projection: str, tp: tuple[str, int]) -> Labels:
    return (("projection", projection), ("topic", tp[0]), ("partition", str(tp[1])))


def _timestamp(moment: datetime | None) -> float:
    return moment.timestamp() if moment else math.nan


def state_families(
    projection: str,
    partitions: Sequence[PartitionState],
    dead_letters: int | None,
    rebuilds: Sequence[Rebuild],
    read_ok: bool,
) -> list[Family]:
    """Gauges from the latest read of Kafka and PostgreSQL."""
    mine = (("projection", projection),)

    def per_partition(value: Callable[[PartitionState], float]) -> tuple[Sample, ...]:
        return tuple(Sample(_tp_labels(projection, (p.topic, p.partition)), value(p)) for p in partitions)

    def per_rebuild(value: Callable[[Rebuild], float]) -> tuple[Sample, ...]:
        return tuple(Sample((*mine, ("copy", r.copy_schema), ("kind", r.kind)), value(r)) for r in rebuilds)

    return [
        Family(
            "kim_consumer_lag",
            "gauge",
            "Records of a partition assigned to this worker not applied yet (end offset - checkpoint).",
            per_partition(lambda p: p.lag),
        ),
        Family(
            "kim_last_event_timestamp_seconds",
            "gauge",
            "Event time (occurred_at) of the newest event applied from the partition (NaN: none yet).",
            per_partition(lambda p: _timestamp(p.last_event_at)),
        ),
        Family(
            "kim_checkpoint_updated_timestamp_seconds",
            "gauge",
            "Wall-clock time the projection last committed a batch of the partition (NaN: never).",
            per_partition(lambda p: _timestamp(p.updated_at)),
        ),
        Family(
            "kim_dlq_letters",
            "gauge",
            "Dead letters of this projection in the dead-letter topic, re-driven ones included.",
            () if dead_letters is None else (Sample(mine, dead_letters),),
        ),
        Family(
            "kim_rebuild_applied",
            "gauge",
            "Records applied so far by a running, interrupted or failed rebuild or as-of copy of this projection.",
            per_rebuild(lambda r: r.applied),
        ),
        Family(
            "kim_rebuild_progress_ratio",
            "gauge",
            "Share of its total such a rebuild has applied (NaN while the total is unknown).",
            per_rebuild(lambda r: math.nan if r.progress is None else r.progress),
        ),
        Family(
            "kim_rebuild_updated_timestamp_seconds",
            "gauge",
            "When such a rebuild last reported progress; running but stale for more than 30 s means interrupted.",
            per_rebuild(lambda r: r.updated_at.timestamp()),
        ),
        Family(
            "kim_state_read_ok",
            "gauge",
            "1 when the last read of end offsets and checkpoints for the gauges above succeeded, else 0.",
            (Sample(mine, 1 if read_ok else 0),),
        ),
    ]
