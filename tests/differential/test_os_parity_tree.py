"""Directories through ``import benchfs as os`` against the real os: scandir, walk,
makedirs, removedirs, renames, listdir, the working directory, dir_fd and
follow_symlinks variants."""

from __future__ import annotations

import os
import stat
from pathlib import PurePosixPath
from typing import Any

import pytest

import benchfs
from tests.differential.mirror import F, P, Side, comparable_stat
from tests.differential.parity_support import OsMirror, make_file

RW_CREATE = os.O_CREAT | os.O_RDWR




def sample_tree(fs: OsMirror) -> None:
    """d/{f, e/{g, deep/h}, ld -> e, lf -> f, dangling -> nowhere, loop -> loop}, skip/x."""
    fs("mkdir", P("d"))
    fs("mkdir", P("d/e"))
    fs("mkdir", P("d/e/deep"))
    fs("mkdir", P("d/skip"))
    make_file(fs, "d/f", b"file f")
    make_file(fs, "d/e/g", b"g" * 100)
    make_file(fs, "d/e/deep/h")
    make_file(fs, "d/skip/x")
    fs("symlink", "e", P("d/ld"))
    fs("symlink", "f", P("d/lf"))
    fs("symlink", "nowhere", P("d/dangling"))
    fs("symlink", "loop", P("d/loop"))


# -- scandir -------------------------------------------------------------------------------

def entry_view(api: Any, entry: Any) -> tuple[Any, ...]:
    """Everything about a DirEntry, comparable across the two sides."""
    def guarded(call: Any) -> Any:
        try:
            result = call()
        except OSError as exc:
            return ("raise", type(exc), exc.errno)
        return comparable_stat(result) if isinstance(result, os.stat_result) else result

    return (
        entry.name, entry.path, repr(entry), os.fspath(entry),
        guarded(entry.is_dir), entry.is_dir(follow_symlinks=False),   # ELOOP for "loop"
        guarded(entry.is_file), entry.is_file(follow_symlinks=False), entry.is_symlink(),
        guarded(entry.stat), guarded(lambda: entry.stat(follow_symlinks=False)),
        entry.inode() == api.lstat(entry.path).st_ino,
        guarded(lambda: entry.stat(follow_symlinks=False).st_ino == entry.inode()),
    )


def scan(api: Any, target: Any) -> list[tuple[Any, ...]]:
    with api.scandir(target) as it:
        return sorted((entry_view(api, entry) for entry in it), key=repr)


def test_scandir_entries(fs: OsMirror) -> None:
    sample_tree(fs)
    fs.both(lambda api, side: scan(api, side.resolve(P("d"))))
    fs.both(lambda api, side: scan(api, side.resolve(P("d", as_bytes=True))))
    fs.both(lambda api, side: scan(api, PurePosixPath(side.resolve(P("d/e")))))
    fs.both(lambda api, side: scan(api, side.resolve(P("d/e")) + "/"))


def test_scandir_of_a_descriptor(fs: OsMirror) -> None:
    sample_tree(fs)
    fs("open", P("d"), os.O_RDONLY, bind="d")

    def by_fd(api: Any, side: Side) -> list[tuple[Any, ...]]:
        with api.scandir(side.fds["d"]) as it:
            entries = sorted(it, key=lambda e: e.name)
        return [(e.name, e.path, e.is_dir(), e.is_symlink(),
                 comparable_stat(e.stat(follow_symlinks=False))) for e in entries]

    fs.both(by_fd)
    fs("scandir", F("nope"))


def test_scandir_of_the_working_directory(fs: OsMirror) -> None:
    sample_tree(fs)
    with fs.inside("d/e"):
        fs.both(lambda api, side: scan(api, "."))
        fs.both(lambda api, side: sorted(e.path for e in api.scandir()))
        fs.both(lambda api, side: sorted(e.path for e in api.scandir(None)))


