"""Shared fixtures: real server processes on loopback (no mocks)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from benchfs.cluster import LocalCluster

# UCX reads these once per engine; every engine in the test process stays on loopback.
os.environ.setdefault("UCX_NET_DEVICES", "lo")

TRANSPORTS = ["sm,tcp", "tcp"]


class ExternalCluster(LocalCluster):
    """A running cluster this test process did not start (the multi-host test's,
    named by BENCHFS_TEST_CLUSTER): its tests use it and leave it running."""

    def down(self, timeout: float = 0.0) -> None:
        pass


def start_cluster(root: Path, servers: int = 3, transport: str = "sm,tcp",
                  chunk_size: int = 4 << 20, o_direct: bool = False) -> LocalCluster:
    """Start a local cluster and point this process's UCX at the same transport
    (or, under BENCHFS_TEST_CLUSTER, use that one as it is)."""
    external = os.environ.get("BENCHFS_TEST_CLUSTER")
    if external:
        return ExternalCluster(Path(external))
    os.environ["UCX_TLS"] = transport
    cluster = LocalCluster(root)
    cluster.up(servers, chunk_size=chunk_size, transport=transport, o_direct=o_direct)
    return cluster


@pytest.fixture(params=TRANSPORTS)
def engine_transport(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """For tests of bare engines: UCX reads its environment when an engine is
    created, so set it first. (A listener with UCX_TLS=sm alone fails silently.)"""
    monkeypatch.setenv("UCX_NET_DEVICES", "lo")
    monkeypatch.setenv("UCX_TLS", request.param)
    return str(request.param)


@pytest.fixture(scope="module", params=TRANSPORTS)
def cluster(request: pytest.FixtureRequest,
            tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    """A 3-server cluster, once per transport, shared by a test module."""
    running = start_cluster(tmp_path_factory.mktemp("cluster"), 3, request.param)
    yield running
    running.down()
