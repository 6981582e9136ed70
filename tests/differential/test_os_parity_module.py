"""The benchfs module as a whole against os: passthrough names, signatures identical to
os's, the functions benchfs does not support, xattrs, and kernel descriptors."""

from __future__ import annotations

import inspect
import os
import re
import stat
from pathlib import Path

import pytest

import benchfs
from tests.differential.mirror import F, P
from tests.differential.parity_support import OsMirror

DOCS = Path(__file__).parents[2] / "docs" / "linux-behaviour.md"



def test_passthrough_names_are_the_hosts() -> None:
    for name in ("sep", "altsep", "curdir", "pardir", "linesep", "pathsep", "devnull",
                 "name", "environ", "fspath", "fsencode", "fsdecode", "getpid", "getuid",
                 "strerror", "stat_result", "statvfs_result", "umask", "urandom", "pipe",
                 "cpu_count", "error", "terminal_size", "get_terminal_size", "getenv",
                 "major", "minor", "makedev", "PathLike", "times", "uname", "kill",
                 "system", "execv", "register_at_fork"):
        assert getattr(benchfs, name) is getattr(os, name), name
    for name in dir(os):
        if re.fullmatch(r"(O|SEEK|F|R|W|X|ST|EX|RWF|POSIX_FADV|WNOHANG)_?[A-Z_]*", name):
            assert getattr(benchfs, name) == getattr(os, name), name
    assert set(dir(os)) - {"__builtins__", "__cached__", "__file__", "__loader__",
                           "__name__", "__package__", "__spec__", "__doc__", "__all__",
                           "__path__"} <= set(dir(benchfs))


def test_names_the_host_lacks_are_missing_here_too() -> None:
    for name in ("lchmod", "chflags", "lchflags", "startfile", "no_such_name"):
        if not hasattr(os, name):
            assert not hasattr(benchfs, name), name


def implemented() -> list[str]:
    return [name for name in benchfs.__all__ if hasattr(os, name)
            and callable(getattr(os, name)) and name not in ("DirEntry",)]


@pytest.mark.parametrize("name", implemented())
def test_signatures_match_os(name: str) -> None:
    ours = inspect.signature(getattr(benchfs, name))
    try:
        theirs = inspect.signature(getattr(os, name))
    except ValueError:
        pytest.skip(f"os.{name} exposes no signature")
    def shape(signature: inspect.Signature) -> list[tuple[object, ...]]:
        # A positional-only parameter's name is no part of the interface (os.lseek's
        # third one was "how" before 3.11, "whence" since).
        return [(None if p.kind is p.POSITIONAL_ONLY else p.name, p.kind, p.default)
                for p in signature.parameters.values()]

    assert shape(ours) == shape(theirs)


def test_utime_signature() -> None:
    # os.utime's signature is not introspectable: its documented form.
    params = inspect.signature(benchfs.utime).parameters
    assert list(params) == ["path", "times", "ns", "dir_fd", "follow_symlinks"]
    assert [p.kind for p in params.values()] == [
        inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.POSITIONAL_OR_KEYWORD,
        inspect.Parameter.KEYWORD_ONLY, inspect.Parameter.KEYWORD_ONLY,
        inspect.Parameter.KEYWORD_ONLY]


def unsupported_in_docs() -> set[str]:
    section = DOCS.read_text().split("## Not supported", 1)[1].split("\n## ", 1)[0]
    return set(re.findall(r"^\| `(\w+)`", section, re.MULTILINE))


def test_file_system_functions_benchfs_lacks_raise() -> None:
    """Every os function that takes a path or a descriptor for one is either benchfs's
    own or raises NotImplementedError -- never the host's, on the local disk."""
    documented = unsupported_in_docs()
    fs_names = {f.__name__ for f in os.supports_fd | os.supports_dir_fd
                | os.supports_follow_symlinks} - {"execve"}
    for name in fs_names | set(benchfs.UNSUPPORTED):
        if not hasattr(os, name):
            continue
        ours = getattr(benchfs, name)
        if name in benchfs.__all__:
            assert ours is not getattr(os, name), name
            continue
        assert name in documented, f"os.{name} is unsupported but not in the docs"
        with pytest.raises(NotImplementedError, match=name):
            ours("/x")
    assert documented >= {name for name in benchfs.UNSUPPORTED if hasattr(os, name)}