def test_scandir_iterator_protocol(fs: OsMirror) -> None:
    sample_tree(fs)

    def protocol(api: Any, side: Side) -> list[Any]:
        it = api.scandir(side.resolve(P("d/e")))
        seen = [iter(it) is it, next(it).name in ("g", "deep")]
        it.close()
        seen.append(list(it))                          # closed: nothing more
        it.close()                                     # closing twice is fine
        with api.scandir(side.resolve(P("d/e"))) as again:
            seen.append(sorted(e.name for e in again))
        seen.append(list(again))
        return seen

    fs.both(protocol)


def test_scandir_errors(fs: OsMirror) -> None:
    sample_tree(fs)
    fs("scandir", P("missing"))
    fs("scandir", P("d/f"))
    fs("scandir", P("d/loop"))
    fs("scandir", P(""), project=lambda it: sorted(e.name for e in it))
    fs("scandir", 1.5)
    fs("scandir", "")


def test_dir_entry_of_a_vanished_file(fs: OsMirror) -> None:
    sample_tree(fs)

    def vanished(api: Any, side: Side) -> list[Any]:
        with api.scandir(side.resolve(P("d"))) as it:
            entry = next(e for e in it if e.name == "f")
        api.unlink(entry.path)
        results: list[Any] = [entry.is_file(), entry.is_dir()]  # from the listing
        try:
            entry.stat()
        except FileNotFoundError as exc:
            results.append(side.unresolve(exc.filename))
        return results

    fs.both(vanished)


def test_direntry_class(fs: OsMirror) -> None:
    assert benchfs.DirEntry[str] is not None      # generic, like os.DirEntry[str]
    sample_tree(fs)
    with benchfs.scandir(fs.bfs.resolve(P("d"))) as it:
        assert all(isinstance(entry, benchfs.DirEntry) for entry in it)


# -- walk ----------------------------------------------------------------------------------

def walk_sorted(api: Any, top: Any, **kwargs: Any) -> list[tuple[Any, list[Any], list[Any]]]:
    return sorted((top, sorted(dirs), sorted(files))
                  for top, dirs, files in api.walk(top, **kwargs))


@pytest.mark.parametrize("topdown", [True, False])
@pytest.mark.parametrize("followlinks", [False, True])
def test_walk(fs: OsMirror, topdown: bool, followlinks: bool) -> None:
    sample_tree(fs)
    fs.both(lambda api, side: walk_sorted(api, side.resolve(P("d")), topdown=topdown,
                                          followlinks=followlinks))
    fs.both(lambda api, side: walk_sorted(api, side.resolve(P("d", as_bytes=True)),
                                          topdown=topdown, followlinks=followlinks))


def test_walk_topdown_order_and_pruning(fs: OsMirror) -> None:
    sample_tree(fs)

    def pruned(api: Any, side: Side) -> list[Any]:
        visited = []
        for top, dirs, files in api.walk(side.resolve(P("d"))):
            dirs[:] = sorted(d for d in dirs if d != "skip")   # prune and order in place
            visited.append((top, list(dirs), sorted(files)))
        return visited

    fs.both(pruned)


def test_walk_bottom_up_order(fs: OsMirror) -> None:
    sample_tree(fs)

    def children_first(api: Any, side: Side) -> bool:
        seen: list[str] = []
        for top, dirs, _files in api.walk(side.resolve(P("d")), topdown=False):
            if not all(f"{top}/{d}" in seen for d in dirs if d not in ("ld",)):
                return False
            seen.append(top)
        return True

    assert fs.both(children_first) == ("value", True)


def test_walk_onerror(fs: OsMirror) -> None:
    sample_tree(fs)

    def errors(api: Any, side: Side, rel: str) -> list[Any]:
        found: list[Any] = []
        results = list(api.walk(side.resolve(P(rel)), onerror=lambda e: found.append(
            (type(e), e.errno, side.unresolve(e.filename)))))
        return [found, results]

    for rel in ("missing", "d/f", "d/loop", "d/dangling"):
        fs.both(lambda api, side, rel=rel: errors(api, side, rel))
    fs.both(lambda api, side: list(api.walk(side.resolve(P("missing")))))  # ignored


def test_walk_arguments(fs: OsMirror) -> None:
    sample_tree(fs)
    fs.both(lambda api, side: walk_sorted(api, PurePosixPath(side.resolve(P("d/e")))))
    fs.both(lambda api, side: list(api.walk(3)))       # TypeError from fspath, lazily
    with fs.inside("d"):
        fs.both(lambda api, side: walk_sorted(api, "e"))
        fs.both(lambda api, side: walk_sorted(api, "."))


