"""Fixtures for interposition: one real cluster on loopback for the session."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

import benchfs
from benchfs.cluster import LocalCluster
from tests.differential.conftest import parity_client, parity_cluster
from tests.differential.fileobj_cases import FileSide, builtin_side, outcome

# The differential suite's session cluster and client, under this directory's names.
bfs_cluster = parity_cluster
bfs_client = parity_client


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


@pytest.fixture
def pair(bfs: benchfs.Interposition, tmp_path: Path) -> Pair:
    name = f"case{next(_cases)}"
    bfs.client.mkdir(f"/{name}")
    local = tmp_path / name
    local.mkdir()
    return Pair(builtin_side(f"{PREFIX}/{name}"), builtin_side(str(local)))
