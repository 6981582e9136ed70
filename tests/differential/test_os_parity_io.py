"""Descriptors through ``import benchfs as os`` against the real os: open flags, readv/
writev, preadv/pwritev, SEEK_DATA/SEEK_HOLE, dup, O_APPEND, fsync, fallocate/fadvise."""

from __future__ import annotations

import errno
import os
from typing import Any

import pytest

import benchfs
from tests.differential.mirror import F, P, Side
from tests.differential.parity_support import (
    OsMirror,
    age,
    make_file,
    times_of,
    which_moved,
)

RW_CREATE = os.O_CREAT | os.O_RDWR
MiB = 1 << 20
CHUNK = 4 * MiB  # the parity cluster's chunk size




# -- open flags ----------------------------------------------------------------------------

def test_open_flags_accepted_and_ignored(fs: OsMirror) -> None:
    make_file(fs, "f", b"data")
    for extra in (os.O_CLOEXEC, os.O_SYNC, os.O_DSYNC, os.O_NONBLOCK, os.O_NOCTTY,
                  os.O_NOATIME, os.O_LARGEFILE, os.O_ASYNC, os.O_RSYNC):
        fs("open", P("f"), os.O_RDWR | extra, bind="fd")
        fs("pwrite", F("fd"), b"DA", 0)
        fs("pread", F("fd"), 10, 0)
        fs("close", F("fd"))


def test_open_with_o_rdonly_and_o_trunc_truncates(fs: OsMirror) -> None:
    make_file(fs, "f", b"data")
    fs("open", P("f"), os.O_RDONLY | os.O_TRUNC, bind="r")
    fs("fstat", F("r"))
    fs("read", F("r"), 10)


def test_open_o_trunc_of_an_empty_file_moves_mtime(fs: OsMirror) -> None:
    make_file(fs, "f")

    def moved(api: Any, side: Side) -> str:
        path = side.resolve(P("f"))
        age(api, path)
        before = times_of(api, path)
        api.close(api.open(path, os.O_WRONLY | os.O_TRUNC))
        return which_moved(before, times_of(api, path))

    fs.both(moved)


def test_open_applies_the_umask(fs: OsMirror) -> None:
    old = os.umask(0o027)
    try:
        fs("open", P("f"), RW_CREATE, 0o777, bind="f")
        fs("mkdir", P("d"), 0o777)
        fs("stat", P("f"))
        fs("stat", P("d"))
    finally:
        os.umask(old)


def test_open_o_path_is_not_supported(fs: OsMirror) -> None:
    """Deliberate difference: O_PATH descriptors raise NotImplementedError."""
    make_file(fs, "f", b"data")
    os.close(os.open(fs.local.resolve(P("f")), os.O_PATH))
    with pytest.raises(NotImplementedError):
        benchfs.open(fs.bfs.resolve(P("f")), os.O_PATH)


def test_open_o_tmpfile_is_eopnotsupp(fs: OsMirror) -> None:
    """Deliberate difference: ext4 makes an unnamed file; benchfs answers EOPNOTSUPP, as
    Linux does on file systems without O_TMPFILE. The argument checks before it match."""
    make_file(fs, "f")
    fs("mkdir", P("d"))
    fs("open", P("d"), os.O_TMPFILE | os.O_RDONLY, 0o600)    # EINVAL on both
    fs("open", P("missing"), os.O_TMPFILE | os.O_RDWR, 0o600)
    fs("open", P("f"), os.O_TMPFILE | os.O_RDWR, 0o600)
    os.close(os.open(fs.local.resolve(P("d")), os.O_TMPFILE | os.O_RDWR, 0o600))
    with pytest.raises(OSError) as caught:
        benchfs.open(fs.bfs.resolve(P("d")), os.O_TMPFILE | os.O_RDWR, 0o600)
    assert caught.value.errno == errno.EOPNOTSUPP


def test_open_o_direct(fs: OsMirror) -> None:
    make_file(fs, "f", b"x" * 4096)
    fs("open", P("f"), os.O_RDONLY | os.O_DIRECT, bind="d")
    fs("fstat", F("d"))


# -- vectors -------------------------------------------------------------------------------