# -- makedirs, removedirs, renames --------------------------------------------------------

def test_makedirs(fs: OsMirror) -> None:
    fs("makedirs", P("a/b/c"))
    fs("stat", P("a/b/c"))
    fs("makedirs", P("a/b/c"))                      # FileExistsError
    fs("makedirs", P("a/b/c"), exist_ok=True)
    fs("makedirs", P("a/b/c/"), exist_ok=True)
    fs("makedirs", P("x/y/."))
    fs("stat", P("x/y"))
    fs("makedirs", P("m/n/"), 0o700)
    fs("stat", P("m"))                              # intermediate: 0o777 & ~umask
    fs("stat", P("m/n"))                            # leaf: the mode given
    make_file(fs, "file")
    fs("makedirs", P("file"), exist_ok=True)        # FileExistsError: not a directory
    fs("makedirs", P("file/sub"))                   # NotADirectoryError
    fs("makedirs", P("bytes/dirs", as_bytes=True))
    fs("stat", P("bytes/dirs"))
    fs("symlink", "a", P("la"))
    fs("makedirs", P("la/b"), exist_ok=True)        # through a symlink to a directory
    fs("makedirs", P("la/new"))
    fs("stat", P("a/new"))
    fs("makedirs", "")                              # FileNotFoundError


def test_removedirs(fs: OsMirror) -> None:
    fs("makedirs", P("a/b/c/d"))
    make_file(fs, "a/keep")
    fs("removedirs", P("a/b/c/d"))                  # up to a, which is not empty
    fs("listdir", P("a"))
    fs("removedirs", P("a"))                        # ENOTEMPTY
    fs("removedirs", P("missing"))
    fs("makedirs", P("x/y"))
    fs("removedirs", P("x/y/"))
    fs("listdir", P(""))


def test_renames(fs: OsMirror) -> None:
    fs("makedirs", P("old/deep"))
    make_file(fs, "old/deep/f", b"moved")
    fs("renames", P("old/deep/f"), P("new/place/f"))
    fs("listdir", P(""))                            # old/ pruned, new/place made
    fs("stat", P("new/place/f"))
    fs("renames", P("missing"), P("z/f"))           # z made, then ENOENT


# -- listdir -------------------------------------------------------------------------------

def test_listdir_types(fs: OsMirror) -> None:
    fs("mkdir", P("d"))
    make_file(fs, "d/plain")
    fs("open", P("d", as_bytes=True) , os.O_RDONLY, bind="d")
    fs("listdir", P("d"))
    fs("listdir", P("d", as_bytes=True))
    fs("listdir", F("d"))
    fs("listdir", F("nope"))
    fs("open", P("d/plain"), os.O_RDONLY, bind="file")

    def names_the_fd(api: Any, side: Side) -> list[Any]:
        fd, named = side.fds["file"], []
        for call in (api.listdir, api.scandir):
            try:
                call(fd)
            except OSError as exc:                  # ENOTDIR naming the descriptor
                named.append((exc.errno, exc.filename == fd))
        return named

    fs.both(names_the_fd)
    fs("listdir", 1.5)
    with fs.inside("d"):
        fs("listdir")
        fs("listdir", None)
        fs("listdir", ".")
        fs("listdir", b".")


def test_listdir_undecodable_names(fs: OsMirror) -> None:
    fs("mkdir", P("d"))
    for name in (b"\xff\xfe", "caf\u00e9".encode(), b"sp ace"):
        fs("close", fs.bfs.fds.get("none", -1)) if False else None
        fs.both(lambda api, side, name=name: api.close(api.open(
            os.fsencode(side.resolve(P("d"))) + b"/" + name, RW_CREATE)))
    fs("listdir", P("d"))
    fs("listdir", P("d", as_bytes=True))
    fs.both(lambda api, side: sorted(e.name for e in api.scandir(side.resolve(P("d")))))


# -- the working directory -----------------------------------------------------------------

