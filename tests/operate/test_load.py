"""Many client processes of mixed operations against 2 and 4 servers: no error,
every byte verified, and the servers' memory and descriptors back where they
started once the files are gone. A small run here; ``-m slow`` is 32 x 5 000."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psutil
import pytest

from benchfs.cluster import LocalCluster
from tests.conftest import start_cluster

ROOT = Path(__file__).resolve().parents[2]
RSS_SLACK = 32 << 20  # allocator slack: freed memory is not always given back
FD_SLACK = 4
MEMORY_BOUND = 1 << 30  # per server, whatever the load


def _servers(cluster: LocalCluster) -> list[psutil.Process]:
    return [psutil.Process(entry.pid) for entry in cluster.entries().values()]


def _run_workers(cluster: LocalCluster, clients: int, ops: int, seed: int,
                 peaks: list[int] | None = None) -> list[dict[str, Any]]:
    """Run the workers to the end; ``peaks``: each server's highest RSS meanwhile."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    procs = [subprocess.Popen([sys.executable, "-m", "tests.operate.load_worker",
                               str(cluster.registry), str(k), str(ops), str(seed + k)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              env=env, cwd=ROOT)
             for k in range(clients)]
    servers = _servers(cluster)
    while any(proc.poll() is None for proc in procs):
        if peaks is not None:
            peaks[:] = [max(p, s.memory_info().rss) for p, s in zip(peaks, servers, strict=True)]
        time.sleep(0.25)
    reports = []
    for proc in procs:
        out, err = proc.communicate(timeout=4 * 3600)
        assert proc.returncode == 0, err[-3000:]
        reports.append(json.loads(out.strip().splitlines()[-1]))
    return reports


def _settled(servers: list[psutil.Process]) -> tuple[list[int], list[int]]:
    time.sleep(1.0)  # closing connections and idle chunk files
    return [s.memory_info().rss for s in servers], [s.num_fds() for s in servers]


def _load(tmp_path: Path, servers: int, clients: int, ops: int) -> None:
    cluster = start_cluster(tmp_path / "cluster", servers, "sm,tcp", chunk_size=64 << 10)
    try:
        procs = _servers(cluster)
        _run_workers(cluster, 2, 50, seed=1000)  # warm-up: imports, first connections
        rss_before, fds_before = _settled(procs)
        started = time.monotonic()
        peak = [0] * servers
        reports = _run_workers(cluster, clients, ops, seed=0, peaks=peak)
        seconds = time.monotonic() - started
        rss_after, fds_after = _settled(procs)
    finally:
        cluster.down()
    errors = [e for r in reports for e in r["errors"]]
    total_ops = sum(sum(r["ops"].values()) for r in reports)
    verified = sum(r["verified"] for r in reports)
    print(f"load {servers} servers x {clients} clients x {ops} ops: {total_ops} ops in "
          f"{seconds:.0f} s ({total_ops / seconds:.0f}/s), {verified / 2**20:.0f} MiB "
          f"verified, errors {sum(r['error_count'] for r in reports)}, server RSS MiB "
          f"{[round(b / 2**20) for b in rss_before]} -> {[round(a / 2**20) for a in rss_after]}"
          f" (peak {[round(p / 2**20) for p in peak]}), fds {fds_before} -> {fds_after}")
    assert not errors, errors[:10]
    assert total_ops == clients * ops
    for kind in ("create", "write", "read", "stat", "rename", "unlink", "fsync"):
        assert sum(r["ops"].get(kind, 0) for r in reports) > 0, kind
    for before, after in zip(rss_before, rss_after, strict=True):
        assert after - before <= RSS_SLACK
    assert max(peak) <= MEMORY_BOUND
    for before, after in zip(fds_before, fds_after, strict=True):
        assert after <= before + FD_SLACK


def test_small_load(tmp_path: Path) -> None:
    _load(tmp_path, servers=2, clients=4, ops=300)


@pytest.mark.slow
@pytest.mark.timeout(6 * 3600)
@pytest.mark.parametrize("servers", [2, 4])
def test_full_load(tmp_path: Path, servers: int) -> None:
    _load(tmp_path, servers=servers, clients=32, ops=5000)
