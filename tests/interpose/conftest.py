"""Fixtures for interposition: one real cluster on loopback for the session."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

import benchfs
from benchfs.cluster import LocalCluster
from tests.conftest import start_cluster


@pytest.fixture(scope="session")
def bfs_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    running = start_cluster(tmp_path_factory.mktemp("interpose"), 2, "sm,tcp")
    yield running
    running.down()


@pytest.fixture(scope="session")
def bfs_client(bfs_cluster: LocalCluster) -> Iterator[benchfs.Client]:
    with benchfs.connect(bfs_cluster.registry) as client:
        yield client


PREFIX = "/bfs"


@pytest.fixture(scope="module")
def bfs(bfs_cluster: LocalCluster) -> Iterator[benchfs.Interposition]:
    """Interposition of PREFIX for a test module, on the session's cluster."""
    with benchfs.interpose(PREFIX, bfs_cluster.registry) as active:
        yield active