def test_xattrs_as_on_a_file_system_without_them(fs: OsMirror) -> None:
    """Deliberate difference: ext4 stores xattrs; benchfs answers as Linux does for a
    file system without them: no names, EOPNOTSUPP to get/set/remove one."""
    fs("open", P("f"), os.O_CREAT | os.O_RDWR, bind="f")
    fs("listxattr", P("f"))                         # [] on both (ext4 has none set yet)
    fs("getxattr", P("missing"), "user.x")          # ENOENT first
    fs("listxattr", P("missing"))
    for call in (lambda p: benchfs.getxattr(p, "user.x"),
                 lambda p: benchfs.setxattr(p, "user.x", b"v"),
                 lambda p: benchfs.removexattr(p, "user.x")):
        with pytest.raises(OSError) as caught:
            call(fs.bfs.resolve(P("f")))
        assert caught.value.errno == 95 and caught.value.filename == fs.bfs.resolve(P("f"))
    with pytest.raises(OSError):
        benchfs.getxattr(fs.bfs.fds["f"], "user.x")
    assert benchfs.listxattr(fs.bfs.fds["f"]) == []


def test_kernel_descriptors_pass_through(fs: OsMirror) -> None:
    """Pipes and other kernel fds keep working under ``import benchfs as os``."""
    read_end, write_end = benchfs.pipe()
    assert benchfs.write(write_end, b"through a pipe") == 14
    assert benchfs.read(read_end, 100) == b"through a pipe"
    assert stat.S_ISFIFO(benchfs.fstat(read_end).st_mode)
    duplicate = benchfs.dup(write_end)
    benchfs.close(duplicate)
    benchfs.close(read_end)
    benchfs.close(write_end)
    with pytest.raises(OSError) as caught:
        benchfs.read(read_end, 1)
    assert caught.value.errno == 9
    fs("read", F("nope"), 1)
    with pytest.raises(TypeError):
        benchfs.read("3", 1)


def test_a_benchfs_descriptor_no_client_owns_is_ebadf(fs: OsMirror) -> None:
    """A benchfs fd of another client (or inherited over fork) is refused, not read as
    /dev/null."""
    fs("open", P("f"), os.O_CREAT | os.O_RDWR, bind="f")
    other = benchfs.Client(fs.client.registry)
    try:
        fd = other.open(fs.bfs.resolve(P("f")), os.O_RDONLY)
        with pytest.raises(OSError) as caught:
            benchfs.read(fd, 1)                     # other is no connect()ed client
        assert caught.value.errno == 9
        other.close(fd)
    finally:
        other.close_client()


def test_descriptors_of_any_connected_client(fs: OsMirror) -> None:
    fs("open", P("f"), os.O_CREAT | os.O_RDWR, bind="f")
    fs("write", F("f"), b"abc")
    second = benchfs.connect(fs.client.registry)
    try:
        fd = second.open(fs.bfs.resolve(P("f")), os.O_RDONLY)
        assert benchfs.read(fd, 10) == b"abc"       # served by the client that owns it
        benchfs.close(fd)
    finally:
        second.close_client()


def test_closerange_and_sync(fs: OsMirror) -> None:
    fs("open", P("f"), os.O_CREAT | os.O_RDWR, bind="f")
    fs("write", F("f"), b"abc")
    benchfs.sync()
    fd = fs.bfs.fds.pop("f")
    benchfs.closerange(fd, fd + 1)
    with pytest.raises(OSError):
        benchfs.fstat(fd)
    fs.local.api.close(fs.local.fds.pop("f"))


def test_every_row_of_the_behaviour_table_is_a_test() -> None:
    """docs/linux-behaviour.md names a test in each row; each must exist."""
    here = Path(__file__).parent
    rows = [line for line in DOCS.read_text().splitlines()
            if line.startswith("| ") and not line.startswith(("| operation", "|---"))
            and "::" in line]
    assert len(rows) > 80
    for row in rows:
        cell = row.rstrip(" |").rsplit("|", 1)[1]
        for ref in re.findall(r"(\w+)::(test_\w+)", cell):
            module, test = ref
            source = (here / f"test_os_parity_{module}.py").read_text()
            assert f"def {test}(" in source, f"{module}::{test} named in the docs is missing"