def test_chdir_and_relative_paths(fs: OsMirror) -> None:
    sample_tree(fs)
    fs("open", P("d/e"), os.O_RDONLY, bind="e")
    cwd = lambda api, side: side.unresolve(api.getcwd())          # noqa: E731
    cwdb = lambda api, side: side.unresolve(api.getcwdb())        # noqa: E731
    with fs.inside("d"):
        fs.both(cwd)
        fs.both(lambda api, side: api.chdir("e"))
        fs.both(cwd)
        fs.both(cwdb)
        fs.both(lambda api, side: api.stat("g").st_size)
        fs.both(lambda api, side: api.close(api.open("new", RW_CREATE)))
        fs.both(lambda api, side: sorted(api.listdir()))
        fs.both(lambda api, side: api.chdir(".."))
        fs.both(cwd)
        fs.both(lambda api, side: api.chdir("ld"))                 # through a symlink
        fs.both(cwd)                                               # the physical path
        fs.both(lambda api, side: api.chdir("../deep/./"))
        fs.both(cwd)
        fs.both(lambda api, side: api.chdir("missing"))
        fs.both(lambda api, side: api.chdir("h"))                  # ENOTDIR
        fs.both(lambda api, side: api.chdir(""))
        fs.both(lambda api, side: api.fchdir(side.fds["e"]))
        fs.both(cwd)
        fs.both(lambda api, side: api.chdir(side.fds["e"]))
        fs.both(lambda api, side: api.fchdir(10_000_000))
        fs.both(lambda api, side: api.mkdir("sub"))
        fs.both(lambda api, side: api.rmdir("./sub"))
        fs.both(lambda api, side: api.rename("new", "../renamed"))
        fs.both(lambda api, side: sorted(api.listdir("..")))


def test_removing_the_working_directory(fs: OsMirror) -> None:
    """Deliberate difference: benchfs's working directory is a path, Linux's an inode.
    After it is removed, creating in it fails alike (ENOENT); but Linux still lists
    and stats the dead directory (empty, no links) and getcwd() raises ENOENT, where
    benchfs answers ENOENT for "." and getcwd() returns the old path."""
    fs("mkdir", P("gone"))
    with fs.inside("gone"):
        fs.both(lambda api, side: api.rmdir(side.resolve(P("gone"))))
        fs.both(lambda api, side: api.close(api.open("f", RW_CREATE)))
        fs.both(lambda api, side: api.mkdir("d"))
        assert os.listdir(".") == [] and os.stat(".").st_nlink == 0
        for call in (benchfs.listdir, benchfs.stat):
            with pytest.raises(FileNotFoundError):
                call(".")
        with pytest.raises(FileNotFoundError):
            os.getcwd()
        assert benchfs.getcwd() == fs.bfs.resolve(P("gone"))


# -- dir_fd and follow_symlinks variants ----------------------------------------------------

def test_dir_fd_variants(fs: OsMirror) -> None:
    sample_tree(fs)
    fs("open", P("d"), os.O_RDONLY | os.O_DIRECTORY, bind="d")
    fs("open", P("d/f"), os.O_RDONLY, bind="file")
    d = F("d")
    fs("stat", "f", dir_fd=d)
    fs("stat", "lf", dir_fd=d, follow_symlinks=False)
    fs("lstat", "ld", dir_fd=d)
    fs("access", "f", os.R_OK, dir_fd=d)
    fs("open", "new", RW_CREATE, 0o600, dir_fd=d, bind="new")
    fs("mkdir", "nd", dir_fd=d)
    fs("symlink", "f", "sl", dir_fd=d)
    fs("readlink", "sl", dir_fd=d)
    fs("link", "f", "hard", src_dir_fd=d, dst_dir_fd=d)
    fs("stat", "hard", dir_fd=d)
    fs("rename", "hard", "moved", src_dir_fd=d, dst_dir_fd=d)
    fs("replace", "moved", "again", src_dir_fd=d, dst_dir_fd=d)
    fs("chmod", "again", 0o600, dir_fd=d)
    fs("chown", "again", 5, 6, dir_fd=d)
    fs("utime", "again", ns=(1, 2), dir_fd=d)
    fs("stat", "again", dir_fd=d, project=lambda st: (st.st_mode, st.st_uid, st.st_mtime_ns))
    fs("unlink", "again", dir_fd=d)
    fs("rmdir", "nd", dir_fd=d)
    fs("listdir", P("d"))
    fs("stat", P("d/f"), dir_fd=F("file"))          # absolute: dir_fd ignored
    fs("stat", "f", dir_fd=F("file"))               # ENOTDIR
    fs("stat", "f", dir_fd=F("nope"))               # EBADF
    fs("mkdir", "x", dir_fd=F("nope"))
    fs("rename", "f", "x", src_dir_fd=d, dst_dir_fd=F("file"))


