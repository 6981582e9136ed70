"""The per-server metadata store: directory entries and the inodes this server owns.

Paths are hashed to servers (DESIGN.md D5), so each server holds an arbitrary
slice of the namespace. Entries are keyed by ``(parent, name)`` in a sorted map:
the children of one directory are one contiguous range, and a whole subtree is
two ranges, which makes ``readdir``, emptiness checks and directory renames
range scans instead of full scans.

Inodes are keyed by number. A new file's inode is allocated on the server that
holds its first name, and the inode number records that server (see
``benchfs.core.records``), so attributes are found from the number alone and
renames or links never move them.

Directory renames and rmdir run under a *fence*: every server blocks the
source and destination subtrees (requests there answer EAGAIN and the client
retries) until the rename's coordinator finished moving the entries, so other
clients see the subtree either before or after, never half-moved. Fences are
journaled, so they outlive a restart of the server holding them.
"""

from __future__ import annotations

import errno
import stat
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from sortedcontainers import SortedDict

from benchfs.core.paths import is_ancestor, split
from benchfs.core.records import FIRST_COUNTER, INLINE_MAX, ROOT_INO, Inode, new_inode_number
from benchfs.server.intents import TransactionState
from benchfs.server.journal import Journal, MetadataError, journaled, record

__all__ = ["Dentry", "MetadataError", "MetadataStore", "TOMBSTONE_SECONDS"]
# Largest code point: (dir, _TOP) bounds every name of dir from above.
_TOP = "\U0010ffff"
# How long a removed or moved-away subtree refuses new entries. Clients trust a
# cached directory for at most their metadata TTL, which must stay below this.
TOMBSTONE_SECONDS = 10.0


@dataclass(slots=True)
class Dentry:
    """One name in a directory: the inode it points to and its file type bits."""

    ino: int
    file_type: int  # the S_IFMT bits of the inode, so readdir needs no inode fetch


@dataclass(slots=True)
class Fence:
    src: str
    dst: str
    collected: list[tuple[str, str]] = field(default_factory=list)  # src keys seen here


def _join(parent: str, name: str) -> str:
    return f"{parent.rstrip('/')}/{name}"


def _within(path: str, top: str) -> bool:
    return path == top or is_ancestor(top, path)


