"""benchfs.core.records: the inode record, its stat_result and inode numbering."""

from __future__ import annotations

import os
import pathlib
import stat
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from benchfs.core.records import (
    FIRST_COUNTER,
    MAX_COUNTER,
    MAX_SERVERS,
    ROOT_INO,
    Inode,
    inode_owner,
    new_inode_number,
)
from benchfs.core.wire import MalformedFrame, decode_reply, encode_reply

STAT_FIELDS = [
    "st_mode", "st_ino", "st_dev", "st_nlink", "st_uid", "st_gid", "st_size",
    "st_atime", "st_mtime", "st_ctime", "st_atime_ns", "st_mtime_ns", "st_ctime_ns",
    "st_blksize", "st_rdev",
]


def inode_from(st_: os.stat_result) -> Inode:
    return Inode(
        ino=st_.st_ino, mode=st_.st_mode, uid=st_.st_uid, gid=st_.st_gid, size=st_.st_size,
        nlink=st_.st_nlink, atime_ns=st_.st_atime_ns, mtime_ns=st_.st_mtime_ns,
        ctime_ns=st_.st_ctime_ns,
    )


@pytest.mark.parametrize(
    ("atime_ns", "mtime_ns"),
    [
        (1_700_000_000_123_456_789, 1_600_000_000_999_999_999),
        (0, 1),
        (-1, -1_500_000_000),  # before 1970: int seconds round down, as the kernel stores them
        (2**40 * 10**9 + 5, 999_999_999),
    ],
)
def test_stat_result_matches_os_stat(tmp_path: pathlib.Path, atime_ns: int, mtime_ns: int) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"x" * 1000)
    os.utime(path, ns=(atime_ns, mtime_ns))
    real = os.stat(path)
    ours = inode_from(real).to_stat_result(dev=real.st_dev, blksize=real.st_blksize)
    assert type(ours) is os.stat_result
    for field in STAT_FIELDS:
        assert getattr(ours, field) == getattr(real, field), field
        assert type(getattr(ours, field)) is type(getattr(real, field)), field
    assert tuple(ours) == tuple(real)  # the ten sequence fields, int times included
    assert ours[stat.ST_MTIME] == real[stat.ST_MTIME]


def test_stat_result_of_a_directory_matches_os(tmp_path: pathlib.Path) -> None:
    real = os.stat(tmp_path)
    ours = inode_from(real).to_stat_result(dev=real.st_dev, blksize=real.st_blksize)
    for field in STAT_FIELDS:
        assert getattr(ours, field) == getattr(real, field), field
    assert stat.S_ISDIR(ours.st_mode)


@pytest.mark.parametrize(
    ("mode", "size", "blocks"),
    [
        (stat.S_IFREG | 0o644, 0, 0),
        (stat.S_IFREG | 0o644, 1, 1),
        (stat.S_IFREG | 0o644, 512, 1),
        (stat.S_IFREG | 0o644, 513, 2),
        (stat.S_IFREG | 0o644, 3901, 8),
        (stat.S_IFREG | 0o644, 1 << 30, 1 << 21),
        (stat.S_IFLNK | 0o777, 12, 0),
    ],
)
def test_blocks_are_512_byte_units(mode: int, size: int, blocks: int) -> None:
    target = "t" * size if stat.S_ISLNK(mode) else None
    inode = Inode(7, mode, 1, 2, size, 1, 0, 0, 0, target=target)
    result = inode.to_stat_result(dev=3, blksize=65536)
    assert result.st_blocks == blocks
    assert result.st_blksize == 65536
    assert result.st_dev == 3
    assert result.st_rdev == 0


