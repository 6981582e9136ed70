"""The mount's inode table: the kernel's lookup counts and each directory's path."""

from __future__ import annotations

import errno

import pytest

from benchfs.core.records import ROOT_INO
from benchfs.fuse.inodes import InodeTable


def test_lookup_counts_follow_the_kernel_and_forget_drops_at_zero() -> None:
    table = InodeTable()
    table.remember(7, "/f", is_dir=False)
    table.remember(7, "/g", is_dir=False)  # a hard link: the same inode, counted twice
    assert table.lookups(7) == 2
    table.forget(7, 1)
    assert 7 in table
    table.forget(7, 1)
    assert 7 not in table and table.lookups(7) == 0
    table.forget(ROOT_INO, 5)  # the kernel holds the root for the mount's life
    assert table.directory_path(ROOT_INO) == "/"


def test_directories_keep_their_path_and_renames_move_subtrees() -> None:
    table = InodeTable()
    table.remember(2, "/a", is_dir=True)
    table.remember(3, "/a/b", is_dir=True)
    table.remember(4, "/ab", is_dir=True)
    assert table.child_path(3, "x") == "/a/b/x"
    table.moved("/a", "/z")
    assert table.directory_path(2) == "/z"
    assert table.directory_path(3) == "/z/b"
    assert table.directory_path(4) == "/ab"  # a sibling sharing the prefix stays
    table.removed("/z")
    with pytest.raises(OSError) as removed:
        table.child_path(3, "x")
    assert removed.value.errno == errno.ENOENT
    with pytest.raises(OSError) as unknown:
        table.directory_path(99)
    assert unknown.value.errno == errno.ESTALE
