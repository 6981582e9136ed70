"""kill -9 of servers under load: nothing fsync acknowledged is lost (DESIGN.md D7)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.conftest import start_cluster
from tests.integration.crash_workload import run_crash_workload, verify


def _crash_run(tmp_path: Path, kills: int, seed: int) -> None:
    cluster = start_cluster(tmp_path / "cluster", 3, "tcp", chunk_size=64 << 10)
    try:
        ledger = run_crash_workload(cluster, kills, seed)
        figures = verify(cluster, ledger)
    finally:
        cluster.down()
    print(f"kills={kills} seed={seed} operations={ledger.operations} "
          f"failed={ledger.failures} {figures}")
    assert ledger.operations > kills


def test_acknowledged_data_survives_server_kills(tmp_path: Path) -> None:
    _crash_run(tmp_path, kills=6, seed=int(os.environ.get("BENCHFS_CRASH_SEED", "7")))


@pytest.mark.slow
@pytest.mark.timeout(1800)  # 200 restarts of a server take about 5 minutes
def test_soak_200_kills(tmp_path: Path) -> None:
    _crash_run(tmp_path, kills=int(os.environ.get("BENCHFS_SOAK_KILLS", "200")),
               seed=int(os.environ.get("BENCHFS_CRASH_SEED", "11")))
