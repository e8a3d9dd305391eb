"""Which offsets the projection's Kafka consumer group should hold: the checkpoints, mirrored. Pure bookkeeping.

PostgreSQL is the authority: a batch's rows and checkpoints commit in one transaction. The consumer group's
committed offsets in Kafka only mirror those checkpoints, so that Kafka's own lag tools (``kafka-consumer-groups
--describe``, lag exporters) show the lag ``kim status`` shows. ``GroupOffsets`` tracks, for the partitions the
worker owns in the current generation, the checkpoint each one stands at (the next offset to read) and what was
last confirmed committed to Kafka; ``due`` says what to commit next. ``group_commit.py`` does the committing.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from projections.records import TopicPartition


class GroupOffsets:
    """The owned partitions' checkpoints and the offsets last committed to the group, per assignment ("epoch")."""

    def __init__(self) -> None:
        self.epoch = 0  # bumped on every assignment and revocation: a commit of an older one confirms nothing
        self.positions: dict[TopicPartition, int] = {}
        self.confirmed: dict[TopicPartition, int] = {}

    def assigned(self, checkpoints: Mapping[TopicPartition, int], partitions: Iterable[TopicPartition]) -> None:
        """A new assignment (all the partitions the worker now owns) and their checkpoints (absent: 0)."""
        self.epoch += 1
        self.positions = {tp: checkpoints.get(tp, 0) for tp in partitions}
        self.confirmed = {}

    def revoked(self, partitions: Iterable[TopicPartition]) -> None:
        self.epoch += 1
        for tp in partitions:
            self.positions.pop(tp, None)
            self.confirmed.pop(tp, None)

    def applied(self, next_offsets: Mapping[TopicPartition, int]) -> None:
        """A batch committed: per partition, one past its last record (the checkpoint moved at least there)."""
        for tp, offset in next_offsets.items():
            if tp in self.positions and offset > self.positions[tp]:
                self.positions[tp] = offset

    def refreshed(self, checkpoints: Mapping[TopicPartition, int]) -> None:
        """The checkpoints as read from PostgreSQL (another writer, such as a bulk catch-up, may have moved them)."""
        self.applied({tp: offset for tp, offset in checkpoints.items() if tp in self.positions})

    def due(self) -> tuple[int, dict[TopicPartition, int]]:
        """The epoch and the owned partitions whose position Kafka does not hold yet."""
        return self.epoch, {tp: o for tp, o in self.positions.items() if self.confirmed.get(tp) != o}

    def everything(self) -> tuple[int, dict[TopicPartition, int]]:
        """The epoch and every owned partition's position (a commit that also shows whether Kafka answers)."""
        return self.epoch, dict(self.positions)

    def committed(self, epoch: int, offsets: Mapping[TopicPartition, int]) -> None:
        """Kafka accepted ``offsets``, committed for ``epoch``."""
        if epoch != self.epoch:
            return
        self.confirmed.update({tp: o for tp, o in offsets.items() if tp in self.positions})


def next_offsets(records: Iterable[tuple[str, int, int]]) -> dict[TopicPartition, int]:
    """Per partition, one past the highest offset of ``(topic, partition, offset)`` records."""
    out: dict[TopicPartition, int] = {}
    for topic, partition, offset in records:
        tp = (topic, partition)
        if offset + 1 > out.get(tp, 0):
            out[tp] = offset + 1
    return out
