from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

import benchfs
from benchfs.cluster import LocalCluster
from tests.conftest import start_cluster
from tests.differential.mirror import Mirror
from tests.differential.parity_support import OsMirror, os_mirror

_case_numbers = itertools.count()


@pytest.fixture(scope="session")
def parity_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    running = start_cluster(tmp_path_factory.mktemp("parity"), 3, "sm,tcp")
    yield running
    running.down()


@pytest.fixture(scope="session")
def parity_client(parity_cluster: LocalCluster) -> Iterator[benchfs.Client]:
    with benchfs.connect(parity_cluster.registry) as client:
        yield client


def new_mirror(client: benchfs.Client, local_root: Path) -> Mirror:
    """Fresh, empty roots on both sides."""
    local_root.mkdir(parents=True, exist_ok=False)
    # The process id keeps two runs on one cluster apart (the multi-host test's).
    return Mirror(client, f"/case{os.getpid()}-{next(_case_numbers)}", str(local_root))


@pytest.fixture
def mirror(parity_client: benchfs.Client, tmp_path: Path) -> Iterator[Mirror]:
    both = new_mirror(parity_client, tmp_path / "oracle")
    yield both
    both.close_all()


@pytest.fixture(scope="session")
def random_client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[benchfs.Client]:
    """A cluster with 64 KiB chunks, so small random files still span servers."""
    running = start_cluster(tmp_path_factory.mktemp("random"), 3, "sm,tcp", chunk_size=65536)
    try:
        with benchfs.connect(running.registry) as client:
            yield client
    finally:
        running.down()


@pytest.fixture
def fs(parity_client: benchfs.Client, tmp_path: Path,
       monkeypatch: pytest.MonkeyPatch) -> Iterator[OsMirror]:
    """Both sides of a parity case, with module-level benchfs calls routed too."""
    yield from os_mirror(parity_client, tmp_path, monkeypatch)
