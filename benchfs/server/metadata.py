"""The per-server metadata store: directory entries and the inodes this server owns.

Paths are hashed to servers (DESIGN.md D5), so each server holds an arbitrary
slice of the namespace. Entries are keyed by ``(parent, name)`` in a sorted map:
the children of one directory are then one contiguous range, which makes
``readdir`` and emptiness checks range scans instead of full scans.

Inodes are keyed by number. A new file's inode is allocated on the server that
holds its first name, and the inode number records that server (see
``benchfs.core.records``), so attributes can be found from the number alone.
"""

from __future__ import annotations

import errno
import stat
import time
from collections.abc import Iterator
from dataclasses import dataclass

from sortedcontainers import SortedDict

from benchfs.core.paths import split
from benchfs.core.records import ROOT_INO, Inode, new_inode_number


@dataclass(slots=True)
class Dentry:
    """One name in a directory: the inode it points to and its file type bits."""

    ino: int
    file_type: int  # the S_IFMT bits of the inode, so readdir needs no inode fetch


class MetadataError(Exception):
    """A request that fails with an errno, sent back to the client as the reply status."""

    def __init__(self, err: int) -> None:
        super().__init__(err)
        self.errno = err


def _now_ns() -> int:
    return time.time_ns()


class MetadataStore:
    """Directory entries hashed to this server and the inodes allocated here."""

    def __init__(self, server_index: int, holds_root: bool) -> None:
        self._server_index = server_index
        self._next_counter = 2  # counter 1 is reserved for the root's number
        self._entries: SortedDict = SortedDict()  # (parent, name) -> Dentry
        self._inodes: dict[int, Inode] = {}
        if holds_root:
            self._install_root()

    def _install_root(self) -> None:
        now = _now_ns()
        self._inodes[ROOT_INO] = Inode(
            ino=ROOT_INO, mode=stat.S_IFDIR | 0o777, uid=0, gid=0, size=0, nlink=2,
            atime_ns=now, mtime_ns=now, ctime_ns=now,
        )

    # -- queries ---------------------------------------------------------------

    def lookup(self, path: str) -> tuple[int, Inode | None]:
        """The inode number of ``path`` and its attributes when this server owns them."""
        if path == "/":
            return ROOT_INO, self._inodes.get(ROOT_INO)
        dentry: Dentry | None = self._entries.get(split(path))
        if dentry is None:
            raise MetadataError(errno.ENOENT)
        return dentry.ino, self._inodes.get(dentry.ino)

    def getattr(self, ino: int) -> Inode:
        inode = self._inodes.get(ino)
        if inode is None:
            raise MetadataError(errno.ENOENT)
        return inode

    def children(self, directory: str) -> Iterator[tuple[str, Dentry]]:
        """The entries of ``directory`` held here, in name order."""
        # "" sorts before every name; the upper key uses the highest code point so
        # the range covers every name of this parent and nothing else.
        for key in self._entries.irange((directory, ""), (directory, "\U0010ffff")):
            yield key[1], self._entries[key]

    def has_children(self, directory: str) -> bool:
        return next(self.children(directory), None) is not None

    # -- mutations -------------------------------------------------------------

    def _allocate(self, mode: int, uid: int, gid: int, nlink: int) -> Inode:
        ino = new_inode_number(self._server_index, self._next_counter)
        self._next_counter += 1
        now = _now_ns()
        inode = Inode(
            ino=ino, mode=mode, uid=uid, gid=gid, size=0, nlink=nlink,
            atime_ns=now, mtime_ns=now, ctime_ns=now,
        )
        self._inodes[ino] = inode
        return inode

    def create(self, path: str, mode: int, exclusive: bool, uid: int, gid: int) -> Inode | int:
        """Create a regular file, or return the existing entry (its inode, or its number
        when the inode lives on another server)."""
        key = split(path)
        existing: Dentry | None = self._entries.get(key)
        if existing is not None:
            if exclusive:
                raise MetadataError(errno.EEXIST)
            return self._inodes.get(existing.ino, existing.ino)
        inode = self._allocate(stat.S_IFREG | (mode & 0o7777), uid, gid, nlink=1)
        self._entries[key] = Dentry(inode.ino, stat.S_IFREG)
        return inode

    def mkdir(self, path: str, mode: int, uid: int, gid: int) -> Inode:
        key = split(path)
        if path == "/" or key in self._entries:
            raise MetadataError(errno.EEXIST)
        inode = self._allocate(stat.S_IFDIR | (mode & 0o7777), uid, gid, nlink=2)
        self._entries[key] = Dentry(inode.ino, stat.S_IFDIR)
        return inode

    def unlink(self, path: str, keep_inode: bool) -> tuple[int, int]:
        """Remove a non-directory name. Returns (ino, links left); -1 links left means
        the inode lives elsewhere and its owner must drop the link. With ``keep_inode``
        an inode left with no links survives (the caller still has it open) until
        ``drop_orphan``."""
        key = split(path)
        dentry: Dentry | None = self._entries.get(key)
        if dentry is None:
            raise MetadataError(errno.ENOENT)
        if dentry.file_type == stat.S_IFDIR:
            raise MetadataError(errno.EISDIR)
        del self._entries[key]
        inode = self._inodes.get(dentry.ino)
        if inode is None:
            return dentry.ino, -1
        inode.nlink -= 1
        inode.ctime_ns = _now_ns()
        if inode.nlink <= 0 and not keep_inode:
            del self._inodes[dentry.ino]
        return dentry.ino, inode.nlink

    def drop_orphan(self, ino: int) -> None:
        """Forget an inode whose last name went while it was open."""
        inode = self._inodes.get(ino)
        if inode is not None and inode.nlink <= 0:
            del self._inodes[ino]

    def rmdir(self, path: str) -> int:
        """Remove an empty directory's name and inode. Emptiness across servers is the
        caller's check; this server checks the entries it holds."""
        if path == "/":
            raise MetadataError(errno.EBUSY)
        key = split(path)
        dentry: Dentry | None = self._entries.get(key)
        if dentry is None:
            raise MetadataError(errno.ENOENT)
        if dentry.file_type != stat.S_IFDIR:
            raise MetadataError(errno.ENOTDIR)
        if self.has_children(path):
            raise MetadataError(errno.ENOTEMPTY)
        del self._entries[key]
        self._inodes.pop(dentry.ino, None)
        return dentry.ino

    def set_size(self, ino: int, size: int, grow_only: bool) -> int:
        inode = self.getattr(ino)
        if not stat.S_ISREG(inode.mode):
            raise MetadataError(errno.EISDIR if stat.S_ISDIR(inode.mode) else errno.EINVAL)
        if size > inode.size or not grow_only:
            inode.size = size
        # Writes and truncates move mtime/ctime even when the size stays put.
        now = _now_ns()
        inode.mtime_ns = now
        inode.ctime_ns = now
        return inode.size
