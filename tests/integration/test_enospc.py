"""A full disk, end to end: a server whose data directory is a 16 MiB tmpfs.

What must hold (issue 4, "Full disk"):
- a write that finds no space fails with OSError(ENOSPC) at the client;
- the server keeps running, and what was written before reads back exactly;
- stat and listdir keep working; so do deletions, which the metadata log keeps a
  reserve for, and once they freed space, writes succeed again;
- new names (mkdir, symlink, create) keep working while the log's reserve is
  whole; once the reserve runs short they fail with ENOSPC without a trace.
"""

from __future__ import annotations

import errno
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

import benchfs
from benchfs.client.client import Client
from benchfs.cluster import LocalCluster
from tests.conftest import start_cluster

MiB = 1 << 20
DISK = "16m"
LONG_TARGET = "t" * 4000  # a symlink whose log record is about 4 KiB


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """tmp_path/data on a tmpfs of its own, where LocalCluster puts data dirs."""
    mount_point = tmp_path / "data"
    mount_point.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={DISK}", "tmpfs",
                              str(mount_point)], capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a {DISK} tmpfs (needs root): {mounted.stderr.strip()}")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", str(mount_point)], check=True)


@pytest.fixture(params=[False, True], ids=["buffered", "o_direct"])
def full_cluster(request: pytest.FixtureRequest, small_disk: Path) -> Iterator[LocalCluster]:
    cluster = start_cluster(small_disk.parent, servers=1, o_direct=request.param)
    try:
        yield cluster
    finally:
        cluster.down()


def fill(client: Client, path: str) -> tuple[bytes, int]:
    """Write 1 MiB blocks to path until the disk is full: (the block, bytes written)."""
    block = os.urandom(MiB)
    fd = client.open(path, os.O_CREAT | os.O_WRONLY, 0o644)
    written = 0
    try:
        with pytest.raises(OSError) as full:
            for _ in range(64):  # 4 x the disk: it fills long before
                client.write(fd, block)
                written += MiB
        assert full.value.errno == errno.ENOSPC
        # Still full for a second try, and the failed writes did not grow the file.
        with pytest.raises(OSError) as again:
            client.write(fd, block)
        assert again.value.errno == errno.ENOSPC
        assert client.fstat(fd).st_size == written
    finally:
        client.close(fd)
    return block, written


def read_all(client: Client, path: str) -> bytes:
    fd = client.open(path, os.O_RDONLY)
    try:
        return client.read(fd, 1 << 30)
    finally:
        client.close(fd)


def write_file(client: Client, path: str, data: bytes) -> None:
    fd = client.open(path, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o644)
    try:
        client.write(fd, data)
        client.fsync(fd)
    finally:
        client.close(fd)


def exhaust_metadata_reserve(client: Client) -> list[str]:
    """Long symlinks until the log's reserve runs short; the links made."""
    made = []
    with pytest.raises(OSError) as short:
        for i in range(2000):  # a few hundred fill the reserve's first half
            client.symlink(LONG_TARGET, f"/link{i}")
            made.append(f"/link{i}")
    assert short.value.errno == errno.ENOSPC
    assert made, "the log had no reserve left for new names on a full disk"
    with pytest.raises(FileNotFoundError):  # refused without a trace
        client.lstat(f"/link{len(made)}")
    return made


def test_a_full_disk_fails_writes_with_enospc_and_keeps_serving(
        full_cluster: LocalCluster) -> None:
    kept = os.urandom(3 * MiB + 123)
    with benchfs.connect(full_cluster.registry) as client:
        client.mkdir("/dir")
        write_file(client, "/dir/kept.dat", kept)
        block, written = fill(client, "/filler.dat")
        assert written >= 4 * MiB
        assert full_cluster.running()

        # Reads and metadata on the full disk.
        assert read_all(client, "/dir/kept.dat") == kept
        assert read_all(client, "/filler.dat") == block * (written // MiB)
        assert client.stat("/filler.dat").st_size == written
        assert sorted(client.listdir("/")) == ["dir", "filler.dat"]
        client.mkdir("/made-on-a-full-disk")  # the log's reserve covers new names
        client.rename("/made-on-a-full-disk", "/renamed")

        links = exhaust_metadata_reserve(client)
        with pytest.raises(OSError) as refused:
            client.mkdir("/one-too-many")
        assert refused.value.errno == errno.ENOSPC
        with pytest.raises(FileNotFoundError):
            client.stat("/one-too-many")
        with pytest.raises(FileExistsError):
            client.mkdir("/dir")  # an existing name is answered as usual
        fd = client.open("/dir/kept.dat", os.O_CREAT | os.O_RDONLY)  # exists: no new name
        client.close(fd)
        assert client.stat("/dir/kept.dat").st_size == len(kept)
        assert client.readlink(links[0]) == LONG_TARGET
        assert full_cluster.running()

        # Deletions work on what is left of the reserve and free the space.
        client.unlink("/filler.dat")
        for link in links:
            client.unlink(link)
        fresh = os.urandom(5 * MiB)
        write_file(client, "/fresh.dat", fresh)
        client.mkdir("/after")
        assert read_all(client, "/fresh.dat") == fresh
        assert read_all(client, "/dir/kept.dat") == kept
        assert sorted(client.listdir("/")) == ["after", "dir", "fresh.dat", "renamed"]
        assert full_cluster.running()