class MetadataStore(TransactionState):
    """Directory entries hashed to this server and the inodes allocated here."""

    # What a transaction's coordinator may ask of this server as a keyed step.
    STEP_METHODS = frozenset({"add_entry", "remove_entry", "adjust", "unlink", "make_directory",
                              "revive"})

    def __init__(self, server_index: int, holds_root: bool,
                 journal: Journal | None = None) -> None:
        super().__init__(journal)
        self._server_index = server_index
        self._next_counter = FIRST_COUNTER
        self._entries: SortedDict = SortedDict()  # (parent, name) -> Dentry
        self._inodes: dict[int, Inode] = {}
        self._fences: dict[int, Fence] = {}
        # Removed or moved-away subtree -> (monotonic expiry, directories made anew
        # at or below it since, under which new names are welcome again).
        self._tombstones: dict[str, tuple[float, set[str]]] = {}
        if holds_root:
            now = self.now
            self._inodes[ROOT_INO] = Inode(
                ino=ROOT_INO, mode=stat.S_IFDIR | 0o777, uid=0, gid=0, size=0, nlink=2,
                atime_ns=now, mtime_ns=now, ctime_ns=now,
            )

    # -- durability ------------------------------------------------------------------

    def snapshot_records(self) -> Iterator[bytes]:
        """The whole state as records that ``apply`` turns back into it."""
        yield record("_restore_counter", [self._next_counter], 0)
        for inode in self._inodes.values():
            yield record("_restore_inode", [inode.to_wire()], 0)
        for (parent, name), dentry in self._entries.items():
            yield record("_restore_entry", [parent, name, dentry.ino, dentry.file_type], 0)
        for txid, fence in self._fences.items():
            yield record("_restore_fence", [txid, fence.src, fence.dst,
                                            [list(key) for key in fence.collected]], 0)
        yield from self._transaction_records()

    def _restore_counter(self, counter: int) -> None:
        self._next_counter = counter

    def _restore_inode(self, wire: list[Any]) -> None:
        inode = Inode.from_wire(wire)
        self._inodes[inode.ino] = inode

    def _restore_entry(self, parent: str, name: str, ino: int, file_type: int) -> None:
        self._entries[(parent, name)] = Dentry(ino, file_type)

    def _restore_fence(self, txid: int, src: str, dst: str, collected: list[list[str]]) -> None:
        self._fences[txid] = Fence(src, dst, [(parent, name) for parent, name in collected])

    # -- fences --------------------------------------------------------------------

    def check_unfenced(self, path: str) -> None:
        """EAGAIN while ``path`` lies in a subtree being moved or removed."""
        for fence in self._fences.values():
            if _within(path, fence.src) or _within(path, fence.dst):
                raise MetadataError(errno.EAGAIN)

    def _live_tombstones(self) -> Iterator[tuple[str, set[str]]]:
        now = time.monotonic()
        for top, (expiry, revived) in list(self._tombstones.items()):
            if expiry < now:
                del self._tombstones[top]
            else:
                yield top, revived

    def _check_not_buried(self, path: str) -> None:
        """ENOENT for new names under a subtree that was just removed or moved away
        (a client trusting a stale directory cache), unless their directory was
        made anew since (``revive``): every directory there before is gone."""
        parent = split(path)[0]
        for top, revived in self._live_tombstones():
            if is_ancestor(top, path) and parent not in revived:
                raise MetadataError(errno.ENOENT)

    def buried(self, path: str) -> bool:
        """Whether ``path`` is, or lies under, a subtree just removed or moved away."""
        return any(_within(path, top) for top, _ in self._live_tombstones())

    def revive(self, path: str) -> None:
        """A directory was made anew at ``path``, in or under buried subtrees: names
        may be added in it again (a transaction step, sent to every server)."""
        for top, revived in self._live_tombstones():
            if _within(path, top):
                revived.add(path)

    def _subtree_keys(self, top: str) -> list[tuple[str, str]]:
        """Keys of ``top`` itself and of every entry below it held here."""
        keys: list[tuple[str, str]] = []
        own = split(top)
        if top != "/" and own in self._entries:
            keys.append(own)
        keys.extend(self._entries.irange((top, ""), (top, _TOP)))
        below = top.rstrip("/") + "/"
        # Every parent string under ``top`` starts with "top/"; "top0" is the first
        # string past them ('0' follows '/').
        keys.extend(self._entries.irange((below, ""), (below[:-1] + "0", ""),
                                         inclusive=(True, False)))
        return keys

    def _listing(self, keys: list[tuple[str, str]]) -> list[list[Any]]:
        return [[_join(*key), self._entries[key].ino, self._entries[key].file_type]
                for key in keys]

    @journaled
    def fence(self, txid: int, src: str, dst: str) -> list[list[list[Any]]]:
        """Block ``src`` and ``dst`` subtrees; list the entries of both held here.

        Fences are journaled: a restarted server keeps refusing a half-moved
        subtree until the rename's coordinator unfences it. Fencing again under
        the same txid (a resend) lists what the fence holds.
        """
        held = self._fences.get(txid)
        if held is not None:
            src_keys = [key for key in held.collected if key in self._entries]
            dst_keys = [] if dst == src else self._subtree_keys(dst)
            return [self._listing(src_keys), self._listing(dst_keys)]
        self.check_unfenced(src)
        self.check_unfenced(dst)
        src_keys = self._subtree_keys(src)
        self._fences[txid] = Fence(src, dst, src_keys)
        dst_keys = [] if dst == src else self._subtree_keys(dst)
        return [self._listing(src_keys), self._listing(dst_keys)]

    def move_insert(self, txid: int, entries: list[list[Any]]) -> None:
        if txid not in self._fences:
            raise MetadataError(errno.ESTALE)
        self._insert_entries(entries)

    @journaled
    def _insert_entries(self, entries: list[list[Any]]) -> None:
        for path, ino, file_type in entries:
            self._entries[split(path)] = Dentry(ino, file_type)

    @journaled
    def unfence(self, txid: int, remove_src: bool) -> None:
        fence = self._fences.pop(txid, None)
        if fence is None:
            return
        if remove_src:
            self._remove_keys([list(key) for key in fence.collected])
            self._tombstones[fence.src] = (time.monotonic() + TOMBSTONE_SECONDS, set())

    @journaled
    def _remove_keys(self, keys: list[list[str]]) -> None:
        for parent, name in keys:
            self._entries.pop((parent, name), None)

    # -- queries ---------------------------------------------------------------------

    def lookup(self, path: str) -> tuple[int, Inode | None]:
        """The inode number of ``path`` and its attributes when this server owns them."""
        if path == "/":
            return ROOT_INO, self._inodes.get(ROOT_INO)
        self.check_unfenced(path)
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
        self.check_unfenced(directory)
        for key in self._entries.irange((directory, ""), (directory, _TOP)):
            yield key[1], self._entries[key]

    # -- names -----------------------------------------------------------------------

    def _new_name_key(self, path: str) -> tuple[str, str]:
        self.check_unfenced(path)
        self._check_not_buried(path)
        return split(path)

    def _allocate(self, mode: int, uid: int, gid: int, nlink: int,
                  target: str | None = None) -> Inode:
        ino = new_inode_number(self._server_index, self._next_counter)
        self._next_counter += 1
        now = self.now
        inode = Inode(
            ino=ino, mode=mode, uid=uid, gid=gid, size=len(target or ""), nlink=nlink,
            atime_ns=now, mtime_ns=now, ctime_ns=now, target=target,
        )
        self._inodes[ino] = inode
        return inode

    @journaled
    def create(self, path: str, mode: int, exclusive: bool, uid: int, gid: int,
               parent_ino: int) -> tuple[int, Inode | None, bool, bool]:
        """Create a regular file, or find the existing entry: (ino, attributes when
        held here, created, whether the parent's times moved here too)."""
        key = self._new_name_key(path)
        existing: Dentry | None = self._entries.get(key)
        if existing is not None:
            if exclusive:
                raise MetadataError(errno.EEXIST)
            return existing.ino, self._inodes.get(existing.ino), False, False
        inode = self._allocate(stat.S_IFREG | (mode & 0o7777), uid, gid, nlink=1)
        inode.inline = b""  # a new file starts small: its data lives in the record
        self._entries[key] = Dentry(inode.ino, stat.S_IFREG)
        return inode.ino, inode, True, self._touch_parent(parent_ino)

    def _touch_parent(self, parent_ino: int, nlink_delta: int = 0) -> bool:
        """A name came or went in a directory whose inode may live here: move its
        times (and link count) now and spare a round trip. False: it lives elsewhere."""
        if parent_ino not in self._inodes:
            return False
        self.adjust(parent_ino, nlink_delta, True, False)
        return True

    def holds_inode(self, ino: int) -> bool:
        return ino in self._inodes

    def _create_unique(self, path: str, inode_mode: int, uid: int, gid: int, nlink: int,
                       target: str | None = None) -> Inode:
        key = self._new_name_key(path)
        if path == "/" or key in self._entries:
            raise MetadataError(errno.EEXIST)
        inode = self._allocate(inode_mode, uid, gid, nlink, target)
        self._entries[key] = Dentry(inode.ino, stat.S_IFMT(inode_mode))
        return inode

    @journaled
    def mkdir(self, path: str, mode: int, uid: int, gid: int) -> Inode:
        return self._create_unique(path, stat.S_IFDIR | (mode & 0o7777), uid, gid, nlink=2)

    @journaled
    def make_directory(self, path: str, mode: int, uid: int, gid: int,
                       parent_ino: int) -> list[Any]:
        """mkdir, and the parent's link with it when the parent's inode lives here:
        [ino, whether the parent was linked here, whether it lies in a buried subtree
        (then every server must ``revive`` it)]."""
        inode = self.mkdir(path, mode, uid, gid)
        return [inode.ino, self._touch_parent(parent_ino, +1), self.buried(path)]

    @journaled
    def symlink(self, target: str, path: str, uid: int, gid: int) -> Inode:
        return self._create_unique(path, stat.S_IFLNK | 0o777, uid, gid, nlink=1, target=target)

    @journaled
    def mknod(self, path: str, mode: int, rdev: int, uid: int, gid: int) -> Inode:
        """A FIFO, socket or device node. Only the inode lives here (a device's
        number in its target field); the kernel that opens it makes the object."""
        file_type = stat.S_IFMT(mode)
        if file_type not in (stat.S_IFIFO, stat.S_IFSOCK, stat.S_IFCHR, stat.S_IFBLK):
            raise MetadataError(errno.EINVAL)
        is_device = file_type in (stat.S_IFCHR, stat.S_IFBLK)
        return self._create_unique(path, file_type | (mode & 0o7777), uid, gid, nlink=1,
                                   target=str(rdev) if is_device else None)

    @journaled
    def add_entry(self, path: str, ino: int, file_type: int,
                  replace: bool) -> list[int] | None:
        """Point ``path`` at an existing inode; returns the [ino, type] it replaced."""
        key = self._new_name_key(path)
        old: Dentry | None = self._entries.get(key)
        if old is not None and not replace:
            raise MetadataError(errno.EEXIST)
        self._entries[key] = Dentry(ino, file_type)
        return None if old is None else [old.ino, old.file_type]

    @journaled
    def remove_entry(self, path: str, ino: int) -> None:
        """Drop ``path`` if it still names ``ino`` (a concurrent change wins otherwise)."""
        self.check_unfenced(path)
        key = split(path)
        current: Dentry | None = self._entries.get(key)
        if current is None or current.ino != ino:
            raise MetadataError(errno.ENOENT)
        del self._entries[key]

    @journaled
    def unlink(self, path: str, keep_inode: bool, parent_ino: int) -> tuple[int, int, bool]:
        """Remove a non-directory name. Returns (ino, links left, parent touched here);
        -1 links left means the inode lives elsewhere and its owner must drop the link.
        With ``keep_inode`` an inode left with no links survives (the caller still has
        it open) until ``drop_orphan``."""
        self.check_unfenced(path)
        key = split(path)
        dentry: Dentry | None = self._entries.get(key)
        if dentry is None:
            raise MetadataError(errno.ENOENT)
        if dentry.file_type == stat.S_IFDIR:
            raise MetadataError(errno.EISDIR)
        del self._entries[key]
        touched = self._touch_parent(parent_ino)
        if dentry.ino not in self._inodes:
            return dentry.ino, -1, touched
        return dentry.ino, self.adjust(dentry.ino, -1, False, keep_inode), touched

    @journaled
    def drop_orphan(self, ino: int) -> None:
        """Forget an inode whose last name went while it was open."""
        inode = self._inodes.get(ino)
        if inode is not None and inode.nlink <= 0:
            del self._inodes[ino]

    # -- attributes ----------------------------------------------------------------------

    @journaled
    def adjust(self, ino: int, nlink_delta: int, touch_mtime: bool, keep_inode: bool) -> int:
        """Change the link count and move ctime (and mtime); an inode reaching no
        links is removed unless ``keep_inode``. Returns the links left."""
        inode = self.getattr(ino)
        inode.nlink += nlink_delta
        now = self.now
        inode.ctime_ns = now
        if touch_mtime:
            inode.mtime_ns = now
        if inode.nlink <= 0 and not keep_inode:
            del self._inodes[ino]
        return inode.nlink

    @journaled
    def setattr(self, ino: int, changes: dict[str, int | None]) -> Inode:
        inode = self.getattr(ino)
        now = self.now
        for name, value in changes.items():
            if name == "mode":
                inode.mode = stat.S_IFMT(inode.mode) | (int(value or 0) & 0o7777)
            else:
                setattr(inode, name, now if value is None else value)
        inode.ctime_ns = now
        return inode

    @journaled
    def set_size(self, ino: int, size: int, grow_only: bool) -> int:
        inode = self.getattr(ino)
        if not stat.S_ISREG(inode.mode):
            raise MetadataError(errno.EISDIR if stat.S_ISDIR(inode.mode) else errno.EINVAL)
        if size > inode.size or not grow_only:
            if inode.inline is not None:
                if size > INLINE_MAX:
                    raise MetadataError(errno.EMSGSIZE)  # the client spills first
                inode.inline = inode.inline[:size].ljust(size, b"\0")
            inode.size = size
        # Writes and truncates move mtime/ctime even when the size stays put.
        now = self.now
        inode.mtime_ns = now
        inode.ctime_ns = now
        return inode.size

    @journaled
    def inline_write(self, ino: int, offset: int, data: bytes) -> int:
        """Write into a small file's record; EMSGSIZE once it no longer fits there."""
        inode = self.getattr(ino)
        end = offset + len(data)
        if inode.inline is None or end > INLINE_MAX:
            raise MetadataError(errno.EMSGSIZE)
        current = inode.inline.ljust(max(inode.size, end), b"\0")
        inode.inline = current[:offset] + data + current[end:]
        inode.size = len(inode.inline)
        inode.mtime_ns = inode.ctime_ns = self.now
        return inode.size

    @journaled
    def spill(self, ino: int) -> None:
        """The client copied the record's data to chunks: they hold it from now on."""
        self.getattr(ino).inline = None
