"""A small-chunk cluster for the tools' tests, and running the real `benchfs` command."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator, Sequence

import pytest

from benchfs.cluster import LocalCluster
from tests.conftest import start_cluster

# Small chunks make "a file of several chunks" and "pieces across workers" cheap.
CHUNK = 64 << 10


@pytest.fixture(scope="module")
def tool_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    running = start_cluster(tmp_path_factory.mktemp("tools-cluster"), 2, chunk_size=CHUNK)
    yield running
    running.down()


def benchfs_command(cluster: LocalCluster, *arguments: str | bytes | os.PathLike[str],
                    timeout: float = 120, check: bool = False,
                    prefix: Sequence[str] = ()) -> subprocess.CompletedProcess[bytes]:
    """`benchfs ARGS...` as a user runs it, against ``cluster``."""
    env = {**os.environ, "BENCHFS_REGISTRY": str(cluster.registry)}
    command = [*prefix, sys.executable, "-m", "benchfs", *map(os.fsencode, arguments)]
    return subprocess.run(command, env=env, capture_output=True, timeout=timeout,
                          check=check, stdin=subprocess.DEVNULL)
