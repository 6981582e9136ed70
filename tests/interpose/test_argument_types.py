"""Wrong argument types get os's own error through every wrapper, before routing: the
same call on a path under the prefix and on a local one, compared: the exception os
raises for the arguments (type and message), or that it takes them (a result or an
OSError from the system call: what that is, is the differential suite's to compare)
and the warnings it gives."""

from __future__ import annotations

import io
import os
import warnings
from collections.abc import Callable
from typing import Any

import pytest

import benchfs
from tests.interpose.conftest import Pair

# The arguments after the path that make each path function's call complete.
_PATH_FUNCTIONS: dict[str, tuple[Any, ...]] = {
    "stat": (), "lstat": (), "access": (os.R_OK,), "chmod": (0o644,), "chown": (-1, -1),
    "lchown": (-1, -1), "utime": (), "truncate": (0,), "statvfs": (), "listdir": (),
    "scandir": (), "rmdir": (), "unlink": (), "remove": (), "readlink": (), "mkdir": (),
    "open": (os.O_RDONLY,), "mkfifo": (), "mknod": (), "pathconf": ("PC_NAME_MAX",),
    "getxattr": ("user.x",), "setxattr": ("user.x", b"v"), "removexattr": ("user.x",),
    "listxattr": (), "chdir": (),
}
_BAD_PATHS: dict[str, Callable[[str], Any]] = {
    "float": lambda root: 1.5,
    "bytearray": lambda root: bytearray(os.fsencode(f"{root}/f")),
    "list": lambda root: [f"{root}/f"],
    "memoryview": lambda root: memoryview(os.fsencode(f"{root}/f")),
}
_BAD_DIR_FDS = {"str": "3", "float": 1.5, "bytes": b"3"}


