"""The contract's partitioner: murmur2 of the UTF-8 key, as Kafka's Java client (and aiokafka) partition.

Written here rather than imported from aiokafka so that the contract needs no Kafka client, and because the
stream side checks every record's partition (``streams/runtime/judge.py``): reading the 4-byte words with one
``struct.unpack_from`` costs about 3.6 µs for a 14-byte key against aiokafka's 5.2 µs (one timeit run each),
and a cache of recent keys makes a case's later records nearly free. A property test keeps it equal to
aiokafka's for every byte string.
"""

from __future__ import annotations

import functools
import struct

_SEED = 0x9747B28C
_M = 0x5BD1E995
_MASK = 0xFFFFFFFF


def murmur2(data: bytes) -> int:
    """MurmurHash2 (32-bit, Kafka's seed) of ``data``, as an unsigned 32-bit integer."""
    length = len(data)
    h = (_SEED ^ length) & _MASK
    words = length >> 2
    if words:
        for k in struct.unpack_from(f"<{words}I", data):
            k = (k * _M) & _MASK
            k ^= k >> 24
            k = (k * _M) & _MASK
            h = ((h * _M) & _MASK) ^ k
    rest = length & 3
    if rest:
        tail = words << 2
        if rest == 3:
            h ^= data[tail + 2] << 16
        if rest >= 2:
            h ^= data[tail + 1] << 8
        h ^= data[tail]
        h = (h * _M) & _MASK
    h ^= h >> 13
    h = (h * _M) & _MASK
    h ^= h >> 15
    return h


@functools.lru_cache(maxsize=1 << 16)
def partition_of_key(key: bytes, partitions: int) -> int:
    """The partition of a record keyed ``key`` on a topic of ``partitions`` partitions (positive-masked murmur2)."""
    return (murmur2(key) & 0x7FFFFFFF) % partitions


def partition_of(key: str, partitions: int) -> int:
    """``partition_of_key`` for a key given as text (its UTF-8 bytes)."""
    return partition_of_key(key.encode(), partitions)
