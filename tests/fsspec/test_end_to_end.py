"""The data stack on a real cluster: pandas (CSV, Parquet through pyarrow), zarr,
dask with worker processes, UPath; copies in other processes; dead servers."""

from __future__ import annotations

import multiprocessing
import os
import pickle
import signal
import subprocess
import sys
import warnings
from pathlib import Path
from typing import Any

import pytest

from benchfs.cluster import LocalCluster
from benchfs.fsspec import BenchFileSystem, disconnect_all
from benchfs.registry import read_server
from tests.conftest import start_cluster

pd = pytest.importorskip("pandas")
np = pytest.importorskip("numpy")


def _frame() -> Any:
    return pd.DataFrame({"a": range(1000), "b": [f"row {i}" for i in range(1000)],
                         "c": np.linspace(0, 1, 1000)})


def test_pandas_csv_and_parquet(bench_cluster: LocalCluster, bench_dir: str) -> None:
    pytest.importorskip("pyarrow")
    options = {"registry": str(bench_cluster.registry)}
    frame = _frame()
    frame.to_csv(f"benchfs://{bench_dir}/in/table.csv", index=False, storage_options=options)
    pd.testing.assert_frame_equal(
        pd.read_csv(f"benchfs://{bench_dir}/in/table.csv", storage_options=options), frame)
    frame.to_parquet(f"benchfs://{bench_dir}/results/run1.parquet", storage_options=options)
    back = pd.read_parquet(f"benchfs://{bench_dir}/results/run1.parquet",
                           storage_options=options)
    pd.testing.assert_frame_equal(back, frame)


def test_zarr_array_chunk_by_chunk(bench_cluster: LocalCluster, bench_dir: str) -> None:
    zarr = pytest.importorskip("zarr")
    options = {"registry": str(bench_cluster.registry)}
    url = f"benchfs://{bench_dir}/arrays/a.zarr"
    array = zarr.open_array(url, mode="w", shape=(256, 192), chunks=(64, 64), dtype="i4",
                            storage_options=options)
    expected = np.arange(256 * 192, dtype="i4").reshape(256, 192)
    for row in range(0, 256, 64):
        for col in range(0, 192, 64):
            array[row:row + 64, col:col + 64] = expected[row:row + 64, col:col + 64]
    again = zarr.open_array(url, mode="r", storage_options=options)
    for row in range(0, 256, 64):
        for col in range(0, 192, 64):
            np.testing.assert_array_equal(again[row:row + 64, col:col + 64],
                                          expected[row:row + 64, col:col + 64])
    fs = BenchFileSystem(registry=str(bench_cluster.registry))
    chunks = [name for name in fs.find(f"{bench_dir}/arrays/a.zarr") if "/c/" in name]
    assert len(chunks) == 4 * 3  # one object per chunk, all written


def test_dask_dataframe_with_worker_processes(bench_cluster: LocalCluster,
                                              bench_dir: str) -> None:
    """The file system is pickled to spawned worker processes, which connect there."""
    dd = pytest.importorskip("dask.dataframe")
    pytest.importorskip("pyarrow")
    options = {"registry": str(bench_cluster.registry)}
    frame = _frame()
    url = f"benchfs://{bench_dir}/dask-out"
    dd.from_pandas(frame, npartitions=4).to_parquet(
        url, storage_options=options, compute_kwargs={"scheduler": "processes"})
    fs = BenchFileSystem(registry=str(bench_cluster.registry))
    assert len(fs.glob(f"{bench_dir}/dask-out/*.parquet")) == 4
    back = dd.read_parquet(url, storage_options=options).compute(scheduler="processes")
    # (dask reads strings back with its own NA flavour of the string dtype)
    pd.testing.assert_frame_equal(back.sort_values("a").reset_index(drop=True), frame,
                                  check_dtype=False)


def test_upath_without_warning(bench_cluster: LocalCluster, bench_dir: str) -> None:
    upath = pytest.importorskip("upath")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # UPath warns for protocols it has no class for
        root = upath.UPath(f"benchfs://{bench_dir}", registry=str(bench_cluster.registry))
        (root / "results").mkdir()
        for name in ("a.parquet", "b.parquet", "notes.txt"):
            (root / "results" / name).write_bytes(name.encode())
        assert type(root).__name__ == "BenchPath"
        assert str(root / "results") == f"benchfs://{bench_dir}/results"
        assert sorted(p.name for p in (root / "results").iterdir()) == [
            "a.parquet", "b.parquet", "notes.txt"]
        assert sorted(p.name for p in (root / "results").glob("*.parquet")) == [
            "a.parquet", "b.parquet"]
        assert (root / "results" / "notes.txt").read_text() == "notes.txt"
        assert (root / "results" / "a.parquet").stat().st_size == len(b"a.parquet")
        assert (root / "results").is_dir() and not (root / "missing").exists()
        with pytest.raises(NotADirectoryError):
            list((root / "results" / "notes.txt").iterdir())


