"""A real cluster for the fsspec tests, and benchfs:// file systems over it."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

pytest.importorskip("fsspec")

from benchfs.cluster import LocalCluster  # noqa: E402
from benchfs.fsspec import BenchFileSystem, disconnect_all  # noqa: E402
from tests.conftest import start_cluster  # noqa: E402


@pytest.fixture(scope="package")
def bench_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    """Two servers, shared by every test of this folder: fsspec is a front end, the
    transports are the data-path tests' business."""
    running = start_cluster(tmp_path_factory.mktemp("fsspec-cluster"), 2)
    yield running
    disconnect_all()
    running.down()


@pytest.fixture(scope="package")
def bench_fs(bench_cluster: LocalCluster) -> BenchFileSystem:
    return BenchFileSystem(registry=str(bench_cluster.registry))


@pytest.fixture
def bench_dir(bench_fs: BenchFileSystem) -> Iterator[str]:
    """A fresh directory on the cluster, removed after the test."""
    path = f"/test-{uuid.uuid4().hex[:12]}"
    bench_fs.mkdir(path)
    yield path
    if bench_fs.exists(path):
        bench_fs.rm(path, recursive=True)
