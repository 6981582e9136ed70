"""benchfs cp against GNU cp: trees in, out and within benchfs, options, errors."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import benchfs
from benchfs.cluster import LocalCluster
from tests.tools.conftest import CHUNK, benchfs_command
from tests.tools.trees import allocated, make_awkward_tree, snapshot


def test_awkward_tree_copied_in_and_out_compares_equal(tool_cluster: LocalCluster,
                                                       tmp_path: Path) -> None:
    source = make_awkward_tree(tmp_path / "source")
    benchfs_command(tool_cluster, "cp", "-a", source, "bfs:/cp-in", check=True)
    benchfs_command(tool_cluster, "cp", "-a", "benchfs:///cp-in", tmp_path / "back",
                    check=True)
    assert snapshot(tmp_path / "back") == snapshot(source)


def test_benchfs_to_benchfs_copy_keeps_the_tree(tool_cluster: LocalCluster,
                                                tmp_path: Path) -> None:
    source = make_awkward_tree(tmp_path / "source")
    benchfs_command(tool_cluster, "cp", "-a", source, "bfs:/cp-bb", check=True)
    benchfs_command(tool_cluster, "cp", "-a", "bfs:/cp-bb", "bfs:/cp-bb2", check=True)
    benchfs_command(tool_cluster, "cp", "-a", "bfs:/cp-bb2", tmp_path / "back", check=True)
    assert snapshot(tmp_path / "back") == snapshot(source)


def test_holes_stay_holes_both_ways(tool_cluster: LocalCluster, tmp_path: Path) -> None:
    sparse = tmp_path / "sparse"
    with open(sparse, "wb") as handle:
        handle.write(b"head")
        handle.seek(40 * CHUNK)
        handle.write(b"tail")
    benchfs_command(tool_cluster, "cp", sparse, "bfs:/sparse", check=True)
    with benchfs.connect(tool_cluster.registry) as client:
        fd = client.open("/sparse", os.O_RDONLY)
        try:
            # The copy's first hole starts in the first chunk and its data resumes
            # only at the source's second extent.
            assert client.lseek(fd, 0, os.SEEK_HOLE) < CHUNK
            assert client.lseek(fd, CHUNK, os.SEEK_DATA) >= 39 * CHUNK
        finally:
            client.close(fd)
    benchfs_command(tool_cluster, "cp", "bfs:/sparse", tmp_path / "back", check=True)
    assert (tmp_path / "back").read_bytes() == sparse.read_bytes()
    assert allocated(tmp_path / "back") <= allocated(sparse) + 2 * CHUNK
    assert allocated(tmp_path / "back") < os.stat(sparse).st_size // 4


def test_a_failed_file_is_reported_and_the_rest_still_copied(tool_cluster: LocalCluster,
                                                             tmp_path: Path) -> None:
    source = tmp_path / "source"
    source.mkdir()
    (source / "a").write_bytes(b"a")
    os.mkfifo(source / "fifo")  # benchfs has no special files
    (source / "z").write_bytes(b"z")
    done = benchfs_command(tool_cluster, "cp", "-r", source, "bfs:/cp-fail")
    assert done.returncode == 1
    assert b"benchfs cp: cannot copy special file '" in done.stderr
    assert done.stderr.count(b"\n") == 1
    with benchfs.connect(tool_cluster.registry) as client:
        assert sorted(client.listdir("/cp-fail")) == ["a", "z"]


def test_a_directory_where_a_file_goes_fails_that_file_only(tool_cluster: LocalCluster,
                                                            tmp_path: Path) -> None:
    source = tmp_path / "source"
    source.mkdir()
    (source / "clash").write_bytes(b"file")
    (source / "fine").write_bytes(b"fine")
    with benchfs.connect(tool_cluster.registry) as client:
        client.makedirs("/cp-clash/source/clash")
    done = benchfs_command(tool_cluster, "cp", "-r", source, "bfs:/cp-clash")
    assert done.returncode == 1
    assert b"cannot overwrite directory 'bfs:/cp-clash/source/clash'" in done.stderr
    with benchfs.connect(tool_cluster.registry) as client:
        # cp -r into an existing directory lands in it under the source's name.
        assert client.listdir("/cp-clash/source/clash") == []
        fd = client.open("/cp-clash/source/fine", os.O_RDONLY)
        assert client.read(fd, 10) == b"fine"
        client.close(fd)


def _gnu_and_benchfs(cluster: LocalCluster, tmp_path: Path, name: str,
                     *options: str) -> tuple[int, int, bytes, bytes]:
    """The same copy by GNU cp between local directories and by benchfs cp into benchfs,
    the destinations prepared alike; exit codes and the resulting file's contents."""
    src = tmp_path / f"{name}-src"
    src.write_bytes(b"new")
    os.utime(src, (2_000_000_000, 2_000_000_000))
    local = tmp_path / f"{name}-dst"
    local.write_bytes(b"old")
    os.utime(local, (1_000_000_000, 1_000_000_000) if "older" in name
             else (2_100_000_000, 2_100_000_000))
    benchfs_command(cluster, "cp", "-p", local, f"bfs:/{name}", check=True)
    gnu = subprocess.run(["cp", *options, src, local], capture_output=True)
    ours = benchfs_command(cluster, "cp", *options, src, f"bfs:/{name}")
    benchfs_command(cluster, "cp", f"bfs:/{name}", tmp_path / f"{name}-back", check=True)
    return gnu.returncode, ours.returncode, local.read_bytes(), \
        (tmp_path / f"{name}-back").read_bytes()