def test_pickled_copy_is_small_and_works_in_a_child_after_the_parent_disconnects(
        bench_cluster: LocalCluster, bench_dir: str) -> None:
    fs = BenchFileSystem(registry=str(bench_cluster.registry))
    fs.pipe_file(f"{bench_dir}/from-parent", b"parent wrote this")
    blob = pickle.dumps(fs)
    assert len(blob) < 500
    disconnect_all()  # the parent's connections are gone
    child = ("import pickle, sys; fs = pickle.loads(sys.stdin.buffer.read()); "
             f"fs.pipe_file('{bench_dir}/from-child', fs.cat_file('{bench_dir}/from-parent'))")
    subprocess.run([sys.executable, "-c", child], input=blob, check=True, timeout=120)
    assert fs.cat_file(f"{bench_dir}/from-child") == b"parent wrote this"


def _child_round_trip(fs: BenchFileSystem, path: str) -> bytes:
    fs.pipe_file(path, f"child {os.getpid()}".encode())
    return fs.cat_file(path)  # type: ignore[no-any-return]


def test_copies_in_spawned_pool_workers(bench_fs: BenchFileSystem, bench_dir: str) -> None:
    bench_fs.ls("/")  # the parent is connected
    paths = [f"{bench_dir}/spawn-{i}" for i in range(4)]
    with multiprocessing.get_context("spawn").Pool(2) as pool:
        answers = pool.starmap(_child_round_trip, [(bench_fs, path) for path in paths],
                               chunksize=1)
    assert all(answer.startswith(b"child ") for answer in answers)
    assert sorted(bench_fs.ls(bench_dir, detail=False)) == sorted(paths)
    assert bench_fs.cat_file(paths[0]) == answers[0]  # the parent still works


_FORKING_PARENT = """
import multiprocessing, sys
from benchfs.fsspec import BenchFileSystem
from tests.fsspec.test_end_to_end import _child_round_trip

fs = BenchFileSystem(registry=sys.argv[1])  # not connected yet: construction is lazy
with multiprocessing.get_context("fork").Pool(2) as pool:
    print(pool.starmap(_child_round_trip, [(fs, f"{sys.argv[2]}/fork-{i}") for i in range(4)]))
fs.ls("/")
with multiprocessing.get_context("fork").Pool(1) as pool:
    print("late fork:", pool.starmap(_child_round_trip, [(fs, f"{sys.argv[2]}/late")]))
fs.ls("/")  # the parent's client works after the fork too
"""


def test_forked_workers(bench_cluster: LocalCluster, bench_dir: str) -> None:
    """Children forked before and after the parent connected both reach the cluster
    (each side of a fork makes a new engine)."""
    result = subprocess.run(
        [sys.executable, "-c", _FORKING_PARENT, str(bench_cluster.registry), bench_dir],
        capture_output=True, text=True, timeout=120, check=True,
        cwd=Path(__file__).resolve().parents[2])
    assert result.stdout.count("b'child ") == 5, result.stdout + result.stderr
    fs = BenchFileSystem(registry=str(bench_cluster.registry))
    assert len(fs.glob(f"{bench_dir}/fork-*")) == 4
    assert fs.cat_file(f"{bench_dir}/late").startswith(b"child ")


def test_dead_server_is_an_error_not_a_missing_file(tmp_path: Path) -> None:
    """zarr takes FileNotFoundError for "no such chunk" and fills in: a dead server
    must surface as its own OSError from every call."""
    cluster = start_cluster(tmp_path / "dying", 2)
    try:
        fs = BenchFileSystem(registry=str(cluster.registry), timeout=2)
        for index in range(8):  # files on both servers
            fs.pipe_file(f"/d/f{index}", b"x" * 100)
        zarr = pytest.importorskip("zarr")
        array = zarr.open_array("benchfs:///arr", mode="w", shape=(64,), chunks=(8,),
                                dtype="i1", fill_value=0,
                                storage_options={"registry": str(cluster.registry),
                                                 "timeout": 2})
        array[:] = 1
        for rank in range(2):
            entry = read_server(cluster.registry, rank)
            assert entry is not None
            os.kill(entry.pid, signal.SIGKILL)
        calls = [lambda: fs.cat_file("/d/f0"), lambda: fs.info("/d/f1"),
                 lambda: fs.exists("/d/f2"), lambda: fs.ls("/d"), lambda: fs.find("/"),
                 lambda: fs.isfile("/d/f3"), lambda: fs.open("/d/f4", "rb").read(),
                 lambda: fs.pipe_file("/d/new", b"y"), lambda: array[:]]
        for call in calls:
            with pytest.raises(OSError) as caught:
                call()
            assert not isinstance(caught.value, (FileNotFoundError, NotADirectoryError))
    finally:
        disconnect_all()
        cluster.down()


def test_silent_servers_time_out_not_missing(tmp_path: Path) -> None:
    """Servers that stop answering (SIGSTOP) give ETIMEDOUT after the timeout."""
    cluster = start_cluster(tmp_path / "silent", 2)
    pids = []
    try:
        fs = BenchFileSystem(registry=str(cluster.registry), timeout=1)
        fs.pipe_file("/s/f", b"x")
        for rank in range(2):
            entry = read_server(cluster.registry, rank)
            assert entry is not None
            pids.append(entry.pid)
            os.kill(entry.pid, signal.SIGSTOP)
        for call in (lambda: fs.cat_file("/s/f"), lambda: fs.exists("/s/g"),
                     lambda: fs.ls("/s")):
            with pytest.raises(TimeoutError):
                call()
    finally:
        for pid in pids:
            os.kill(pid, signal.SIGCONT)
        disconnect_all()
        cluster.down()
