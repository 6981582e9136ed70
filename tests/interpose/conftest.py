"""Fixtures for interposition: one real cluster on loopback for the session."""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

import benchfs
from benchfs.cluster import LocalCluster
from tests.conftest import start_cluster
from tests.differential.fileobj_cases import FileSide, outcome


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


_cases = itertools.count()


@dataclass
class Pair:
    """A fresh directory under the prefix and one on the local disk, for probes that
    run the same code on both and compare (results, exception types, errno)."""

    bfs: FileSide
    local: FileSide

    def both(self, probe: Callable[[str], Any]) -> Any:
        ours = outcome(self.bfs, lambda: probe(self.bfs.root))
        theirs = outcome(self.local, lambda: probe(self.local.root))
        assert ours == theirs, f"interposed {ours}\n!= local {theirs}"
        return theirs


def _side(root: str) -> FileSide:
    def read_raw(path: str) -> bytes:
        with open(path, "rb") as f:
            return f.read()

    def write_raw(path: str, data: bytes) -> None:
        with open(path, "wb") as f:
            f.write(data)

    return FileSide(root, open, os.open, os.close, read_raw, write_raw)


@pytest.fixture
def pair(bfs: benchfs.Interposition, tmp_path: Path) -> Pair:
    name = f"case{next(_cases)}"
    bfs.client.mkdir(f"/{name}")
    local = tmp_path / name
    local.mkdir()
    return Pair(_side(f"{PREFIX}/{name}"), _side(str(local)))
