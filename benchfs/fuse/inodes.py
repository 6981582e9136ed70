"""The inodes the kernel holds: their lookup counts, and each directory's path.

The kernel names everything by inode number; benchfs finds a directory entry by
the hash of its full path (D5) and an inode's attributes by its number. So the
mount keeps, for every directory the kernel has looked up, the path it was found
at, and builds the paths of the names below it from that. Files need no path:
every call on an existing file goes by number (``InodeRef``), so a rename made
by another client never makes a call land on another file.

A directory renamed by another client is found under its new path once the
kernel's entry for it times out (the metadata TTL) and it is looked up again, as
the API's own directory cache behaves. Renames made through this mount move the
paths of the whole subtree at once.

Counts are the kernel's (D16): every reply that hands out an entry (lookup,
create, mkdir, symlink, link, each readdirplus entry) adds one, FORGET takes
them back, and an inode is dropped from the table at zero. Data outlives its
last name until its last release, which the client's descriptors guarantee.
"""

from __future__ import annotations

import errno
from dataclasses import dataclass

from benchfs.core.paths import is_ancestor
from benchfs.core.records import ROOT_INO


@dataclass(slots=True)
class Node:
    lookups: int
    path: str | None  # a directory's path; None for other types, or a removed directory


class InodeTable:
    def __init__(self) -> None:
        # The root is never forgotten: the kernel holds it for the mount's life.
        self._nodes: dict[int, Node] = {ROOT_INO: Node(1, "/")}

    def __contains__(self, ino: int) -> bool:
        return ino in self._nodes

    def lookups(self, ino: int) -> int:
        node = self._nodes.get(ino)
        return node.lookups if node is not None else 0

    def remember(self, ino: int, path: str, is_dir: bool) -> None:
        """The kernel got an entry for ``ino``, found at ``path``."""
        node = self._nodes.get(ino)
        if node is None:
            self._nodes[ino] = Node(1, path if is_dir else None)
            return
        node.lookups += 1
        if is_dir:
            node.path = path  # a directory has one name: the latest lookup knows it

    def forget(self, ino: int, count: int) -> None:
        node = self._nodes.get(ino)
        if node is None or ino == ROOT_INO:
            return
        node.lookups -= count
        if node.lookups <= 0:
            del self._nodes[ino]

    def directory_path(self, ino: int) -> str:
        """The path of a directory the kernel holds; ENOENT once it was removed."""
        node = self._nodes.get(ino)
        if node is None:
            raise OSError(errno.ESTALE, "inode unknown to the mount")
        if node.path is None:
            raise OSError(errno.ENOENT, "directory removed")
        return node.path

    def child_path(self, parent: int, name: str) -> str:
        base = self.directory_path(parent)
        return f"{base.rstrip('/')}/{name}"

    def moved(self, old: str, new: str) -> None:
        """A rename through this mount: directories at or under ``old`` move to ``new``."""
        for node in self._nodes.values():
            if node.path is not None and (node.path == old or is_ancestor(old, node.path)):
                node.path = new + node.path[len(old):]

    def removed(self, path: str) -> None:
        """A directory was removed (or replaced by a rename): nothing lives under it."""
        for node in self._nodes.values():
            if node.path is not None and (node.path == path or is_ancestor(path, node.path)):
                node.path = None
