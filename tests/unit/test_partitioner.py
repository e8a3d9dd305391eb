"""The contract's partitioner equals Kafka's (aiokafka's murmur2, as the Java client), and the stream side
dead-letters a valid event that is keyed otherwise or sits in another partition than its key's."""

from __future__ import annotations

from aiokafka.partitioner import murmur2 as aiokafka_murmur2
from hypothesis import given
from hypothesis import strategies as st

from projections.records import Applied, Rejection
from projections.registry import PROJECTIONS
from schemas.partitioner import murmur2, partition_of, partition_of_key
from schemas.samples import EVENT_TYPES, sample_event
from streams.runtime.judge import judge
from tests.unit.placed import CODEC, PARTITIONS, placed
from tests.unit.test_fuzz_codec import FUZZ


@FUZZ
@given(st.binary(max_size=80))
def test_murmur2_is_kafkas_for_every_byte_string(data: bytes) -> None:
    assert murmur2(data) == aiokafka_murmur2(data) & 0xFFFFFFFF


@FUZZ
@given(st.text(max_size=40), st.integers(1, 64))
def test_a_keys_partition_is_what_aiokafkas_default_partitioner_picks(key: str, partitions: int) -> None:
    expected = (aiokafka_murmur2(key.encode()) & 0x7FFFFFFF) % partitions
    assert partition_of(key, partitions) == partition_of_key(key.encode(), partitions) == expected


def test_known_values_of_the_java_client() -> None:
    """Kafka's own tests (UtilsTest.testMurmur2) pin these."""
    assert murmur2(b"21") & 0xFFFFFFFF == (-973932308) & 0xFFFFFFFF
    assert murmur2(b"a-little-bit-long-string") & 0xFFFFFFFF == (-985981536) & 0xFFFFFFFF
    assert murmur2(b"") & 0xFFFFFFFF == 275646681


@FUZZ
@given(st.sampled_from(EVENT_TYPES), st.integers(1, 5))
def test_an_event_outside_its_keys_partition_is_dead_lettered_by_its_readers(event_type: str, shift: int) -> None:
    event = sample_event(event_type)
    value = CODEC.encode(event.event_type, event.envelope, event.payload)
    topic = CODEC.schema_for(event_type).topic
    home = placed("test-1.x." + topic, value)
    elsewhere = home._replace(partition=(home.partition + shift) % PARTITIONS[topic])
    unkeyed = home._replace(key=None)
    for projection in (p for p in PROJECTIONS.values() if topic in p.source_topics):
        reads = event_type in projection.event_types
        assert isinstance(judge(projection, home, CODEC), Applied) or not reads
        wrong_partition = judge(projection, elsewhere, CODEC)
        assert isinstance(wrong_partition, Rejection) and wrong_partition.reason.startswith("wrong partition: ")
        assert f"belongs in partition {home.partition} of {topic}" in wrong_partition.reason
        no_key = judge(projection, unkeyed, CODEC)
        assert isinstance(no_key, Rejection) and no_key.reason.startswith("wrong key: the record has no key")
