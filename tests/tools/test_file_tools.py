"""The file tools on bfs: paths against GNU coreutils on a local copy of the same tree:
the same output where it is deterministic, the same exit codes.

Where benchfs's answers differ by nature they are left out of the comparison, and why is
said there: directories have size 0 on benchfs (4096 on ext4), and benchfs reports a
file's blocks from its size (so "total" of ls -l and du without -b differ)."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

import benchfs
from benchfs.cluster import LocalCluster
from benchfs.tools.edit import parse_mode
from benchfs.tools.listing import human
from tests.tools.conftest import CHUNK, benchfs_command
from tests.tools.trees import make_awkward_tree

GNU_ENV = {**os.environ, "LC_ALL": "C", "TZ": "UTC"}


@pytest.fixture(scope="module")
def trees(tool_cluster: LocalCluster, tmp_path_factory: pytest.TempPathFactory
          ) -> Iterator[tuple[Path, str]]:
    """(the local tree, its copy on benchfs)."""
    local = make_awkward_tree(tmp_path_factory.mktemp("tools") / "tree")
    flat = local / "flat"  # files and symlinks only: ls -l lines comparable one by one
    flat.mkdir()
    for index, size in enumerate([0, 1, 999, 1024, 1536, 10 * 1024, 3 * CHUNK + 1,
                                  5 << 20]):
        path = flat / f"f{index}"
        with open(path, "wb") as handle:
            handle.truncate(size)
        os.utime(path, (1_700_000_000 + index * 86400 * 40,) * 2)
    os.chmod(flat / "f1", 0o4751)
    os.symlink("f2", flat / "to-f2")
    os.utime(flat / "to-f2", (1_600_000_000,) * 2, follow_symlinks=False)
    os.utime(flat, (1_600_000_000,) * 2)
    benchfs_command(tool_cluster, "cp", "-a", local, "bfs:/tools", check=True)
    yield local, "bfs:/tools"


def gnu(*command: str | os.PathLike[str] | bytes) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(list(map(os.fsencode, command)), capture_output=True, env=GNU_ENV)


def ours(cluster: LocalCluster, *arguments: str | os.PathLike[str] | bytes
         ) -> subprocess.CompletedProcess[bytes]:
    return benchfs_command(cluster, *arguments)


def same(cluster: LocalCluster, trees: tuple[Path, str], tool: str, *arguments: str,
         sort: bool = False, separator: bytes = b"\n",
         keep: object = None) -> bytes:
    """Run ``tool ARGS`` with {} standing for the tree, in both places; assert the same
    exit code and output (the tree's name swapped); return our output."""
    local, remote = trees
    theirs = gnu(tool, *[a.replace("{}", str(local)) for a in arguments])
    mine = subprocess.run(
        ["python", "-m", "benchfs", tool, *[a.replace("{}", remote) for a in arguments]],
        capture_output=True, env={**GNU_ENV, "BENCHFS_REGISTRY": str(cluster.registry)})
    assert mine.returncode == theirs.returncode, (mine.stderr, theirs.stderr)
    expected = theirs.stdout.replace(os.fsencode(local), remote.encode())
    actual = mine.stdout
    if keep is not None:
        expected = separator.join(p for p in expected.split(separator) if keep(p))
        actual = separator.join(p for p in actual.split(separator) if keep(p))
    if sort:
        assert sorted(actual.split(separator)) == sorted(expected.split(separator))
    else:
        assert actual == expected
    return actual


# -- ls --------------------------------------------------------------------------------------


@pytest.mark.parametrize("options", [["-1"], ["-a"], ["-R"], ["-aR"], ["-d"], ["-1d"]])
def test_ls_names(tool_cluster: LocalCluster, trees: tuple[Path, str],
                  options: list[str]) -> None:
    same(tool_cluster, trees, "ls", *options, "{}")


@pytest.mark.parametrize("options", [["-l"], ["-lh"], ["-la"]])
def test_ls_long_columns(tool_cluster: LocalCluster, trees: tuple[Path, str],
                         options: list[str]) -> None:
    # "total" counts allocated blocks, "." and ".." are directories: see the module doc.
    output = same(tool_cluster, trees, "ls", *options, "{}/flat",
                  keep=lambda line: not line.startswith((b"total", b"d")))
    assert b"-rwsr-x--x 1 root root" in output and b"to-f2 -> f2" in output


def test_ls_of_files_and_missing_operands(tool_cluster: LocalCluster,
                                          trees: tuple[Path, str]) -> None:
    same(tool_cluster, trees, "ls", "-l", "{}/flat/f3", "{}/flat/to-f2")
    same(tool_cluster, trees, "ls", "{}/flat/f3", "{}/nope", "{}/empty dir")


# -- cat, du, find, stat ---------------------------------------------------------------------


def test_cat(tool_cluster: LocalCluster, trees: tuple[Path, str]) -> None:
    same(tool_cluster, trees, "cat", "{}/several-chunks", "{}/with space")
    same(tool_cluster, trees, "cat", "{}/nope", "{}/read-only")
    same(tool_cluster, trees, "cat", "{}/empty dir")


@pytest.mark.parametrize("options", [["-ab"], ["-ah", "--apparent-size"], ["-abc"]])
def test_du_apparent_sizes_of_files(tool_cluster: LocalCluster, trees: tuple[Path, str],
                                    options: list[str]) -> None:
    # Directories' own sizes differ (module doc): compare the files' lines.
    same(tool_cluster, trees, "du", *options, "{}/flat", sort=True,
         keep=lambda line: line.endswith((b"flat", b"total")) is False and b"/" in line)


def test_du_summary_counts_hard_links_once(tool_cluster: LocalCluster,
                                           trees: tuple[Path, str]) -> None:
    done = ours(tool_cluster, "du", "-sb", f"{trees[1]}/sub" + os.fsdecode(b"\xff"))
    # leaf (4 bytes) and a hard link to several-chunks, counted once.
    assert done.stdout.startswith(str(4 + 5 * CHUNK + 1234).encode() + b"\t")
    summary = ours(tool_cluster, "du", "-shc", "bfs:/tools/flat", "bfs:/tools/empty dir")
    assert summary.stdout.splitlines()[-1].endswith(b"\ttotal")


@pytest.mark.parametrize("expression", [
    [], ["-name", "*link*"], ["-name", "d1?"], ["-type", "f"], ["-type", "d"],
    ["-type", "l"], ["-type", "f", "-size", "+1k"], ["-size", "-2", "-type", "l"],
    ["-size", "1536c"], ["-size", "2M"],
    ["-maxdepth", "1"], ["-mindepth", "3"], ["-maxdepth", "2", "-type", "f", "-name", "f*"],
])
def test_find(tool_cluster: LocalCluster, trees: tuple[Path, str],
              expression: list[str]) -> None:
    # GNU find lists in directory order, benchfs find by name: compare as sets.
    # (-size leaves directories out: their sizes differ, see the module doc.)
    same(tool_cluster, trees, "find", "{}", *expression, "-print0", sort=True,
         separator=b"\0")


def test_find_of_a_missing_path(tool_cluster: LocalCluster, trees: tuple[Path, str]) -> None:
    same(tool_cluster, trees, "find", "{}/nope")


@pytest.mark.parametrize("name", ["flat/f1", "flat/f0", "rel-link", "read-only", "empty-file"])
def test_stat_format(tool_cluster: LocalCluster, trees: tuple[Path, str], name: str) -> None:
    fields = "%n|%s|%a|%04a|%A|%F|%h|%u|%U|%g|%G|%Y|%N|%f|%5h|%-5h|"  # atime: read by cat
    same(tool_cluster, trees, "stat", "-c", fields, "{}/" + name)
    same(tool_cluster, trees, "stat", "-L", "-c", "%n %F %s", "{}/rel-link")


def test_stat_default_layout_and_errors(tool_cluster: LocalCluster,
                                        trees: tuple[Path, str]) -> None:
    same(tool_cluster, trees, "stat", "-c", "%n %A %F", "{}/empty dir", "{}/nope")
    # The default layout, less what names the device, the inode, the blocks and the
    # I/O size (a chunk on benchfs) and the times of access, change and birth.
    same(tool_cluster, trees, "stat", "{}/flat/f4",
         keep=lambda line: line.startswith((b"  File", b"Access: (", b"Modify")))


# -- mkdir, rm, mv, chmod, ln ----------------------------------------------------------------


@pytest.fixture
def scratch(tool_cluster: LocalCluster, tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """An empty local directory and an empty benchfs one, for tools that change trees."""
    name = f"/scratch-{tmp_path.name}"
    with benchfs.connect(tool_cluster.registry) as client:
        client.mkdir(name)
    yield tmp_path, f"bfs:{name}"
    benchfs_command(tool_cluster, "rm", "-rf", f"bfs:{name}")


def _tree_of(cluster: LocalCluster, local: Path, remote: str
             ) -> tuple[list[bytes], list[bytes]]:
    """Names, modes and types in the local tree and in the benchfs one (copied out)."""
    # The roots' own modes differ (pytest's tmp_path is 0700): their contents are compared.
    theirs = gnu("find", local, "-mindepth", "1", "-printf", "%P %m %y\n").stdout.splitlines()
    mine = gnu("python", "-m", "benchfs", "cp", "-a", "--registry", str(cluster.registry),
               remote, local.parent / "mirror")
    assert mine.returncode == 0, mine.stderr
    copied = gnu("find", local.parent / "mirror", "-mindepth", "1", "-printf",
                 "%P %m %y\n").stdout.splitlines()
    shutil.rmtree(local.parent / "mirror")
    return sorted(theirs), sorted(copied)


@pytest.mark.parametrize("steps", [
    [["mkdir", "{}/a"], ["mkdir", "{}/a"], ["mkdir", "{}/x/y"], ["mkdir", "-p", "{}/p/q/r"],
     ["mkdir", "-p", "{}/p/q"], ["mkdir", "-m", "700", "{}/m"]],
    [["mkdir", "{}/d"], ["rm", "{}/d"], ["rm", "{}/nope"], ["rm", "-f", "{}/nope"],
     ["rm", "-d", "{}/d"], ["mkdir", "-p", "{}/t/u"], ["rm", "-r", "{}/t"]],
    [["mkdir", "{}/d"], ["ln", "-s", "../target", "{}/d/sym"], ["ln", "-s", "x", "{}/d/sym"],
     ["ln", "-sf", "y", "{}/d/sym"], ["mkdir", "{}/e"], ["mv", "{}/d/sym", "{}/e"],
     ["mv", "{}/e", "{}/f"], ["mv", "{}/nope", "{}/f"]],
])
def test_changing_tools_as_coreutils(tool_cluster: LocalCluster, scratch: tuple[Path, str],
                                     steps: list[list[str]]) -> None:
    local, remote = scratch
    for tool, *arguments in steps:
        theirs = gnu(tool, *[a.replace("{}", str(local)) for a in arguments])
        mine = ours(tool_cluster, tool, *[a.replace("{}", remote) for a in arguments])
        assert mine.returncode == theirs.returncode, (tool, arguments, mine.stderr)
    their_tree, mine_tree = _tree_of(tool_cluster, local, remote)
    assert mine_tree == their_tree


def test_hard_links_and_moves_across_file_systems(tool_cluster: LocalCluster,
                                                  scratch: tuple[Path, str]) -> None:
    local, remote = scratch
    (local / "file").write_bytes(b"data")
    assert ours(tool_cluster, "mv", local / "file", remote).returncode == 0
    assert not (local / "file").exists()
    assert ours(tool_cluster, "ln", f"{remote}/file", f"{remote}/second").returncode == 0
    assert ours(tool_cluster, "ln", f"{remote}/file", f"{remote}/second").returncode == 1
    done = ours(tool_cluster, "stat", "-c", "%h", f"{remote}/second")
    assert done.stdout == b"2\n"


@pytest.mark.parametrize("mode", ["644", "0755", "u+x", "go-w", "a=rX", "g=u", "+t",
                                  "u+s,o-rwx", "=r", "ug+rw-x", "a+X"])
def test_chmod_modes_as_coreutils(tool_cluster: LocalCluster, scratch: tuple[Path, str],
                                  mode: str) -> None:
    local, remote = scratch
    for base in (local,):
        (base / "file").write_bytes(b"")
        (base / "dir").mkdir()
        os.chmod(base / "file", 0o640)
        os.chmod(base / "dir", 0o750)
    benchfs_command(tool_cluster, "cp", "-a", local / "file", local / "dir", remote,
                    check=True)
    for name in ("file", "dir"):
        theirs = gnu("chmod", mode, local / name)
        mine = ours(tool_cluster, "chmod", mode, f"{remote}/{name}")
        assert mine.returncode == theirs.returncode
    their_tree, mine_tree = _tree_of(tool_cluster, local, remote)
    assert mine_tree == their_tree


def test_chmod_recursive_and_invalid(tool_cluster: LocalCluster,
                                     scratch: tuple[Path, str]) -> None:
    local, remote = scratch
    (local / "d" / "e").mkdir(parents=True)
    (local / "d" / "f").write_bytes(b"x")
    os.symlink("f", local / "d" / "l")
    benchfs_command(tool_cluster, "cp", "-a", local / "d", remote, check=True)
    assert gnu("chmod", "-R", "go-rx", local / "d").returncode == 0
    assert ours(tool_cluster, "chmod", "-R", "go-rx", f"{remote}/d").returncode == 0
    their_tree, mine_tree = _tree_of(tool_cluster, local, remote)
    assert mine_tree == their_tree
    for bad in ("u+q", "999", "x+r"):
        assert ours(tool_cluster, "chmod", bad, f"{remote}/d").returncode == \
            gnu("chmod", bad, local / "d").returncode == 1


def test_parse_mode_matches_the_kernel_after_gnu_chmod(tmp_path: Path) -> None:
    path = tmp_path / "probe"
    path.write_bytes(b"")
    for start in (0o000, 0o644, 0o751, 0o4700):
        for mode in ("u+x", "a-w", "o=g", "u=rwx,g=rx,o=", "a+X", "-x"):
            os.chmod(path, start)
            assert gnu("chmod", mode, path).returncode == 0
            assert parse_mode(mode, start) == stat.S_IMODE(os.stat(path).st_mode), mode


@pytest.mark.parametrize("size", [0, 1, 1023, 1024, 1025, 1536, 10239, 10240, 10241,
                                  1048575, 1048576, 5 << 20, (1 << 30) + 1])
def test_human_sizes_as_gnu(size: int) -> None:
    expected = gnu("numfmt", "--to=iec", "--round=up", str(size)).stdout.strip().decode()
    assert human(size) == expected
