"""benchfs.core.placement: stable hashing of paths and chunks to partitions."""

from __future__ import annotations

import hashlib
import struct
from collections import Counter

from hypothesis import given
from hypothesis import strategies as st

from benchfs.core.partitions import partition_of_hash
from benchfs.core.placement import PartitionMemo, chunk_key, key_hash, path_key


def test_hash_is_blake2b_little_endian_and_stable() -> None:
    # Fixed values: placement must not change between runs, processes or Python versions.
    assert key_hash(b"benchfs") == 46757891646745667
    digest = hashlib.blake2b(b"x", digest_size=8).digest()
    assert key_hash(b"x") == int.from_bytes(digest, "little")


def test_keys_do_not_collide_between_paths_and_chunks() -> None:
    assert path_key("/a") != chunk_key(0, 0)
    assert chunk_key(1, 2) == b"c:" + struct.pack("<QQ", 1, 2)
    assert chunk_key(1, 2) != chunk_key(2, 1)


def test_partition_is_the_top_bits_of_the_hash() -> None:
    memo = PartitionMemo()
    assert memo.of_path("/x/y") == key_hash(path_key("/x/y")) >> 48
    assert memo.of_chunk(7, 3) == key_hash(chunk_key(7, 3)) >> 48
    assert PartitionMemo(bits=4).of_path("/x/y") == key_hash(path_key("/x/y")) >> 60
    assert partition_of_hash(2**64 - 1, 16) == 2**16 - 1


def test_memo_answers_the_same_after_it_is_cleared() -> None:
    memo = PartitionMemo()
    first = [memo.of_chunk(5, k) for k in range(70_000)]  # past the memo's size
    assert [memo.of_chunk(5, k) for k in range(70_000)] == first


def test_chunks_of_one_file_spread_over_partitions() -> None:
    memo = PartitionMemo(bits=4)
    load = Counter(memo.of_chunk(12345, k) for k in range(16_000))
    assert len(load) == 16 and min(load.values()) >= 0.85 * 1000


@given(st.text(max_size=40), st.integers(0, 2**64 - 1), st.integers(0, 2**64 - 1))
def test_partitions_are_in_range(path: str, ino: int, index: int) -> None:
    memo = PartitionMemo(bits=10)
    assert 0 <= memo.of_path(path) < 1024
    assert 0 <= memo.of_chunk(ino, index) < 1024
