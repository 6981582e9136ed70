"""rename/replace, link, symlink/readlink/lstat and unlink through ``import benchfs as os``,
against the real os on ext4 (docs/linux-behaviour.md names these cases)."""

from __future__ import annotations

import os
from typing import Any

import pytest

from tests.differential.mirror import F, P, Side
from tests.differential.parity_support import OsMirror, make_file

RW_CREATE = os.O_CREAT | os.O_RDWR




def contents(fs: OsMirror, rel: str) -> Any:
    fs("open", P(rel), os.O_RDONLY, bind="_read")
    data = fs("read", F("_read"), 1 << 20)
    fs("close", F("_read"))
    return data


def tree(api: Any, side: Side) -> list[Any]:
    """Every path under the root with its type, size or link target, sorted."""
    found = []
    for top, dirs, files in api.walk(side.root):
        for name in dirs + files:
            path = f"{top}/{name}"
            st = api.lstat(path)
            detail = api.readlink(path) if os.path.stat.S_ISLNK(st.st_mode) else (
                None if os.path.stat.S_ISDIR(st.st_mode) else st.st_size)
            found.append((path[len(side.root):], os.path.stat.S_IFMT(st.st_mode), detail,
                          st.st_nlink))
    return sorted(found)


# -- rename and replace ---------------------------------------------------------------------

@pytest.mark.parametrize("func", ["rename", "replace"])
def test_rename_overwrites_a_file(fs: OsMirror, func: str) -> None:
    make_file(fs, "a", b"from a")
    make_file(fs, "b", b"from b")
    fs("open", P("b"), os.O_RDONLY, bind="old_b")  # the replaced file stays readable
    fs(func, P("a"), P("b"))
    assert contents(fs, "b") == ("value", b"from a")
    fs("stat", P("a"))
    fs("listdir", P(""))
    fs("read", F("old_b"), 100)
    fs("fstat", F("old_b"))


@pytest.mark.parametrize("func", ["rename", "replace"])
def test_rename_errors(fs: OsMirror, func: str) -> None:
    make_file(fs, "f", b"x")
    make_file(fs, "g")
    fs("mkdir", P("d"))
    fs("mkdir", P("d/sub"))
    fs("mkdir", P("full"))
    make_file(fs, "full/inside")
    fs("mkdir", P("empty"))
    fs(func, P("f"), P("d"))                # EISDIR: a file over a directory
    fs(func, P("d"), P("f"))                # ENOTDIR: a directory over a file
    fs(func, P("d"), P("full"))             # ENOTEMPTY
    fs(func, P("d"), P("d/sub/deeper"))     # EINVAL: into itself
    fs(func, P("d"), P("d/sub"))            # EINVAL even onto an existing descendant
    fs(func, P("d/sub"), P("d"))            # ENOTEMPTY: onto its own parent
    fs(func, P("missing"), P("x"))          # ENOENT
    fs(func, P("f"), P("nodir/x"))          # ENOENT: no such target parent
    fs(func, P("f"), P("g/x"))              # ENOTDIR: target parent is a file
    fs(func, P("f/"), P("x"))               # ENOTDIR: trailing slash on a file
    fs(func, P("f"), P("x/"))               # ENOTDIR
    fs(func, P("d"), P("d/."))              # a dot as last component
    fs(func, P("d/."), P("x"))
    fs(func, P("d/.."), P("x"))
    fs(func, P("d"), P("empty"))            # a directory over an empty directory
    fs("listdir", P(""))
    fs("stat", P("empty/sub"))
    fs("stat", P(""))                       # the parent's link count followed the move


def test_rename_same_file_is_a_no_op(fs: OsMirror) -> None:
    make_file(fs, "a", b"data")
    fs("link", P("a"), P("b"))
    fs("rename", P("a"), P("b"))            # two names of one inode: nothing happens
    fs("listdir", P(""))
    fs("stat", P("a"))
    fs("rename", P("a"), P("a"))
    fs("mkdir", P("d"))
    fs("rename", P("d"), P("d"))
    fs("rename", P("d"), P("d/"))
    fs("stat", P("d"))


def test_rename_directory_carries_its_descendants(fs: OsMirror) -> None:
    fs("mkdir", P("d"))
    fs("mkdir", P("d/e"))
    fs("mkdir", P("d/e/f"))
    make_file(fs, "d/top", b"top file")
    make_file(fs, "d/e/f/deep", b"deep file" * 1000)
    fs("symlink", "e/f/deep", P("d/rel_link"))
    fs("link", P("d/top"), P("d/e/hard"))
    fs("mkdir", P("new"))
    fs("open", P("d/e/f/deep"), os.O_RDWR, bind="open_deep")
    fs("rename", P("d"), P("new/moved"))
    fs.both(tree)
    assert contents(fs, "new/moved/e/f/deep")[1] == b"deep file" * 1000
    assert contents(fs, "new/moved/rel_link")[1] == b"deep file" * 1000
    fs("stat", P("d/e/f/deep"))
    fs("stat", P("d"))
    fs("listdir", P("new/moved/e"))
    fs("stat", P("new/moved/e/hard"))
    fs("pwrite", F("open_deep"), b"written through an fd opened before", 0)
    assert contents(fs, "new/moved/e/f/deep")[1].startswith(b"written through")
    fs("stat", P(""))
    fs("stat", P("new"))
    # and back again, over an empty directory
    fs("mkdir", P("d"))
    fs("rename", P("new/moved"), P("d"))
    fs.both(tree)