@pytest.mark.parametrize(("name", "options"), [
    ("no-clobber", ("-n",)), ("update-older", ("-u",)), ("update-newer", ("-u",)),
    ("plain", ()),
])
def test_no_clobber_and_update_as_gnu_cp(tool_cluster: LocalCluster, tmp_path: Path,
                                         name: str, options: tuple[str, ...]) -> None:
    gnu_code, our_code, gnu_result, our_result = _gnu_and_benchfs(
        tool_cluster, tmp_path, name, *options)
    assert (our_code, our_result) == (gnu_code, gnu_result)


@pytest.mark.parametrize("arguments", [
    ["{dir}", "{dst}"],  # a directory without -r
    ["{missing}", "{dst}"],
    ["{file}", "{file2}", "{file}"],  # several sources, target not a directory
    ["{file}"],  # no destination
])
def test_exit_codes_match_gnu_cp(tool_cluster: LocalCluster, tmp_path: Path,
                                 arguments: list[str]) -> None:
    (tmp_path / "dir").mkdir()
    (tmp_path / "file").write_bytes(b"f")
    (tmp_path / "file2").write_bytes(b"g")
    names = {"dir": tmp_path / "dir", "dst": tmp_path / "dst", "missing": tmp_path / "nope",
             "file": tmp_path / "file", "file2": tmp_path / "file2"}
    local = [a.format(**names) for a in arguments]
    gnu = subprocess.run(["cp", *local], capture_output=True)
    remote_names = {**names, "dst": "bfs:/exit-dst"}
    ours = benchfs_command(tool_cluster, "cp", *[a.format(**remote_names) for a in arguments])
    assert ours.returncode == gnu.returncode != 0
    assert ours.stderr.startswith(b"benchfs cp: ")


def test_verify_and_verbose(tool_cluster: LocalCluster, tmp_path: Path) -> None:
    source = tmp_path / "v"
    source.mkdir()
    (source / "data").write_bytes(os.urandom(3 * CHUNK + 5))
    done = benchfs_command(tool_cluster, "cp", "-av", "--verify", source, "bfs:/verified",
                           check=True)
    assert f"'{source}/data' -> 'bfs:/verified/data'".encode() in done.stdout


def test_copy_into_itself_is_refused(tool_cluster: LocalCluster) -> None:
    with benchfs.connect(tool_cluster.registry) as client:
        client.makedirs("/self/inner")
    done = benchfs_command(tool_cluster, "cp", "-r", "bfs:/self", "bfs:/self/inner")
    assert done.returncode == 1
    assert b"into itself" in done.stderr




def test_copying_again_over_the_copy_changes_nothing(tool_cluster: LocalCluster,
                                                     tmp_path: Path) -> None:
    source = make_awkward_tree(tmp_path / "source")
    for _ in range(2):  # the second run meets every name already there
        benchfs_command(tool_cluster, "cp", "-aT", source, "bfs:/cp-twice", check=True)
        benchfs_command(tool_cluster, "cp", "-aT", "bfs:/cp-twice", tmp_path / "back",
                        check=True)
    assert snapshot(tmp_path / "back") == snapshot(source)


def test_a_progress_bar_only_on_a_terminal(tool_cluster: LocalCluster, tmp_path: Path) -> None:
    (tmp_path / "data").write_bytes(os.urandom(3 * CHUNK))
    terminal, other_end = os.openpty()
    try:
        env = {**os.environ, "BENCHFS_REGISTRY": str(tool_cluster.registry)}
        shown = subprocess.run([sys.executable, "-m", "benchfs", "cp", str(tmp_path / "data"),
                                "bfs:/bar"], stdout=other_end, stderr=subprocess.PIPE,
                               env=env, timeout=60, check=True)
    finally:
        os.close(terminal)
        os.close(other_end)
    assert b"100%" in shown.stderr
    quiet = benchfs_command(tool_cluster, "cp", tmp_path / "data", "bfs:/bar2", check=True)
    assert quiet.stderr == b""