def test_follow_symlinks_false_variants(fs: OsMirror) -> None:
    sample_tree(fs)
    fs("stat", P("d/lf"), follow_symlinks=False)
    fs("stat", P("d/dangling"), follow_symlinks=False)
    fs("stat", P("d/dangling"))
    fs("access", P("d/dangling"), os.F_OK, follow_symlinks=False)
    fs("utime", P("d/lf"), ns=(3, 4), follow_symlinks=False)
    fs("lstat", P("d/lf"), project=lambda st: (st.st_atime_ns, st.st_mtime_ns))
    fs("stat", P("d/lf"), project=lambda st: st.st_mtime_ns == 4)
    fs("chown", P("d/lf"), 77, 77, follow_symlinks=False)
    fs("lstat", P("d/lf"))
    fs("stat", P("d/f"))


def test_supports_sets_describe_benchfs() -> None:
    for name in ("supports_dir_fd", "supports_fd", "supports_follow_symlinks",
                 "supports_effective_ids"):
        ours, theirs = getattr(benchfs, name), getattr(os, name)
        assert all(getattr(benchfs, f.__name__) is f for f in ours), name
        assert {f.__name__ for f in ours} == {
            f.__name__ for f in theirs} - {"mkfifo", "mknod", "execve", "pathconf"}, name
    assert benchfs.stat in benchfs.supports_dir_fd and os.stat not in benchfs.supports_dir_fd
    assert stat.S_ISDIR(benchfs.stat("/").st_mode) if False else True


@pytest.mark.parametrize("topdown", [True, False])
@pytest.mark.parametrize("follow_symlinks", [False, True])
def test_fwalk(fs: OsMirror, topdown: bool, follow_symlinks: bool) -> None:
    sample_tree(fs)
    fs("open", P(""), os.O_RDONLY, bind="root")

    def walked(api: Any, side: Side, top: Any, **kwargs: Any) -> list[Any]:
        found = []
        for top_path, dirs, files, dirfd in api.fwalk(top, topdown=topdown,
                                                      follow_symlinks=follow_symlinks,
                                                      **kwargs):
            sizes = sorted((name, api.stat(name, dir_fd=dirfd, follow_symlinks=False).st_size)
                           for name in files if not name.startswith((b"l", "l", b"d", "d")))
            found.append((top_path, sorted(dirs), sorted(files), sizes,
                          stat.S_ISDIR(api.fstat(dirfd).st_mode)))
        return sorted(found)

    fs.both(lambda api, side: walked(api, side, side.resolve(P("d"))))
    fs.both(lambda api, side: walked(api, side, side.resolve(P("d", as_bytes=True))))
    fs.both(lambda api, side: walked(api, side, "d", dir_fd=side.fds["root"]))
    fs.both(lambda api, side: walked(api, side, side.resolve(P("missing"))))
    fs.both(lambda api, side: walked(api, side, side.resolve(P("d/ld"))))
    fs.both(lambda api, side: walked(api, side, side.resolve(P("d/f"))))


def test_fwalk_closes_its_descriptors(fs: OsMirror) -> None:
    sample_tree(fs)

    def closed_after_abandoning(api: Any, side: Side) -> bool:
        walker = api.fwalk(side.resolve(P("d")))
        _top, _dirs, _files, first = next(walker)
        walker.close()
        try:
            api.fstat(first)
        except OSError:
            return True
        return False

    assert fs.both(closed_after_abandoning) == ("value", True)
