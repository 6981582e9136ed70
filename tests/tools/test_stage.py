"""stage-in / stage-out: a team of workers or MPI ranks, and resuming a killed copy."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import benchfs
from benchfs.cluster import LocalCluster
from tests.tools.conftest import CHUNK, benchfs_command
from tests.tools.trees import make_awkward_tree, snapshot

# Small pieces, so that several-chunk files are split between the processes.
PIECE = ["--piece-size", str(2 * CHUNK)]


@pytest.mark.parametrize("workers", ["1", "2"])
def test_staged_in_and_out_compares_equal(tool_cluster: LocalCluster, tmp_path: Path,
                                          workers: str) -> None:
    source = make_awkward_tree(tmp_path / "source")
    (source / "big").write_bytes(os.urandom(9 * CHUNK + 3))
    os.utime(source / "big", ns=(1_600_000_000_123_456_789, 1_600_000_000_123_456_789))
    benchfs_command(tool_cluster, "stage-in", source, f"/stage-{workers}", "--workers",
                    workers, *PIECE, "--verify", check=True)
    benchfs_command(tool_cluster, "stage-out", f"bfs:/stage-{workers}", tmp_path / "back",
                    "--workers", workers, *PIECE, "--verify", check=True)
    assert snapshot(tmp_path / "back") == snapshot(source)


@pytest.mark.skipif(shutil.which("mpirun") is None, reason="no mpirun")
def test_every_mpi_rank_copies_its_share(tool_cluster: LocalCluster, tmp_path: Path) -> None:
    pytest.importorskip("mpi4py")
    source = make_awkward_tree(tmp_path / "source")
    (source / "big").write_bytes(os.urandom(9 * CHUNK + 3))
    # Open MPI refuses root without these; --bind-to none keeps both ranks off core 0.
    os.environ.update(OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
    mpirun = ["mpirun", "-np", "2", "--oversubscribe", "--bind-to", "none"]
    for arguments in (["stage-in", source, "/stage-mpi"],
                      ["stage-out", "bfs:/stage-mpi", tmp_path / "back"]):
        done = benchfs_command(tool_cluster, *arguments, *PIECE, prefix=mpirun, timeout=240)
        assert done.returncode == 0, done.stderr.decode(errors="replace")
    assert snapshot(tmp_path / "back") == snapshot(source)


def _complete_files(client: benchfs.Client, source: Path, top: str) -> dict[str, int]:
    """name -> ctime of each copy whose size and mtime are the source's."""
    done: dict[str, int] = {}
    try:
        client.stat(top)
    except FileNotFoundError:
        return done
    for name in os.listdir(source):
        try:
            st = client.stat(f"{top}/{name}")
        except FileNotFoundError:
            continue
        original = os.stat(source / name)
        if (st.st_size, st.st_mtime_ns) == (original.st_size, original.st_mtime_ns):
            done[name] = st.st_ctime_ns
    return done


def test_a_killed_stage_in_resumes_where_it_stopped(tool_cluster: LocalCluster,
                                                    tmp_path: Path) -> None:
    source = tmp_path / "many"
    source.mkdir()
    for index in range(600):
        (source / f"f{index:04d}").write_bytes(os.urandom(index * 37 % 9000))
    (source / "zz-big").write_bytes(os.urandom(12 * CHUNK))
    env = {**os.environ, "BENCHFS_REGISTRY": str(tool_cluster.registry)}
    copier = subprocess.Popen(
        [sys.executable, "-m", "benchfs", "stage-in", str(source), "/resumed", "--workers",
         "2", *PIECE], env=env, start_new_session=True, stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    with benchfs.connect(tool_cluster.registry) as client:
        deadline = time.monotonic() + 60
        try:
            while len(_complete_files(client, source, "/resumed")) < 20:
                assert copier.poll() is None, "the copy finished before it could be killed"
                assert time.monotonic() < deadline
                time.sleep(0.05)
        finally:
            os.killpg(copier.pid, signal.SIGKILL)  # the copier and its workers, mid-way
            copier.wait()
        before = _complete_files(client, source, "/resumed")
        assert 20 <= len(before) < 601
        benchfs_command(tool_cluster, "stage-in", source, "/resumed", "--workers", "2",
                        *PIECE, check=True)
        after = _complete_files(client, source, "/resumed")
    assert len(after) == 601
    # What the first run finished was skipped, not copied again (its ctime is unchanged).
    assert {name: after[name] for name in before} == before
    benchfs_command(tool_cluster, "stage-out", "bfs:/resumed", tmp_path / "back", check=True)
    assert snapshot(tmp_path / "back") == snapshot(source)


def test_the_bench_stage_phase_runs_and_reports(tmp_path: Path) -> None:
    from benchfs.cli import main

    json_path = tmp_path / "bench.json"
    assert main(["bench", "--quick", "--phases", "stage", "--stage-files", "20",
                 "--stage-large-size", "1M", "--clients", "1", "--data-dir", str(tmp_path),
                 "--json", str(json_path)]) == 0
    phases = {phase["name"]: phase for phase in json.loads(json_path.read_text())["phases"]}
    assert set(phases) == {"stage-in-1w", "stage-out-1w", "stage-in-2w", "stage-out-2w",
                           "cp-large", "write-large"}
    for name in ("stage-in-2w", "stage-out-1w"):
        assert phases[name]["results"]["benchfs"]["items"] == 24  # 20 small + 4 large
        assert phases[name]["results"]["benchfs"]["nbytes"] > 4 << 20
        assert phases[name]["ratios"]["os"] > 0
