"""A cluster started with --o-direct: the client's writes and reads of any
alignment come back exactly, and the servers really hold their chunk files
open with O_DIRECT."""

from __future__ import annotations

import os
import random
from collections.abc import Iterator
from pathlib import Path

import pytest

import benchfs
from benchfs.cluster import LocalCluster
from tests.conftest import TRANSPORTS, start_cluster

CHUNK = 64 << 10  # small chunks: writes straddle chunks and servers in every way


@pytest.fixture(scope="module", params=TRANSPORTS)
def direct_cluster(request: pytest.FixtureRequest,
                   tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    root = tmp_path_factory.mktemp("direct")
    try:
        os.close(os.open(root / "probe", os.O_CREAT | os.O_RDWR | os.O_DIRECT))
    except OSError:
        pytest.skip(f"{root} does not support O_DIRECT")
    running = start_cluster(root, 2, request.param, chunk_size=CHUNK, o_direct=True)
    yield running
    running.down()


def _open_flags(pid: int, path: Path) -> list[int]:
    """The flags of every descriptor of process pid that is open on path."""
    flags = []
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            if os.readlink(f"/proc/{pid}/fd/{fd}") != str(path):
                continue
            with open(f"/proc/{pid}/fdinfo/{fd}") as info:
                flags.append(int(next(line for line in info if line.startswith("flags:"))
                                 .split()[1], 8))
        except (FileNotFoundError, StopIteration):
            continue
    return flags


def test_random_unaligned_io_reads_back_exactly(direct_cluster: LocalCluster) -> None:
    rng = random.Random(11)
    size = 2 << 20
    expected = bytearray(size)
    with benchfs.connect(direct_cluster.registry) as client:
        fd = client.open("/direct.dat", os.O_CREAT | os.O_RDWR | os.O_TRUNC, 0o644)
        assert client.pwrite(fd, bytes(size), 0) == size
        for _ in range(120):
            start = rng.randrange(size)
            data = rng.randbytes(min(size - start, rng.choice([1, 77, 4096, 5000, 300_000])))
            assert client.pwrite(fd, data, start) == len(data)
            expected[start:start + len(data)] = data
            start, length = rng.randrange(size), rng.randint(0, 200_000)
            assert client.pread(fd, length, start) == expected[start:start + length]
        client.fsync(fd)
        client.close(fd)
        fd = client.open("/direct.dat", os.O_RDONLY)
        assert client.read(fd, size + 10) == expected
        client.close(fd)
        client.unlink("/direct.dat")


def test_servers_hold_chunk_files_with_o_direct(direct_cluster: LocalCluster) -> None:
    with benchfs.connect(direct_cluster.registry) as client:
        fd = client.open("/flags.dat", os.O_CREAT | os.O_WRONLY, 0o644)
        client.write(fd, os.urandom(4 * CHUNK + 3))
        ino = client.fstat(fd).st_ino
        client.close(fd)
        seen = []
        for rank, entry in direct_cluster.entries().items():
            chunk = direct_cluster.data_dir(rank) / "chunks" / f"{ino:016x}"
            if chunk.exists():
                seen += _open_flags(entry.pid, chunk.resolve())
        assert seen, "no server holds a chunk file of the file just written"
        assert all(flags & os.O_DIRECT for flags in seen)
        client.unlink("/flags.dat")
