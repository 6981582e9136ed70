"""benchfs.core.placement: determinism, balance, minimal movement, replicas."""

from __future__ import annotations

import bisect
import hashlib
import struct
from collections import Counter

import pytest
from hypothesis import given
from hypothesis import strategies as st

from benchfs.core.placement import PlacementRing, chunk_key, path_key, ring_hash

KEYS = [b"key-%d" % i for i in range(100_000)]


def test_hash_is_blake2b_little_endian_and_stable() -> None:
    # Fixed values: placement must not change between runs, processes or Python versions.
    assert ring_hash(b"benchfs") == 46757891646745667
    digest = hashlib.blake2b(b"x", digest_size=8).digest()
    assert ring_hash(b"x") == int.from_bytes(digest, "little")


def test_keys_do_not_collide_between_paths_and_chunks() -> None:
    assert path_key("/a") != chunk_key(0, 0)
    assert chunk_key(1, 2) == b"c:" + struct.pack("<QQ", 1, 2)
    assert chunk_key(1, 2) != chunk_key(2, 1)


def test_lookup_matches_a_naive_ring() -> None:
    ring = PlacementRing(["s1", "s0", "s2"], vnodes=16)
    points = sorted(
        (ring_hash(f"{s}#{i}".encode()), s) for s in ["s0", "s1", "s2"] for i in range(16)
    )
    hashes = [p for p, _ in points]
    for key in KEYS[:2000]:
        slot = bisect.bisect_right(hashes, ring_hash(key)) % len(points)
        assert ring.lookup(key) == points[slot][1]


def test_determinism_and_input_order() -> None:
    a = PlacementRing(["a", "b", "c", "d"])
    b = PlacementRing(["d", "c", "b", "a"])
    assert a.servers == b.servers == ("a", "b", "c", "d")
    assert [a.lookup(k) for k in KEYS[:5000]] == [b.lookup(k) for k in KEYS[:5000]]
    assert a.server_for_path("/x/y") == b.server_for_path("/x/y")
    assert a.server_for_chunk(7, 3) == b.server_for_chunk(7, 3)


def test_invalid_rings() -> None:
    with pytest.raises(ValueError):
        PlacementRing([])
    with pytest.raises(ValueError):
        PlacementRing(["a", "a"])
    with pytest.raises(ValueError):
        PlacementRing(["a"], vnodes=0)
    with pytest.raises(TypeError):
        PlacementRing("abc")
    with pytest.raises(ValueError):
        PlacementRing(["a"]).replicas(b"k", -1)


def test_balance_within_25_percent() -> None:
    ring = PlacementRing(["0", "1", "2", "3"], vnodes=128)
    load = Counter(ring.lookup(k) for k in KEYS)
    mean = len(KEYS) / 4
    assert set(load) == {"0", "1", "2", "3"}
    for server, count in load.items():
        assert abs(count - mean) <= 0.25 * mean, (server, count)


def test_chunks_of_one_file_spread_over_servers() -> None:
    ring = PlacementRing(["0", "1", "2", "3"])
    load = Counter(ring.server_for_chunk(12345, k) for k in range(4000))
    assert min(load.values()) >= 0.75 * 1000


def test_adding_a_server_moves_about_one_fifth_onto_it_only() -> None:
    before = PlacementRing(["0", "1", "2", "3"])
    after = PlacementRing(["0", "1", "2", "3", "4"])
    moved = 0
    for key in KEYS:
        old, new = before.lookup(key), after.lookup(key)
        if old != new:
            moved += 1
            assert new == "4"
    assert 0.10 * len(KEYS) <= moved <= 0.30 * len(KEYS)


def test_replicas_examples() -> None:
    ring = PlacementRing(["0", "1", "2"])
    for key in KEYS[:500]:
        three = ring.replicas(key, 3)
        assert sorted(three) == ["0", "1", "2"]
        assert three[0] == ring.lookup(key)
        assert ring.replicas(key, 10) == three  # capped at the ring size
        assert ring.replicas(key, 0) == []


server_sets = st.sets(st.text(min_size=1, max_size=6), min_size=1, max_size=7)


@given(server_sets, st.binary(max_size=32), st.integers(0, 9))
def test_replica_properties(servers: set[str], key: bytes, count: int) -> None:
    ring = PlacementRing(sorted(servers), vnodes=8)
    reps = ring.replicas(key, count)
    assert len(reps) == min(count, len(servers))
    assert len(set(reps)) == len(reps)
    assert set(reps) <= servers
    if reps:
        assert reps[0] == ring.lookup(key)
    # Raising the replica count only appends: existing replicas never move.
    assert ring.replicas(key, count + 1)[: len(reps)] == reps


@given(server_sets, st.lists(st.binary(max_size=16), min_size=1, max_size=30))
def test_removing_a_server_moves_only_its_keys(servers: set[str], keys: list[bytes]) -> None:
    full = PlacementRing(sorted(servers), vnodes=8)
    if len(servers) == 1:
        return
    gone = sorted(servers)[0]
    smaller = PlacementRing(sorted(servers - {gone}), vnodes=8)
    for key in keys:
        if full.lookup(key) != gone:
            assert smaller.lookup(key) == full.lookup(key)
        else:
            # A lost server's keys go to what was its key's second replica.
            assert smaller.lookup(key) == full.replicas(key, 2)[1]


@given(st.text(max_size=40), st.integers(0, 2**64 - 1), st.integers(0, 2**64 - 1))
def test_lookups_land_on_members(path: str, ino: int, index: int) -> None:
    ring = PlacementRing(["a", "b", "c"], vnodes=4)
    assert ring.server_for_path(path) in ring.servers
    assert ring.server_for_chunk(ino, index) in ring.servers
    assert ring.server_for_path(path) == ring.lookup(path_key(path))
