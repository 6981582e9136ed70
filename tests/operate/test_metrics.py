"""Metrics: counted where the work happens, asked over the wire (STATS, `benchfs
stats`) and scraped as Prometheus text, which prometheus_client's parser reads."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

import benchfs
from benchfs.cluster import LocalCluster
from benchfs.core.wire import Op
from benchfs.metrics import LATENCY_BOUNDS, RequestMetrics, latency_bucket
from benchfs.metrics.table import COLUMNS, quantile, total
from benchfs.settings import ClientSettings
from tests.operate.raw_peer import RawPeer

SETTINGS = ClientSettings(timeout=10.0)
FILES = 12
SIZE = 150_000  # past the inline limit: chunk WRITEs served in C


def _free_ports(count: int) -> int:
    """A base port with ``count`` free ports from it."""
    for base in range(20000 + os.getpid() % 20000, 65000, 97):
        try:
            for port in range(base, base + count):
                with socket.socket() as probe:
                    probe.bind(("127.0.0.1", port))
        except OSError:
            continue
        return base
    raise RuntimeError("no free ports")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LocalCluster, int]]:
    os.environ["UCX_TLS"] = "tcp"
    running = LocalCluster(tmp_path_factory.mktemp("metrics"))
    port = _free_ports(2)
    running.up(2, chunk_size=64 << 10, transport="tcp", metrics_port=port)
    yield running, port
    running.down()


def _scrape(port: int) -> dict[str, Any]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as answer:
        text = answer.read().decode()
    return {family.name: family for family in text_string_to_metric_families(text)}


def _sample(families: dict[str, Any], family: str, name: str, **labels: str) -> float:
    for sample in families[family].samples:
        if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
            return float(sample.value)
    raise KeyError((family, name, labels))


def _op_total(snapshots: list[dict[str, Any]], op: str, key: str) -> int:
    return sum(s["ops"].get(op, {}).get(key, 0) for s in snapshots)


def test_counts_match_the_work_done(cluster: tuple[LocalCluster, int]) -> None:
    running, _ = cluster
    with benchfs.connect(running.registry, SETTINGS) as client:
        client.makedirs("/m", exist_ok=True)
        before = client.server_stats()
        client_before = client.metrics()["ops"]
        for i in range(FILES):
            fd = client.open(f"/m/f{i}", os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            client.write(fd, os.urandom(SIZE))
            client.fsync(fd)
            client.close(fd)
        for i in range(3):
            with pytest.raises(FileNotFoundError):
                client.stat(f"/m/missing{i}")
        after = client.server_stats()
        mine = client.metrics()
    assert _op_total(after, "CREATE", "calls") - _op_total(before, "CREATE", "calls") == FILES
    written = _op_total(after, "WRITE", "bytes_in") - _op_total(before, "WRITE", "bytes_in")
    assert written == FILES * SIZE  # counted in the engine, as the bulk op was served
    enoent = sum(s["ops"].get("LOOKUP", {}).get("errors", {}).get(2, 0) for s in after) - \
        sum(s["ops"].get("LOOKUP", {}).get("errors", {}).get(2, 0) for s in before)
    assert enoent == 3
    assert sum(s["log"]["syncs"] for s in after) > sum(s["log"]["syncs"] for s in before)
    assert sum(s["engine"]["ring_sqes"] for s in after) > 0
    # The client counted the same requests from its side.
    assert mine["ops"]["WRITE"]["bytes_in"] == FILES * SIZE
    assert mine["ops"]["CREATE"]["calls"] == FILES
    assert mine["ops"]["LOOKUP"]["errors"][2] - client_before["LOOKUP"]["errors"][2] == 3
    assert sum(mine["ops"]["WRITE"]["hist"]) == mine["ops"]["WRITE"]["calls"]
    assert mine["engine"]["am_sent"] >= mine["engine"]["am_received"] > 0
    for snap in after:
        for name, op in snap["ops"].items():
            assert sum(op["hist"]) == op["calls"], name


def test_prometheus_text_parses_and_agrees_with_stats(cluster: tuple[LocalCluster, int]) -> None:
    running, port = cluster
    with benchfs.connect(running.registry, SETTINGS) as client:
        for i in range(4):
            fd = client.open(f"/p{i}", os.O_CREAT | os.O_WRONLY, 0o644)
            client.write(fd, b"y" * SIZE)
            client.close(fd)
        with pytest.raises(FileNotFoundError):
            client.stat("/nothing-here")
        # The endpoint formats what the loop published (at most a second old).
        time.sleep(1.5)
        stats = client.server_stats()
    for rank in (0, 1):
        families = _scrape(port + rank)
        for family in ("benchfs_rpc_requests", "benchfs_rpc_errors", "benchfs_rpc_bytes",
                       "benchfs_rpc_duration_seconds", "benchfs_rpc_in_flight",
                       "benchfs_log_records", "benchfs_log_commits",
                       "benchfs_log_commit_batch_records", "benchfs_log_fdatasync_seconds",
                       "benchfs_engine_ring_sqes", "benchfs_engine_am_received",
                       "benchfs_engine_unauthenticated", "benchfs_hellos_refused",
                       "benchfs_process_cpu_seconds", "benchfs_process_resident_memory_bytes",
                       "benchfs_process_open_fds"):
            assert family in families, family
        scraped = _sample(families, "benchfs_rpc_requests", "benchfs_rpc_requests_total",
                          op="CREATE", rank=str(rank))
        assert scraped <= stats[rank]["ops"]["CREATE"]["calls"]
        assert scraped >= 1
        buckets = [s for s in families["benchfs_rpc_duration_seconds"].samples
                   if s.name.endswith("_bucket") and s.labels["op"] == "CREATE"]
        counts = [s.value for s in buckets]
        assert counts == sorted(counts)  # cumulative
        assert buckets[-1].labels["le"] == "+Inf"
        assert counts[-1] == scraped
    errors = [s for rank in (0, 1) for s in _scrape(port + rank)["benchfs_rpc_errors"].samples
              if s.labels.get("errno") == "ENOENT"]
    assert errors and all(s.name == "benchfs_rpc_errors_total" for s in errors)


def test_refused_frames_are_counted(cluster: tuple[LocalCluster, int]) -> None:
    running, _ = cluster
    with benchfs.connect(running.registry, SETTINGS) as client:
        before = client.server_stats()[0]
        peer = RawPeer(running, 0)
        try:
            for _ in range(5):
                assert peer.call(int(Op.READ), 1, 0, 4096).status == 13
            peer.call(int(Op.HELLO_PROVE), body=b"\xc4\x20" + b"p" * 32)
        finally:
            peer.close()
        after = client.server_stats()[0]
    assert after["engine"]["unauthenticated"] - before["engine"]["unauthenticated"] == 5
    assert after["extra"]["hellos_refused"] - before["extra"]["hellos_refused"] == 1


def _stats_cli(running: LocalCluster, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "benchfs", "stats", "--registry",
                           str(running.registry), *args], capture_output=True, text=True,
                          timeout=60, env={**os.environ, "UCX_TLS": "tcp"})


def test_benchfs_stats_table_and_json(cluster: tuple[LocalCluster, int]) -> None:
    running, _ = cluster
    shown = _stats_cli(running)
    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.strip().splitlines()
    assert lines[0].split() == " ".join(COLUMNS).split()
    assert [line.split()[0] for line in lines[1:]] == ["0", "1", "sum"]
    as_json = _stats_cli(running, "--json")
    document = json.loads(as_json.stdout)
    assert [s["rank"] for s in document["servers"]] == [0, 1]
    requests = [int(line.split()[1]) for line in lines[1:]]
    assert requests[2] == requests[0] + requests[1]
    refused = _stats_cli(running, "--watch", "0")
    assert refused.returncode == 2
    assert refused.stderr.strip() == "benchfs stats: --watch 0.0: must be a number of seconds " \
                                     "above 0"


def test_stats_watch_repeats(cluster: tuple[LocalCluster, int]) -> None:
    running, _ = cluster
    proc = subprocess.Popen([sys.executable, "-m", "benchfs", "stats", "--registry",
                             str(running.registry), "--watch", "0.2"], stdout=subprocess.PIPE,
                            text=True, env={**os.environ, "UCX_TLS": "tcp"})
    try:
        assert proc.stdout is not None
        headers = 0
        for line in proc.stdout:
            headers += line.startswith("server")
            if headers == 3:
                break
        assert headers == 3
    finally:
        proc.terminate()
        proc.wait(30)


def test_servers_without_metrics(tmp_path: Path) -> None:
    os.environ["UCX_TLS"] = "tcp"
    running = LocalCluster(tmp_path)
    running.up(1, transport="tcp", metrics=False)
    try:
        with benchfs.connect(running.registry, SETTINGS) as client:
            fd = client.open("/x", os.O_CREAT | os.O_WRONLY, 0o644)
            client.write(fd, b"z" * SIZE)
            client.close(fd)
            (snapshot,) = client.server_stats()
    finally:
        running.down()
    assert snapshot["metrics"] is False
    assert set(snapshot["ops"]) <= {"WRITE", "READ", "FSYNC"}  # the engine's, always counted


# -- the counters themselves -----------------------------------------------------------


@pytest.mark.parametrize(("ns", "bucket"), [(0, 0), (999, 0), (1000, 1), (1999, 1), (2000, 2),
                                            (10**10, 24), (10**12, 25)])
def test_latency_buckets(ns: int, bucket: int) -> None:
    assert latency_bucket(ns) == bucket
    if bucket < len(LATENCY_BOUNDS):
        assert ns < LATENCY_BOUNDS[bucket] * 1e9


def test_counters_and_sum() -> None:
    metrics = RequestMetrics()
    metrics.observe(int(Op.LOOKUP), 0, 10, 20, 1500)
    metrics.observe(int(Op.LOOKUP), 2, 10, 0, 3_000_000)
    snap = metrics.snapshot()["LOOKUP"]
    assert (snap["calls"], snap["bytes_in"], snap["bytes_out"], snap["errors"]) == \
        (2, 20, 20, {2: 1})
    assert quantile(snap["hist"], 0.5) == LATENCY_BOUNDS[1]
    off = RequestMetrics(enabled=False)
    off.observe(int(Op.LOOKUP), 0, 1, 1, 1)
    assert off.snapshot() == {}
    server = {"rank": 0, "ops": {"LOOKUP": snap}, "in_flight": 1,
              "log": {"records": 3, "commits": 1, "batch_hist": [0, 1], "syncs": 0,
                      "sync_sum_ns": 0, "sync_hist": [0]},
              "engine": {"malformed": 1, "unauthenticated": 2}, "extra": {"hellos_refused": 1},
              "process": {"cpu_seconds": 1.0, "rss_bytes": 10, "open_fds": 5}}
    both = total([server, server])
    assert both["ops"]["LOOKUP"]["calls"] == 4
    assert both["ops"]["LOOKUP"]["errors"] == {2: 2}
    assert both["log"]["batch_hist"] == [0, 2]
    assert both["engine"]["unauthenticated"] == 4
    assert both["in_flight"] == 2


def test_a_metrics_port_in_use_is_one_line(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        proc = subprocess.run([sys.executable, "-m", "benchfs", "serve", "--registry",
                               str(tmp_path / "reg"), "--data-dir", str(tmp_path / "data"),
                               "--metrics-port", str(port)], capture_output=True, text=True,
                              timeout=60, env={**os.environ, "UCX_TLS": "tcp"})
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        f"benchfs serve: --metrics-port {port}: cannot be served: Address already in use"]
    assert not (tmp_path / "reg" / "server-0.json").exists()