def test_fields_land_in_the_right_places() -> None:
    inode = Inode(ino=11, mode=stat.S_IFREG | 0o600, uid=12, gid=13, size=14, nlink=15,
                  atime_ns=16_250_000_000, mtime_ns=17_000_000_001, ctime_ns=18_999_999_999)
    result = inode.to_stat_result(dev=19, blksize=20)
    assert (result.st_ino, result.st_uid, result.st_gid, result.st_size, result.st_nlink) == (
        11, 12, 13, 14, 15,
    )
    assert result.st_mode == stat.S_IFREG | 0o600
    assert result.st_atime == 16.25
    assert (result[7], result[8], result[9]) == (16, 17, 18)
    assert (result.st_atime_ns, result.st_mtime_ns, result.st_ctime_ns) == (
        16_250_000_000, 17_000_000_001, 18_999_999_999,
    )


# -- wire form --------------------------------------------------------------------

u64 = st.integers(0, 2**64 - 1)
times = st.integers(-(2**63), 2**63 - 1)
inodes = st.builds(
    Inode, ino=u64, mode=st.integers(0, 2**32 - 1), uid=st.integers(0, 2**32 - 1),
    gid=st.integers(0, 2**32 - 1), size=u64, nlink=st.integers(0, 2**32 - 1),
    atime_ns=times, mtime_ns=times, ctime_ns=times,
    target=st.none() | st.text(max_size=30), inline=st.none() | st.binary(max_size=64),
)


@given(inodes)
def test_wire_round_trip(inode: Inode) -> None:
    assert Inode.from_wire(inode.to_wire()) == inode
    assert Inode.from_wire(decode_reply(encode_reply(inode.to_wire()))) == inode


GOOD = [1, stat.S_IFREG | 0o644, 0, 0, 5, 1, 0, 0, 0, None, None]


@pytest.mark.parametrize(
    "value",
    [
        None,
        "inode",
        {"ino": 1},
        GOOD[:-1],
        [*GOOD, None],
        [True, *GOOD[1:]],
        [1.0, *GOOD[1:]],
        [-1, *GOOD[1:]],
        [*GOOD[:4], -5, *GOOD[5:]],
        [*GOOD[:6], "0", *GOOD[7:]],
        [*GOOD[:9], b"target", None],
        [*GOOD[:9], None, "inline"],
    ],
)
def test_from_wire_rejects_bad_shapes(value: Any) -> None:
    with pytest.raises(MalformedFrame):
        Inode.from_wire(value)


def test_from_wire_accepts_tuples_and_negative_times() -> None:
    value = (*GOOD[:6], -1, -2, -3, "t", b"d")
    inode = Inode.from_wire(value)
    assert (inode.atime_ns, inode.target, inode.inline) == (-1, "t", b"d")


# -- inode numbers ------------------------------------------------------------------


def test_root_convention() -> None:
    assert ROOT_INO == new_inode_number(0, 1) == 1
    assert inode_owner(ROOT_INO) == 0
    assert new_inode_number(0, FIRST_COUNTER) != ROOT_INO


def test_layout() -> None:
    assert new_inode_number(1, 1) == (1 << 48) | 1
    assert new_inode_number(MAX_SERVERS - 1, MAX_COUNTER) == 2**64 - 1
    assert inode_owner(2**64 - 1) == MAX_SERVERS - 1


@pytest.mark.parametrize(
    ("server", "counter"), [(-1, 1), (MAX_SERVERS, 1), (0, 0), (0, MAX_COUNTER + 1), (3, -2)]
)
def test_new_inode_number_rejects_out_of_range(server: int, counter: int) -> None:
    with pytest.raises(ValueError):
        new_inode_number(server, counter)


@pytest.mark.parametrize("ino", [-1, 2**64])
def test_inode_owner_rejects_non_u64(ino: int) -> None:
    with pytest.raises(ValueError):
        inode_owner(ino)


@given(st.integers(0, MAX_SERVERS - 1), st.integers(1, MAX_COUNTER),
       st.integers(0, MAX_SERVERS - 1), st.integers(1, MAX_COUNTER))
def test_numbers_are_unique_and_name_their_owner(s1: int, c1: int, s2: int, c2: int) -> None:
    a, b = new_inode_number(s1, c1), new_inode_number(s2, c2)
    assert 0 < a < 2**64
    assert inode_owner(a) == s1
    assert (a == b) == ((s1, c1) == (s2, c2))