def test_rename_keeps_the_working_directory(fs: OsMirror) -> None:
    fs("mkdir", P("d"))
    fs("mkdir", P("d/sub"))
    with fs.inside("d/sub"):
        fs("rename", P("d"), P("e"))
        fs.both(lambda api, side: side.unresolve(api.getcwd()))
        make_file(fs, "e/sub/made_after")
        fs.both(lambda api, side: sorted(api.listdir(".")))


def test_rename_symlinks_are_moved_not_followed(fs: OsMirror) -> None:
    fs("mkdir", P("d"))
    fs("symlink", "d", P("link"))
    fs("rename", P("link"), P("moved"))
    fs("lstat", P("moved"))
    fs("readlink", P("moved"))
    fs("stat", P("d"))
    fs("rename", P("moved/"), P("x"))       # a trailing slash follows the link: ENOTDIR
    fs("rename", P("moved"), P("d"))        # a symlink over a directory: EISDIR? (as ext4)


# -- link ----------------------------------------------------------------------------------

def test_link_counts_and_shared_data(fs: OsMirror) -> None:
    make_file(fs, "a", b"shared")
    fs("link", P("a"), P("b"))
    fs("stat", P("a"))
    fs("stat", P("b"))
    fs.both(lambda api, side: api.stat(side.resolve(P("a"))).st_ino
            == api.stat(side.resolve(P("b"))).st_ino)
    fs("open", P("b"), os.O_WRONLY | os.O_APPEND, bind="w")
    fs("write", F("w"), b" and appended")
    assert contents(fs, "a")[1] == b"shared and appended"
    fs("link", P("b"), P("c"))
    fs("stat", P("c"))
    fs("unlink", P("a"))
    fs("stat", P("b"))
    fs("fstat", F("w"))
    fs("unlink", P("b"))
    fs("unlink", P("c"))
    fs("fstat", F("w"))                     # nlink 0, still open


def test_link_errors(fs: OsMirror) -> None:
    make_file(fs, "f")
    fs("mkdir", P("d"))
    fs("link", P("f"), P("f"))              # EEXIST, both names reported
    fs("link", P("d"), P("d2"))             # EPERM: no hard links to directories
    fs("link", P("missing"), P("x"))        # ENOENT
    fs("link", P("f"), P("nodir/x"))        # ENOENT
    fs("link", P("f"), P("f/x"))            # ENOTDIR
    fs("link", P("f"), P("x/"))             # trailing slash on the new name
    fs("link", P("f/"), P("x"))
    fs("link", P("f"), P("d"))              # EEXIST


def test_link_follow_symlinks(fs: OsMirror) -> None:
    make_file(fs, "target", b"t")
    fs("symlink", "target", P("sym"))
    fs("link", P("sym"), P("hard_followed"))                      # links the target
    fs("link", P("sym"), P("hard_link_itself"), follow_symlinks=False)
    fs("lstat", P("hard_followed"))
    fs("lstat", P("hard_link_itself"))
    fs("readlink", P("hard_link_itself"))
    fs("stat", P("target"))
    fs("symlink", "nowhere", P("dangling"))
    fs("link", P("dangling"), P("x"))                             # ENOENT
    fs("link", P("dangling"), P("y"), follow_symlinks=False)      # fine
    fs("lstat", P("y"))


# -- symlinks ------------------------------------------------------------------------------

def test_symlink_relative_and_absolute_targets(fs: OsMirror) -> None:
    fs("mkdir", P("d"))
    make_file(fs, "d/f", b"data")
    fs("symlink", "d/f", P("rel"))
    fs("symlink", "../d/f", P("d/up"))
    fs("symlink", P("d/f"), P("abs"))               # absolute: each side's own root
    fs("symlink", P("d"), P("absdir"))
    for name in ("rel", "d/up", "abs", "absdir/f", "absdir/up"):
        fs("stat", P(name))
        fs("readlink", P(name))
        # An absolute target's length differs with each side's root: compare the rest.
        fs("lstat", P(name), project=lambda st: (st.st_mode, st.st_nlink))
        assert contents(fs, name) == ("value", b"data")
    fs("readlink", P("rel", as_bytes=True))         # bytes in, bytes out
    fs("lstat", P("rel"))                           # size is the target's length


