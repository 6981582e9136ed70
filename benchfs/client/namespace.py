"""Path resolution against the servers: lookups, the directory cache, errno diagnosis.

A path's entry lives on the server its hash picks (D5), so a lookup is one round
trip whatever the depth. The price is that a missing entry does not say *why*
it is missing; Linux answers ENOTDIR when an ancestor is a file, so on that
(rare) path we walk the ancestors to pick the errno Linux would.
"""

from __future__ import annotations

import errno
import stat
import time
from dataclasses import dataclass

from benchfs.client.rpc import Rpc
from benchfs.core.errors import os_error
from benchfs.core.paths import ancestors, split
from benchfs.core.placement import PlacementRing
from benchfs.core.records import ROOT_INO, Inode, inode_owner
from benchfs.core.wire import Op


@dataclass(slots=True)
class _CachedDir:
    ino: int
    expires: float


class Namespace:
    """Finds entries and inodes; caches directories for ``ttl`` seconds (0: never)."""

    def __init__(self, rpc: Rpc, ring: PlacementRing, ttl: float) -> None:
        self._rpc = rpc
        self._ring = ring
        self._ttl = ttl
        self._dirs: dict[str, _CachedDir] = {}

    # -- placement -------------------------------------------------------------

    def rank_of_path(self, path: str) -> int:
        return int(self._ring.server_for_path(path))

    def rank_of_inode(self, ino: int) -> int:
        if ino == ROOT_INO:
            return self.rank_of_path("/")
        return inode_owner(ino)

    def rank_of_chunk(self, ino: int, index: int) -> int:
        return int(self._ring.server_for_chunk(ino, index))

    @property
    def all_ranks(self) -> list[int]:
        return [int(server) for server in self._ring.servers]

    # -- lookups ---------------------------------------------------------------

    def _lookup_raw(self, path: str) -> tuple[int, Inode | None] | None:
        """(ino, attributes if the entry's server owns them), or None when missing."""
        try:
            ino, wire = self._rpc.call(self.rank_of_path(path), Op.LOOKUP, path)
        except FileNotFoundError:
            return None
        return ino, (Inode.from_wire(wire) if wire is not None else None)

    def getattr(self, ino: int, filename: object = None) -> Inode:
        wire = self._rpc.call(self.rank_of_inode(ino), Op.GETATTR, ino, filename=filename)
        return Inode.from_wire(wire)

    def lookup(self, path: str, filename: object) -> Inode:
        """The attributes of ``path``; ENOENT or ENOTDIR as Linux would choose."""
        found = self._lookup_raw(path)
        if found is None:
            raise self.missing_error(path, filename)
        ino, inode = found
        if inode is None:
            inode = self.getattr(ino, filename)
        if stat.S_ISDIR(inode.mode):
            self._remember_dir(path, ino)
        return inode

    def missing_error(self, path: str, filename: object) -> OSError:
        for ancestor in ancestors(path)[1:]:
            found = self._lookup_raw(ancestor)
            if found is None:
                return os_error(errno.ENOENT, filename)
            ino, inode = found
            if inode is None:
                inode = self.getattr(ino, filename)
            if not stat.S_ISDIR(inode.mode):
                return os_error(errno.ENOTDIR, filename)
        return os_error(errno.ENOENT, filename)

    def require_parent_dir(self, path: str, filename: object) -> None:
        """Raise unless the parent of ``path`` is an existing directory."""
        parent, _ = split(path)
        cached = self._dirs.get(parent)
        if cached is not None and cached.expires > time.monotonic():
            return
        if not stat.S_ISDIR(self.lookup(parent, filename).mode):
            raise os_error(errno.ENOTDIR, filename)

    # -- the directory cache -----------------------------------------------------

    def _remember_dir(self, path: str, ino: int) -> None:
        if self._ttl > 0:
            self._dirs[path] = _CachedDir(ino, time.monotonic() + self._ttl)

    def remember_new_dir(self, path: str, ino: int) -> None:
        self._remember_dir(path, ino)

    def forget_dir(self, path: str) -> None:
        self._dirs.pop(path, None)
