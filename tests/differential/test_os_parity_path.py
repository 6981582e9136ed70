"""``benchfs.path`` against ``os.path``: the functions that look at the file system, the
ones that depend on the working directory, and the pure ones (posixpath's own)."""

from __future__ import annotations

import os
import posixpath
from pathlib import PurePosixPath
from typing import Any

import pytest

import benchfs
import benchfs.path
from tests.differential.mirror import F, P, Side
from tests.differential.parity_support import OsMirror

RW_CREATE = os.O_CREAT | os.O_RDWR



def sample(fs: OsMirror) -> None:
    fs("mkdir", P("d"))
    fs("mkdir", P("d/sub"))
    fs("open", P("d/f"), RW_CREATE, 0o644, bind="f")
    fs("write", F("f"), b"twelve bytes")
    fs("symlink", "f", P("d/lf"))
    fs("symlink", "sub", P("d/ld"))
    fs("symlink", "../d/sub/..", P("d/sub/up"))
    fs("symlink", "nowhere", P("d/dangling"))
    fs("symlink", "loop", P("d/loop"))
    fs("symlink", "ping", P("d/pong"))
    fs("symlink", "pong", P("d/ping"))
    fs("link", P("d/f"), P("d/hard"))


NAMES = ["d", "d/f", "d/lf", "d/ld", "d/ld/up", "d/dangling", "d/loop", "d/missing",
         "d/f/x", "d/hard", "d/sub/up/f", ""]


@pytest.mark.parametrize("func", ["exists", "lexists", "isfile", "isdir", "islink",
                                  "ismount"])
def test_questions(fs: OsMirror, func: str) -> None:
    sample(fs)
    for name in NAMES:
        fs(f"path.{func}", P(name))
        fs(f"path.{func}", P(name, as_bytes=True))
    fs(f"path.{func}", "a\0b")                          # False, not ValueError
    fs(f"path.{func}", 1.5) if func in ("islink", "ismount") else None
    fs(f"path.{func}", F("nope"))


def test_exists_of_a_descriptor(fs: OsMirror) -> None:
    sample(fs)
    fs("path.exists", F("f"))
    fs("path.isfile", F("f"))


def test_sizes_and_times(fs: OsMirror) -> None:
    sample(fs)
    fs("utime", P("d/f"), ns=(1_500_000_000_250_000_000, 1_600_000_000_750_000_000))
    for name in ("d/f", "d/lf", "d/hard", "d/missing", "d/dangling"):
        fs("path.getsize", P(name))
        fs("path.getmtime", P(name))
        fs("path.getatime", P(name))
    fs("path.getctime", P("d/missing"))
    fs.both(lambda api, side: type(api.path.getctime(side.resolve(P("d/f")))))


def test_samefile_and_sameopenfile(fs: OsMirror) -> None:
    sample(fs)
    for a, b in (("d/f", "d/hard"), ("d/f", "d/lf"), ("d/f", "d/sub"), ("d/ld", "d/sub"),
                 ("d/f", "d/missing")):
        fs("path.samefile", P(a), P(b))
    fs("open", P("d/hard"), os.O_RDONLY, bind="h")
    fs("path.sameopenfile", F("f"), F("h"))
    fs("open", P("d"), os.O_RDONLY, bind="dir")
    fs("path.sameopenfile", F("f"), F("dir"))


def test_realpath(fs: OsMirror) -> None:
    sample(fs)
    for name in NAMES + ["d/ld/../f", "d/./sub//up/./sub", "d/ping/x", "d/dangling/x"]:
        fs("path.realpath", P(name))
        fs("path.realpath", P(name, as_bytes=True))
        fs("path.realpath", P(name), strict=True)
    fs("path.realpath", PurePosixPath("/"))


def test_realpath_absolute_targets(fs: OsMirror) -> None:
    sample(fs)
    fs("symlink", P("d/sub"), P("abs"))             # absolute: each side's own root
    fs("path.realpath", P("abs/up/lf"))


def test_paths_relative_to_the_working_directory(fs: OsMirror) -> None:
    sample(fs)
    with fs.inside("d/sub"):
        for call in ("abspath", "realpath"):
            for arg in ("x", "..", "../lf", b"x", ".", "up/f"):
                fs(f"path.{call}", arg)
        fs("path.relpath", P("d/f"))
        fs("path.relpath", P("d/f"), P("d/ld"))
        fs("path.relpath", "x", "..")
        fs("path.relpath", b"x")
        fs("path.relpath", "")
        fs("path.relpath", "x", b"y")                   # TypeError: mixing
        fs("path.exists", "../f")
        fs("path.isdir", "up")


def test_pure_functions_are_posixpath() -> None:
    for name in ("join", "split", "basename", "dirname", "normpath", "splitext",
                 "commonpath", "commonprefix", "isabs", "normcase", "splitdrive",
                 "expanduser", "expandvars", "samestat", "sep", "curdir", "pardir",
                 "extsep", "altsep", "pathsep", "defpath", "devnull"):
        assert getattr(benchfs.path, name) is getattr(posixpath, name), name
    assert set(posixpath.__all__) <= set(benchfs.path.__all__)
    for name in posixpath.__all__:
        assert hasattr(benchfs.path, name), name


def test_module_is_reachable_both_ways() -> None:
    import benchfs.path as imported

    assert benchfs.path is imported
    assert benchfs.path.exists is imported.exists


def test_walk_a_tree_with_path_functions(fs: OsMirror) -> None:
    """What typical code does: walk, join, getsize -- same totals on both sides."""
    sample(fs)

    def total(api: Any, side: Side) -> list[tuple[str, int]]:
        sizes = []
        for top, _dirs, files in api.walk(side.resolve(P("d"))):
            for name in files:
                path = api.path.join(top, name)
                if api.path.isfile(path):
                    sizes.append((side.unresolve(path), api.path.getsize(path)))
        return sorted(sizes)

    fs.both(total)


def test_ismount_of_the_root(fs: OsMirror) -> None:
    fs.both(lambda api, side: (api.path.ismount("/"), api.path.ismount(b"/")))