def test_symlink_chains_dangling_and_loops(fs: OsMirror) -> None:
    make_file(fs, "file", b"end of chain")
    fs("symlink", "file", P("l1"))
    fs("symlink", "l1", P("l2"))
    fs("symlink", "l2", P("l3"))
    fs("stat", P("l3"))
    assert contents(fs, "l3") == ("value", b"end of chain")
    fs("symlink", "missing", P("dangling"))
    fs("stat", P("dangling"))                       # ENOENT
    fs("lstat", P("dangling"))
    fs("open", P("dangling"), os.O_RDONLY)          # ENOENT
    fs("open", P("dangling"), os.O_CREAT | os.O_EXCL | os.O_WRONLY)   # EEXIST
    fs("open", P("dangling"), os.O_CREAT | os.O_WRONLY, bind="made")  # creates "missing"
    fs("stat", P("missing"))
    fs("symlink", "self", P("self"))
    fs("stat", P("self"))                           # ELOOP
    fs("symlink", "pong", P("ping"))
    fs("symlink", "ping", P("pong"))
    fs("stat", P("ping"))                           # ELOOP
    fs("open", P("ping"), os.O_RDONLY)
    fs("open", P("ping"), os.O_CREAT | os.O_WRONLY)
    fs("stat", P("ping/x"))
    fs("lstat", P("ping"))
    fs("readlink", P("ping"))


@pytest.mark.parametrize("hops, outcome", [(40, "resolves"), (41, "ELOOP")])
def test_symlink_hop_limit(fs: OsMirror, hops: int, outcome: str) -> None:
    make_file(fs, "end", b"reached")
    fs("symlink", "end", P("hop0"))
    for hop in range(1, hops):
        fs("symlink", f"hop{hop - 1}", P(f"hop{hop}"))
    result = fs("stat", P(f"hop{hops - 1}"))
    assert (result[0] == "stat") == (outcome == "resolves")


def test_o_nofollow(fs: OsMirror) -> None:
    make_file(fs, "f", b"x")
    fs("mkdir", P("d"))
    fs("symlink", "f", P("lf"))
    fs("symlink", "d", P("ld"))
    fs("symlink", "nowhere", P("dangling"))
    fs("open", P("lf"), os.O_RDONLY | os.O_NOFOLLOW)                  # ELOOP
    fs("open", P("dangling"), os.O_CREAT | os.O_WRONLY | os.O_NOFOLLOW)  # ELOOP
    fs("open", P("ld"), os.O_RDONLY | os.O_NOFOLLOW | os.O_DIRECTORY)
    fs("open", P("ld/f2"), os.O_CREAT | os.O_WRONLY | os.O_NOFOLLOW, bind="w")  # only last
    fs("open", P("f"), os.O_RDONLY | os.O_NOFOLLOW, bind="r")
    fs("fstat", F("r"))


def test_trailing_slash_through_a_symlink(fs: OsMirror) -> None:
    fs("mkdir", P("d"))
    make_file(fs, "d/inside")
    make_file(fs, "f")
    fs("symlink", "d", P("ld"))
    fs("symlink", "f", P("lf"))
    fs("symlink", "gone", P("dangling"))
    fs("stat", P("ld/"))
    fs("lstat", P("ld/"))                           # follows: the directory
    fs("lstat", P("lf/"))                           # ENOTDIR
    fs("listdir", P("ld/"))
    fs("open", P("ld/"), os.O_RDONLY, bind="dirfd")
    fs("rmdir", P("ld/"))                           # ENOTDIR
    fs("unlink", P("ld/"))
    fs("unlink", P("lf/"))
    fs("mkdir", P("dangling/"))
    fs("open", P("dangling/"), RW_CREATE)
    fs("symlink", "x", P("newlink/"))
    fs("readlink", P("ld/"))                        # EINVAL: the directory is no symlink
    fs("rename", P("ld/"), P("moved"))
    fs("listdir", P(""))


def test_readlink_and_symlink_errors(fs: OsMirror) -> None:
    make_file(fs, "f")
    fs("readlink", P("f"))                          # EINVAL
    fs("readlink", P("missing"))                    # ENOENT
    fs("readlink", P("f/x"))                        # ENOTDIR
    fs("symlink", "x", P("f"))                      # EEXIST, src and dst named
    fs("symlink", "", P("empty"))                   # ENOENT
    fs("symlink", "x", P("nodir/l"))                # ENOENT
    fs("symlink", "x", P("f/l"))                    # ENOTDIR
    fs("symlink", "d", P("dirlink"), True)          # target_is_directory is ignored
    fs("lstat", P("dirlink"))


def test_unlink_removes_the_link_not_the_target(fs: OsMirror) -> None:
    make_file(fs, "f", b"kept")
    fs("symlink", "f", P("l"))
    fs("unlink", P("l"))
    fs("stat", P("f"))
    fs("lstat", P("l"))
    fs("mkdir", P("d"))
    fs("symlink", "d", P("ld"))
    fs("unlink", P("ld"))
    fs("stat", P("d"))
    fs("remove", P("d"))                            # EISDIR