def _judged(call: Callable[[], Any]) -> tuple[Any, ...]:
    """What os said of the arguments: its exception, or that it took them."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            call()
        except OSError:
            pass
        except Exception as exc:
            return ("raise", type(exc), str(exc))
    return ("taken", [(w.category, str(w.message)) for w in caught])


def _compare(pair: Pair, probe: Callable[[str], Any]) -> None:
    ours = _judged(lambda: probe(pair.bfs.root))
    theirs = _judged(lambda: probe(pair.local.root))
    assert ours == theirs


def _prepared(root: str) -> str:
    path = f"{root}/f"
    if not os.path.exists(path):
        with open(path, "w") as f:
            f.write("data")
    return path


@pytest.mark.parametrize("bad", sorted(_BAD_PATHS))
@pytest.mark.parametrize("name", sorted(_PATH_FUNCTIONS))
def test_bad_path(bfs: benchfs.Interposition, pair: Pair, name: str, bad: str) -> None:
    def probe(root: str) -> Any:
        _prepared(root)
        return getattr(os, name)(_BAD_PATHS[bad](root), *_PATH_FUNCTIONS[name])

    _compare(pair, probe)


@pytest.mark.parametrize("bad", sorted(_BAD_DIR_FDS))
@pytest.mark.parametrize("name", sorted(set(_PATH_FUNCTIONS) - {"chdir", "listdir",
                                                                "scandir"}))
def test_bad_dir_fd(bfs: benchfs.Interposition, pair: Pair, name: str, bad: str) -> None:
    def probe(root: str) -> Any:
        return getattr(os, name)(_prepared(root), *_PATH_FUNCTIONS[name],
                                 dir_fd=_BAD_DIR_FDS[bad])

    _compare(pair, probe)


_TWO_PATHS: dict[str, Callable[[str, str], tuple[tuple[Any, ...], dict[str, Any]]]] = {
    "int dst": lambda f, g: ((f, 0), {}),
    "float dst": lambda f, g: ((f, 1.5), {}),
    "int src": lambda f, g: ((0, g), {}),
    "bytearray dst": lambda f, g: ((f, bytearray(os.fsencode(g))), {}),
    "bytearray src": lambda f, g: ((bytearray(os.fsencode(f)), g), {}),
    "str src_dir_fd": lambda f, g: ((f, g), {"src_dir_fd": "3"}),
    "float dst_dir_fd": lambda f, g: ((f, g), {"dst_dir_fd": 1.5}),
    "str dir_fd": lambda f, g: ((f, g), {"dir_fd": "3"}),
}


@pytest.mark.parametrize("case", sorted(_TWO_PATHS))
@pytest.mark.parametrize("name", ["rename", "replace", "link", "symlink"])
def test_bad_two_paths(bfs: benchfs.Interposition, pair: Pair, name: str, case: str) -> None:
    def probe(root: str) -> Any:
        args, kwargs = _TWO_PATHS[case](_prepared(root), f"{root}/g")
        return getattr(os, name)(*args, **kwargs)

    _compare(pair, probe)


# Descriptor functions: the arguments after the descriptor, and wrong ones for them.
_FD_CALLS: dict[str, tuple[tuple[Any, ...], ...]] = {
    "read": (("1",), (1.5,), ()), "pread": ((1, "0"), ("1", 0), (1,)),
    "write": (("text",), (1,)), "pwrite": ((b"x", "0"), ("x", 0)),
    "lseek": (("0", 0), (0, "0"), (0.0, 0)), "ftruncate": (("0",), (1.5,)),
    "fchmod": (("0o644",), (1.5,)), "fchown": (("0", 0), (0, 1.5)),
    "posix_fallocate": (("0", 1), (0, 1.5)), "posix_fadvise": ((0, 1, "0"),),
    "readv": ((b"x",), ([b"x"],)), "writev": (("x",), (["x"],)),
    "preadv": (([bytearray(1)], "0"),), "pwritev": (([b"x"], 1.5),),
    "fstat": ((1,),), "dup": ((1,),),
}


def _fd_cases() -> list[tuple[str, int]]:
    return [(name, i) for name, calls in sorted(_FD_CALLS.items()) for i in range(len(calls))]


@pytest.mark.parametrize("name, index", _fd_cases())
def test_bad_arguments_after_a_descriptor(bfs: benchfs.Interposition, pair: Pair, name: str,
                                          index: int) -> None:
    def probe(root: str) -> Any:
        fd = os.open(_prepared(root), os.O_RDWR)
        try:
            return getattr(os, name)(fd, *_FD_CALLS[name][index])
        finally:
            os.close(fd)

    _compare(pair, probe)


@pytest.mark.parametrize("fd", ["3", 1.5, None, b"3"])
@pytest.mark.parametrize("name", ["read", "fstat", "close", "dup", "fsync", "lseek",
                                  "fchdir", "fstatvfs"])
def test_bad_descriptor(bfs: benchfs.Interposition, pair: Pair, name: str, fd: Any) -> None:
    extra = {"read": (1,), "lseek": (0, 0)}.get(name, ())
    _compare(pair, lambda root: getattr(os, name)(fd, *extra))


_OPEN_CALLS: dict[str, Callable[[str], Any]] = {
    "mode int": lambda p: open(p, 5),  # type: ignore[call-overload]
    "buffering str": lambda p: open(p, buffering="1"),  # type: ignore[call-overload]
    "encoding int": lambda p: open(p, encoding=5),  # type: ignore[call-overload]
    "bytearray": lambda p: open(bytearray(os.fsencode(p))),  # type: ignore[call-overload]
    "float file": lambda p: open(1.5),  # type: ignore[call-overload]
    "closefd path": lambda p: open(p, closefd=False),
    "unknown keyword": lambda p: open(p, colour=1),  # type: ignore[call-overload]
    "FileIO mode": lambda p: io.FileIO(p, 5),  # type: ignore[arg-type]
    "FileIO bytearray": lambda p: io.FileIO(bytearray(os.fsencode(p))),  # type: ignore[arg-type]
    "FileIO keyword": lambda p: io.FileIO(p, colour=1),  # type: ignore[call-arg]
    "open_code bytes": lambda p: io.open_code(os.fsencode(p)),  # type: ignore[arg-type]
}


@pytest.mark.parametrize("case", sorted(_OPEN_CALLS))
def test_bad_open_arguments(bfs: benchfs.Interposition, pair: Pair, case: str) -> None:
    def probe(root: str) -> Any:
        f = _OPEN_CALLS[case](_prepared(root))
        f.close()

    _compare(pair, probe)


_COPY_CALLS: dict[str, Callable[[int, int], Any]] = {
    "sendfile offset str": lambda a, b: os.sendfile(b, a, "0", 1),  # type: ignore[arg-type]
    "sendfile count float": lambda a, b: os.sendfile(b, a, 0, 1.5),  # type: ignore[arg-type]
    "copy_file_range count str": lambda a, b: os.copy_file_range(
        a, b, "1"),  # type: ignore[arg-type]
    "closerange str": lambda a, b: os.closerange("1", 0),  # type: ignore[arg-type]
}


@pytest.mark.parametrize("case", sorted(_COPY_CALLS))
def test_bad_copy_arguments(bfs: benchfs.Interposition, pair: Pair, case: str) -> None:
    def probe(root: str) -> Any:
        a = os.open(_prepared(root), os.O_RDWR)
        b = os.open(f"{root}/g", os.O_RDWR | os.O_CREAT)
        try:
            return _COPY_CALLS[case](a, b)
        finally:
            os.close(a)
            os.close(b)

    _compare(pair, probe)


_KEYWORD_CALLS: dict[str, Callable[[str], Any]] = {
    "stat path=": lambda root: os.stat(path=f"{root}/f").st_size,
    "stat follow_symlinks": lambda root: os.stat(f"{root}/f", follow_symlinks=False).st_size,
    "listdir path=": lambda root: os.listdir(path=root),
    "open dir_fd": lambda root: _read_by_dir_fd(root),
    "read fd=": lambda root: os.read(fd=0, n=1),  # type: ignore[call-arg]
    "stat no argument": lambda root: os.stat(),  # type: ignore[call-arg]
}


def _read_by_dir_fd(root: str) -> bytes:
    directory = os.open(root, os.O_RDONLY)
    try:
        fd = os.open("f", os.O_RDONLY, dir_fd=directory)
        try:
            return os.read(fd, 10)
        finally:
            os.close(fd)
    finally:
        os.close(directory)


@pytest.mark.parametrize("case", sorted(_KEYWORD_CALLS))
def test_keyword_forms(bfs: benchfs.Interposition, pair: Pair, case: str) -> None:
    """Arguments given by keyword, or none: the wrappers' fast paths take only the
    first positional argument, the rest must reach the same place."""
    pair.both(lambda root: (_prepared(root), _KEYWORD_CALLS[case](root))[1])