def test_readv_writev(fs: OsMirror) -> None:
    fs("open", P("f"), RW_CREATE, bind="f")
    fs("writev", F("f"), [b"abc", bytearray(b"defg"), memoryview(b"hij")])
    fs("writev", F("f"), [])
    fs("lseek", F("f"), 0, os.SEEK_SET)

    def read_vectors(api: Any, side: Side) -> tuple[int, list[bytes]]:
        buffers = [bytearray(2), bytearray(4), bytearray(10)]
        count = api.readv(side.fds["f"], buffers)
        return count, [bytes(b) for b in buffers]

    fs.both(read_vectors)
    fs.both(read_vectors)                           # at EOF: 0, buffers untouched
    fs("lseek", F("f"), 0, os.SEEK_CUR)
    fs("readv", F("nope"), [bytearray(1)])
    fs("writev", F("f"), ["text"])                  # TypeError


def test_preadv_pwritev(fs: OsMirror) -> None:
    fs("open", P("f"), RW_CREATE, bind="f")
    fs("pwritev", F("f"), [b"ab", b"cd"], 3)
    fs("pwritev", F("f"), [b"zz"], 0, os.RWF_APPEND)
    fs("pwritev", F("f"), [b"s"], 1, os.RWF_DSYNC)
    fs("pwritev", F("f"), [b"n"], 1, os.RWF_NOWAIT)  # EOPNOTSUPP on ext4
    fs("pwritev", F("f"), [b"n"], 1, 0x1000)        # EOPNOTSUPP: unknown flag
    fs("lseek", F("f"), 0, os.SEEK_CUR)             # pwritev leaves the offset alone

    def read_vectors(api: Any, side: Side) -> tuple[int, list[bytes]]:
        buffers = [bytearray(3), bytearray(3), bytearray(5)]
        count = api.preadv(side.fds["f"], buffers, 1, os.RWF_HIPRI)
        return count, [bytes(b) for b in buffers]

    fs.both(read_vectors)
    fs("pread", F("f"), 100, 0)


# -- offsets: dup, O_APPEND --------------------------------------------------------------

def test_dup_shares_the_offset(fs: OsMirror) -> None:
    make_file(fs, "f", b"0123456789")
    fs("open", P("f"), os.O_RDWR, bind="a")
    fs("dup", F("a"), bind="b")
    fs("read", F("a"), 3)
    fs("read", F("b"), 3)                           # continues where a stopped
    fs("lseek", F("b"), 1, os.SEEK_SET)
    fs("read", F("a"), 2)
    fs("write", F("b"), b"XY")
    fs("lseek", F("a"), 0, os.SEEK_CUR)
    fs("close", F("a"))
    fs("read", F("b"), 100)
    fs("pread", F("b"), 100, 0)
    fs("dup", F("nope"))


def test_pwrite_on_o_append_appends(fs: OsMirror) -> None:
    make_file(fs, "f", b"start")
    fs("open", P("f"), os.O_RDWR | os.O_APPEND, bind="a")
    fs("lseek", F("a"), 2, os.SEEK_SET)
    fs("pwrite", F("a"), b"-end", 0)                # lands at the end, not at 0
    fs("lseek", F("a"), 0, os.SEEK_CUR)             # and leaves the offset at 2
    fs("pread", F("a"), 100, 0)
    fs("dup", F("a"), bind="b")
    fs("write", F("b"), b"+dup")                    # the dup appends too
    fs("pread", F("a"), 100, 0)


# -- SEEK_DATA and SEEK_HOLE -------------------------------------------------------------

# Offsets around the pieces of the file below: data at [0, 4 KiB), a hole, data across
# the first chunk boundary, a hole of whole chunks, data at the end.
SEEK_OFFSETS = [0, 1, 4095, 4096, 8191, 8192, 1 * MiB, CHUNK - 4096, CHUNK - 1, CHUNK,
                CHUNK + 4095, CHUNK + 4096, 2 * CHUNK, 3 * CHUNK, 3 * CHUNK + 100,
                3 * CHUNK + 4096 + 9, 3 * CHUNK + 4096 + 10, 10 * CHUNK]


def test_seek_data_and_hole(fs: OsMirror) -> None:
    fs("open", P("sparse"), RW_CREATE, bind="f")
    fs("pwrite", F("f"), b"a" * 4096, 0)
    fs("pwrite", F("f"), b"b" * 8192, CHUNK - 4096)
    fs("pwrite", F("f"), b"c" * 10, 3 * CHUNK + 4096)
    fs("fsync", F("f"))
    for offset in SEEK_OFFSETS:
        fs("lseek", F("f"), offset, os.SEEK_DATA)
        fs("lseek", F("f"), offset, os.SEEK_HOLE)
    fs("lseek", F("f"), -1, os.SEEK_DATA)           # ENXIO


