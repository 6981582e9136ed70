"""C consumers and what cannot be routed: numpy round-trips; mmap, numpy.memmap and
sqlite3 raise a clear OSError and leave nothing on the local disk; file locks on a
benchfs descriptor are refused, never silently granted."""

from __future__ import annotations

import errno
import fcntl
import mmap
import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

import benchfs
from benchfs.cluster import LocalCluster
from benchfs.interpose import files, guards
from tests.interpose.conftest import Pair


def test_numpy_round_trips(pair: Pair) -> None:
    def probe(root: str) -> list[object]:
        array = np.arange(100_000, dtype=np.float64).reshape(1000, 100)
        np.save(f"{root}/a.npy", array)
        np.save(f"{root}/f.npy", np.asfortranarray(array))
        np.savez(f"{root}/z.npz", x=array, y=array[:3])
        np.savez_compressed(f"{root}/c.npz", x=array)
        np.savetxt(f"{root}/t.txt", array[:5], fmt="%.1f")
        with open(f"{root}/h.npy", "wb") as f:
            np.save(f, array[:10])
        with np.load(f"{root}/z.npz") as z:
            zipped = (z["x"] == array).all() and (z["y"] == array[:3]).all()
        with open(f"{root}/h.npy", "rb") as f:
            handle = (np.load(f) == array[:10]).all()
        return [bool((np.load(f"{root}/a.npy") == array).all()),
                bool((np.load(f"{root}/f.npy") == array).all()), bool(zipped),
                bool((np.load(f"{root}/c.npz")["x"] == array).all()),
                np.loadtxt(f"{root}/t.txt").tolist() == array[:5].tolist(), bool(handle),
                sorted(os.listdir(root))]

    assert pair.both(probe)[1][:6] == [True] * 6


def test_numpy_fromfile_and_tofile(pair: Pair) -> None:
    """They hand the descriptor to C stdio: benchfs's refuses, so they raise an
    OSError rather than read or write anything else."""
    array = np.arange(1000, dtype=np.int32)
    with pytest.raises(OSError):
        array.tofile(f"{pair.bfs.root}/raw.bin")
    with open(f"{pair.bfs.root}/raw.bin", "wb") as f:
        f.write(array.tobytes())
    with pytest.raises(OSError):
        np.fromfile(f"{pair.bfs.root}/raw.bin", dtype=np.int32)


def test_mmap_and_memmap_refuse(pair: Pair) -> None:
    path = f"{pair.bfs.root}/mapped"
    with open(path, "wb") as f:
        f.write(b"\0" * 8192)
    with open(path, "r+b") as f:
        with pytest.raises(OSError) as refused:
            mmap.mmap(f.fileno(), 4096)
        assert refused.value.errno == errno.ENODEV
    with pytest.raises(OSError) as refused:
        np.memmap(path, dtype=np.uint8, mode="r+", shape=(8192,))
    assert refused.value.errno == errno.ENODEV


@pytest.fixture
def shadowed(bfs_cluster: LocalCluster, tmp_path: Path) -> Iterator[Path]:
    """A prefix over an existing local directory: whatever escapes routing would land
    there, where the test can see it."""
    under = tmp_path / "shadowed"
    under.mkdir()
    with benchfs.interpose(under, bfs_cluster.registry) as active:
        active.client.makedirs("/db", exist_ok=True)
        yield under
    assert list(under.iterdir()) == [], "something escaped to the local disk"


def test_sqlite_refuses_and_creates_nothing(shadowed: Path) -> None:
    escapes = len(guards.ESCAPES)
    for database in (str(shadowed / "db" / "x.sqlite"), f"file:{shadowed}/db/y.sqlite"):
        with pytest.raises(OSError) as refused:
            sqlite3.connect(database, uri=database.startswith("file:"))
        assert refused.value.errno == errno.EXDEV and "not routed" in str(refused.value)
    assert len(guards.ESCAPES) == escapes + 2
    sqlite3.connect(":memory:").close()


def test_the_kernels_fileio_under_a_prefix_is_refused(shadowed: Path) -> None:
    """C code constructing the kernel's FileIO itself (not through io.FileIO) would
    create a real file; the audit hook stops it first."""
    with pytest.raises(OSError) as refused:
        files.RealFileIO(str(shadowed / "escaped"), "w")
    assert refused.value.errno == errno.EXDEV


def test_relative_sqlite_under_a_virtual_cwd(shadowed: Path) -> None:
    saved = os.getcwd()
    os.chdir(shadowed / "db")
    try:
        with pytest.raises(OSError):
            sqlite3.connect("relative.sqlite")
    finally:
        os.chdir(saved)


def test_locks_are_refused(pair: Pair) -> None:
    with open(f"{pair.bfs.root}/locked", "w") as f:
        for lock in (lambda: fcntl.flock(f, fcntl.LOCK_EX),
                     lambda: fcntl.flock(f.fileno(), fcntl.LOCK_SH | fcntl.LOCK_NB),
                     lambda: fcntl.lockf(f, fcntl.LOCK_EX),
                     lambda: os.lockf(f.fileno(), os.F_LOCK, 0),
                     lambda: fcntl.fcntl(f, fcntl.F_SETLK, b"\0" * 32)):
            with pytest.raises(OSError) as refused:
                lock()
            assert refused.value.errno == errno.ENOLCK
        with pytest.raises(OSError) as refused:
            fcntl.ioctl(f, 0x5401)  # TCGETS
        assert refused.value.errno == errno.ENOTTY
        with pytest.raises(OSError):
            fcntl.fcntl(f, fcntl.F_GETFL)
        assert fcntl.fcntl(f, fcntl.F_GETFD) & fcntl.FD_CLOEXEC
        with pytest.raises(OSError):
            os.dup2(f.fileno(), 100)
    with open(f"{pair.local.root}/locked", "w") as f:  # the kernel's files still lock
        fcntl.flock(f, fcntl.LOCK_EX)
        fcntl.lockf(f, fcntl.LOCK_UN)
