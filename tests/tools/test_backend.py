"""cluster up --backend DIR: DIR read through on first access, flush writes back what
changed, and nothing of DIR is lost before a flush."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import benchfs
from benchfs.cluster import LocalCluster
from tests.tools.conftest import CHUNK
from tests.tools.trees import make_awkward_tree, snapshot


def _cli(*arguments: str | os.PathLike[str], registry: Path | None = None
         ) -> subprocess.CompletedProcess[bytes]:
    env = dict(os.environ)
    if registry is not None:
        env["BENCHFS_REGISTRY"] = str(registry)
    return subprocess.run([sys.executable, "-m", "benchfs", *map(os.fsencode, arguments)],
                          env=env, capture_output=True, timeout=120, check=True,
                          stdin=subprocess.DEVNULL)


@pytest.fixture
def cached(tmp_path: Path) -> Iterator[tuple[LocalCluster, Path]]:
    """A cluster started by the CLI in front of an awkward backend tree."""
    backend = make_awkward_tree(tmp_path / "backend")
    cluster = LocalCluster(tmp_path / "cluster")
    _cli("cluster", "up", "-n", "2", "--dir", cluster.root, "--chunk-size", str(CHUNK),
         "--backend", backend)
    try:
        yield cluster, backend
    finally:
        cluster.down()


def _without_link_groups(tree: dict[bytes, tuple[object, ...]]) -> dict[bytes, tuple[object, ...]]:
    # Names of one inode in DIR are each their own copy in benchfs (module doc).
    return {rel: fields[:-1] for rel, fields in tree.items()}


def test_the_backend_reads_through_on_first_access(cached: tuple[LocalCluster, Path],
                                                   tmp_path: Path) -> None:
    cluster, backend = cached
    with benchfs.connect(cluster.registry) as client:
        # A deep file first: every directory on the way is filled.
        fd = client.open(b"/sub\xff/inner/leaf", os.O_RDONLY)
        assert client.read(fd, 100) == b"leaf"
        client.close(fd)
        assert sorted(client.listdir(b"/")) == sorted(os.listdir(os.fsencode(backend)))
        assert client.stat("/several-chunks").st_mtime_ns == \
            os.stat(backend / "several-chunks").st_mtime_ns
    _cli("cp", "-a", "bfs:/", tmp_path / "copy", registry=cluster.registry)
    assert _without_link_groups(snapshot(tmp_path / "copy")) == \
        _without_link_groups(snapshot(backend))


def test_flush_writes_back_created_and_changed_files_only(cached: tuple[LocalCluster, Path]
                                                          ) -> None:
    cluster, backend = cached
    before = snapshot(backend)
    untouched = os.stat(backend / "exactly-one-chunk").st_ino
    with benchfs.connect(cluster.registry) as client:
        fd = client.open("/with space", os.O_WRONLY | os.O_APPEND)
        client.write(fd, b" and more")
        client.close(fd)
        fd = client.open("/empty dir/created", os.O_WRONLY | os.O_CREAT, 0o640)
        client.write(fd, b"made in benchfs")
        client.close(fd)
        client.unlink("/-dash")
        client.rename("/executable", "/renamed")
    _cli("flush", registry=cluster.registry)
    assert (backend / "with space").read_bytes() == b"with space" * 3 + b" and more"
    assert (backend / "empty dir" / "created").read_bytes() == b"made in benchfs"
    assert os.stat(backend / "empty dir" / "created").st_mode & 0o777 == 0o640
    # Not written back: deletions and renames (the new name is there, the old one stays).
    assert (backend / "-dash").read_bytes() == before[b"-dash"][4]
    assert (backend / "renamed").read_bytes() == (backend / "executable").read_bytes()
    # Unchanged files were left alone, not copied over themselves; no temporary names.
    assert os.stat(backend / "exactly-one-chunk").st_ino == untouched
    after = snapshot(backend)
    assert not [rel for rel in after if b"benchfs-tmp" in rel]
    assert {rel: after[rel] for rel in before if rel not in (b"with space", b"empty dir")} \
        == {rel: fields for rel, fields in before.items()
            if rel not in (b"with space", b"empty dir")}


def test_a_crash_before_the_flush_loses_nothing_of_the_backend(
        cached: tuple[LocalCluster, Path]) -> None:
    cluster, backend = cached
    before = snapshot(backend)
    with benchfs.connect(cluster.registry) as client:
        for name in client.listdir("/"):
            if client.lstat(f"/{name}").st_mode & 0o170000 == 0o100000:
                fd = client.open(f"/{name}", os.O_WRONLY | os.O_TRUNC)
                client.write(fd, b"overwritten in benchfs")
                client.close(fd)
    for entry in cluster.entries().values():
        os.kill(entry.pid, signal.SIGKILL)
    assert snapshot(backend) == before


def test_cluster_down_flush_writes_back_then_stops(cached: tuple[LocalCluster, Path]) -> None:
    cluster, backend = cached
    with benchfs.connect(cluster.registry) as client:
        fd = client.open("/late", os.O_WRONLY | os.O_CREAT, 0o644)
        client.write(fd, b"written at the end")
        client.close(fd)
    _cli("cluster", "down", "--dir", cluster.root, "--flush")
    assert not cluster.running()
    assert (backend / "late").read_bytes() == b"written at the end"


def test_a_backend_that_is_no_directory_starts_nothing(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "benchfs", "cluster", "up", "-n", "1", "--dir",
                           str(tmp_path / "cluster"), "--backend", str(tmp_path / "missing")],
                          capture_output=True, timeout=60)
    assert done.returncode == 2
    assert b"not a directory" in done.stderr
    assert not (tmp_path / "cluster").exists()
