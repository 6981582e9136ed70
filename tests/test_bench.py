"""`benchfs bench` end to end: tiny runs of every phase against real local clusters.

Only the shape and sanity of the figures are checked, never their size (DESIGN §4).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import benchfs
from benchfs.bench.baseline import parse_fio
from benchfs.bench.measure import Latency
from benchfs.cli import main
from tests.conftest import start_cluster

TINY = ["--block-size", "8M", "--transfer-size", "1M,4M", "--segments", "20", "--files", "20",
        "--random-ops", "50"]
EVERY_PHASE = [
    "ior-easy-write-1MiB", "ior-easy-write-4MiB", "mdtest-easy-create", "ior-hard-write",
    "mdtest-hard-create", "find", "ior-easy-read-1MiB", "ior-easy-read-4MiB",
    "mdtest-easy-stat", "ior-hard-read", "mdtest-hard-stat", "mdtest-easy-read",
    "mdtest-easy-delete", "mdtest-hard-read", "mdtest-hard-delete", "random-4k-pwrite",
    "random-4k-pread",
]
# Phases that read back what an earlier phase wrote and compare every item.
VERIFIED = {name for name in EVERY_PHASE if name.endswith(("read", "stat"))
            or "-read-" in name}


def _check_measurement(result: dict[str, Any], expected_items: int) -> None:
    assert result["value"] > 0
    assert result["seconds"] > 0
    assert result["items"] == expected_items
    assert result["latency"], "every phase times its operations"
    for latency in result["latency"].values():
        assert latency["count"] > 0
        assert 0 < latency["p50_us"] <= latency["p99_us"]


def test_every_phase_against_os_and_fio(tmp_path: Path, capsys: pytest.CaptureFixture[str]
                                        ) -> None:
    json_path, plot_path = tmp_path / "bench.json", tmp_path / "bench.png"
    assert main(["bench", *TINY, "--data-dir", str(tmp_path), "--json", str(json_path),
                 "--plot", str(plot_path)]) == 0

    report = json.loads(json_path.read_text())
    assert report["config"]["servers"] == 2 and report["config"]["clients"] == 2
    assert report["config"]["mode"] == "local processes"
    assert report["idle_server_cpu_percent"] is not None
    assert [phase["name"] for phase in report["phases"]] == EVERY_PHASE
    for phase in report["phases"]:
        results = phase["results"]
        for target in ("benchfs", "os"):
            _check_measurement(results[target], phase["expected_items"])
        assert phase["ratios"]["os"] > 0
        if phase["name"] in VERIFIED:
            assert results["benchfs"]["verified"] == phase["expected_items"]
            assert results["os"]["verified"] == phase["expected_items"]
        if phase["family"] in ("ior-easy", "ior-hard"):
            assert results["benchfs"]["server_cpu_s"] is not None
    easy = [phase for phase in report["phases"] if phase["family"] == "ior-easy"]
    if shutil.which("fio"):
        for phase in easy:
            assert phase["results"]["fio"]["value"] > 0
            assert phase["ratios"]["fio"] > 0
    else:
        assert "fio" in report["fio_note"]

    table = capsys.readouterr().out
    assert all(name in table for name in EVERY_PHASE)
    assert plot_path.read_bytes().startswith(b"\x89PNG")
    # The cluster, the os baseline and fio's files lived in a scratch directory, now gone.
    assert sorted(path.name for path in tmp_path.iterdir()) == ["bench.json", "bench.png"]


def test_existing_cluster_over_tcp_is_benchmarked_and_left_clean(tmp_path: Path) -> None:
    cluster = start_cluster(tmp_path / "cluster", servers=1, transport="tcp")
    try:
        json_path = tmp_path / "bench.json"
        assert main(["bench", *TINY, "--registry", str(cluster.registry), "--clients", "1",
                     "--phases", "ior-hard,mdtest-hard,find", "--data-dir", str(tmp_path),
                     "--json", str(json_path)]) == 0
        report = json.loads(json_path.read_text())
        assert report["config"]["started_cluster"] is False
        assert report["config"]["servers"] == 1
        assert [phase["name"] for phase in report["phases"]] == [
            "ior-hard-write", "mdtest-hard-create", "find", "ior-hard-read", "mdtest-hard-stat",
            "mdtest-hard-read", "mdtest-hard-delete"]
        with benchfs.connect(cluster.registry) as client:
            assert client.listdir("/") == []
    finally:
        cluster.down()


@pytest.mark.parametrize(("arguments", "message"), [
    (["--phases", "ior-easy,nope"], "unknown phases ['nope']"),
    (["--phases", "find"], "add mdtest-easy or mdtest-hard"),
    (["--block-size", "5M", "--transfer-size", "4M"], "not a multiple"),
])
def test_impossible_options_fail_before_any_server_starts(
        arguments: list[str], message: str, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "--data-dir", str(tmp_path), *arguments]) == 2
    assert message in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


@pytest.mark.skipif(shutil.which("mpirun") is None, reason="no mpirun")
def test_every_mpi_rank_is_a_client(tmp_path: Path) -> None:
    pytest.importorskip("mpi4py")
    json_path = tmp_path / "bench.json"
    # Open MPI refuses root without these; --bind-to none keeps both ranks off core 0.
    env = {**os.environ, "OMPI_ALLOW_RUN_AS_ROOT": "1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1"}
    subprocess.run(
        ["mpirun", "-np", "2", "--oversubscribe", "--bind-to", "none", sys.executable, "-m",
         "benchfs", "bench", *TINY, "--phases", "ior-easy,mdtest-easy", "--data-dir",
         str(tmp_path), "--json", str(json_path)],
        env=env, check=True, timeout=240, stdin=subprocess.DEVNULL)
    report = json.loads(json_path.read_text())
    assert report["config"]["mode"] == "MPI ranks"
    assert report["config"]["clients"] == 2
    read = next(phase for phase in report["phases"] if phase["name"] == "ior-easy-read-1MiB")
    assert read["results"]["benchfs"]["verified"] == read["expected_items"]


def test_latency_percentiles_are_nearest_rank() -> None:
    latency = Latency.of([i / 1e6 for i in range(100, 0, -1)])  # 1..100 µs, unsorted
    assert (latency.count, latency.p50_us, latency.p99_us) == (100, pytest.approx(50),
                                                               pytest.approx(99))
    assert latency.mean_us == pytest.approx(50.5)


def test_fio_json_is_read_from_the_group_report() -> None:
    document = {"jobs": [{"write": {
        "io_bytes": 8 << 20, "bw_bytes": 4 << 20, "runtime": 2000,
        "lat_ns": {"N": 8, "mean": 250_000.0,
                   "percentile": {"50.000000": 200_000, "99.000000": 900_000}},
    }}]}
    measurement = parse_fio("fio: a warning first\n" + json.dumps(document), "write")
    assert (measurement.value, measurement.seconds, measurement.items) == (4.0, 2.0, 8)
    assert measurement.latency["write"] == Latency(8, 250.0, 200.0, 900.0)