def test_seek_data_and_hole_in_a_file_of_only_a_hole(fs: OsMirror) -> None:
    fs("open", P("hole"), RW_CREATE, bind="f")
    fs("ftruncate", F("f"), 2 * CHUNK + 5)
    for offset in (0, 1, CHUNK, 2 * CHUNK + 4, 2 * CHUNK + 5):
        fs("lseek", F("f"), offset, os.SEEK_DATA)
        fs("lseek", F("f"), offset, os.SEEK_HOLE)
    fs("open", P("empty"), RW_CREATE, bind="e")
    fs("lseek", F("e"), 0, os.SEEK_DATA)
    fs("lseek", F("e"), 0, os.SEEK_HOLE)


def test_seek_data_and_hole_in_a_small_file(fs: OsMirror) -> None:
    """Small files keep their data in the inode record (D8): still all data, no holes."""
    fs("open", P("small"), RW_CREATE, bind="f")
    fs("write", F("f"), b"hello")
    for offset in (0, 3, 5):
        fs("lseek", F("f"), offset, os.SEEK_DATA)
        fs("lseek", F("f"), offset, os.SEEK_HOLE)
    fs("ftruncate", F("f"), 3000)
    fs("lseek", F("f"), 100, os.SEEK_DATA)
    fs("lseek", F("f"), 0, os.SEEK_HOLE)


def test_lseek_on_a_directory(fs: OsMirror) -> None:
    fs("mkdir", P("d"))
    fs("open", P("d"), os.O_RDONLY, bind="d")
    fs("lseek", F("d"), 0, os.SEEK_SET)
    fs("lseek", F("d"), 5, os.SEEK_CUR)
    for offset in (0, 7, -1, 2**63 - 1):
        fs("lseek", F("d"), offset, os.SEEK_DATA)
        fs("lseek", F("d"), offset, os.SEEK_HOLE)


# -- sync, fallocate, fadvise ----------------------------------------------------------------

def test_fsync_and_fdatasync(fs: OsMirror) -> None:
    make_file(fs, "f", b"x")
    fs("mkdir", P("d"))
    fs("open", P("f"), os.O_RDONLY, bind="r")
    fs("open", P("d"), os.O_RDONLY, bind="d")
    for name in ("r", "d", "nope"):
        fs("fsync", F(name))
        fs("fdatasync", F(name))


def test_posix_fallocate(fs: OsMirror) -> None:
    make_file(fs, "f", b"0123")
    fs("open", P("f"), os.O_RDWR, bind="rw")
    fs("open", P("f"), os.O_RDONLY, bind="r")
    fs("posix_fallocate", F("rw"), 0, 2)            # inside: the size stays
    fs("fstat", F("rw"))
    fs("posix_fallocate", F("rw"), 2, 10)           # grows, with zeros
    fs("fstat", F("rw"))
    fs("pread", F("r"), 100, 0)
    fs("posix_fallocate", F("r"), 0, 100)           # EBADF: read-only
    fs("posix_fallocate", F("rw"), -1, 10)          # EINVAL
    fs("posix_fallocate", F("rw"), 0, 0)            # EINVAL
    fs("posix_fallocate", F("nope"), 0, 1)
    fs("mkdir", P("d"))
    fs("open", P("d"), os.O_RDONLY, bind="d")
    fs("posix_fallocate", F("d"), 0, 1)


def test_posix_fadvise(fs: OsMirror) -> None:
    make_file(fs, "f", b"0123")
    fs("open", P("f"), os.O_RDONLY, bind="r")
    for advice in (os.POSIX_FADV_NORMAL, os.POSIX_FADV_SEQUENTIAL, os.POSIX_FADV_RANDOM,
                   os.POSIX_FADV_NOREUSE, os.POSIX_FADV_WILLNEED, os.POSIX_FADV_DONTNEED):
        fs("posix_fadvise", F("r"), 0, 0, advice)
    fs("posix_fadvise", F("r"), 0, -1, os.POSIX_FADV_NORMAL)   # EINVAL
    fs("posix_fadvise", F("r"), -1, 0, os.POSIX_FADV_NORMAL)   # fine
    fs("posix_fadvise", F("r"), 0, 0, 99)                      # EINVAL
    fs("posix_fadvise", F("nope"), 0, 0, os.POSIX_FADV_NORMAL)
