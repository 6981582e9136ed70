"""Path resolution against the servers: lookups, symlinks, search permission, the cache.

A path's entry lives on the server its hash picks (D5), so a lookup is one round
trip whatever the depth. Resolution still has to know every ancestor (is it a
directory, a symlink, searchable?), so it first asks for every ancestor it has
not cached, all in one pipelined round, then walks the components the way
Linux does: ``..`` is taken physically, symlinks are spliced in (40 hops at
most), and the first missing or non-directory component picks the errno.
Directories stay cached for ``ttl`` seconds (0: always ask).
"""

from __future__ import annotations

import errno
import stat
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from benchfs.client.permissions import EXECUTE, Credentials, permitted
from benchfs.client.rpc import Request, Rpc
from benchfs.client.views import partition_route
from benchfs.core.errors import os_error
from benchfs.core.placement import PartitionMemo
from benchfs.core.records import ROOT_INO, Inode, inode_owner
from benchfs.core.wire import Op, decode_reply, encode_request

MAX_SYMLINK_HOPS = 40  # Linux's MAXSYMLINKS


@dataclass(slots=True)
class Resolved:
    """Where a path leads: its canonical path, its inode (None: missing), its parent."""

    path: str
    inode: Inode | None
    parent: Inode

    @property
    def name(self) -> str:
        return self.path.rsplit("/", 1)[1]


def _join(parent: str, name: str) -> str:
    return f"{parent.rstrip('/')}/{name}"


def _parent_of(path: str) -> str:
    return path.rsplit("/", 1)[0] or "/"


class Namespace:
    def __init__(self, rpc: Rpc, ttl: float, enforce: bool,
                 before_reading: Callable[[], None] = lambda: None) -> None:
        # Called before attributes are read, so the client can first publish the
        # sizes of its own writes (they reach the inode's server lazily).
        self._before_reading = before_reading
        self._rpc = rpc
        self._partitions = PartitionMemo(rpc.views.view.table.bits)
        self._ttl = ttl
        self.enforce_permissions = enforce
        self._dirs: dict[str, tuple[Inode, float]] = {}

    # -- placement ---------------------------------------------------------------------

    # Paths and chunks are routed by partition: the view says which server holds one
    # when the request is sent (benchfs.client.views).

    def rank_of_path(self, path: str) -> int:
        return partition_route(self._partitions.of_path(path))

    def rank_of_inode(self, ino: int) -> int:
        if ino == ROOT_INO:
            return self.rank_of_path("/")
        return inode_owner(ino)

    def rank_of_chunk(self, ino: int, index: int) -> int:
        return partition_route(self._partitions.of_chunk(ino, index))

    @property
    def all_ranks(self) -> list[int]:
        """Every server holding partitions."""
        return self._rpc.views.ranks

    # -- the directory cache -------------------------------------------------------------

    def _cached(self, path: str) -> Inode | None:
        hit = self._dirs.get(path)
        if hit is None or hit[1] < time.monotonic():
            return None
        return hit[0]

    def remember(self, path: str, inode: Inode) -> None:
        if self._ttl > 0 and stat.S_ISDIR(inode.mode):
            self._dirs[path] = (inode, time.monotonic() + self._ttl)

    def forget_ino(self, ino: int) -> None:
        """Drop cached directories that are this inode (after chmod, chown)."""
        for cached in [p for p, (inode, _) in self._dirs.items() if inode.ino == ino]:
            del self._dirs[cached]

    def forget(self, path: str) -> None:
        """Drop ``path`` and everything cached below it (after rename, rmdir, chmod)."""
        prefix = path.rstrip("/") + "/"
        for cached in [p for p in self._dirs if p == path or p.startswith(prefix)]:
            del self._dirs[cached]

    # -- lookups ---------------------------------------------------------------------------

    def getattr(self, ino: int, filename: object = None) -> Inode:
        self._before_reading()
        wire = self._rpc.call(self.rank_of_inode(ino), Op.GETATTR, ino, filename=filename)
        return Inode.from_wire(wire)

    def getattrs(self, inos: list[int]) -> list[Inode | None]:
        """The attributes of several inodes in one pipelined round (None: gone)."""
        self._before_reading()
        return [None if wire is None else Inode.from_wire(wire) for wire in self._ask(
            [(self.rank_of_inode(ino), Op.GETATTR, ino) for ino in inos])]

    def _fetch(self, paths: Iterable[str]) -> dict[str, Inode | None]:
        """Look up several paths in one pipelined round (None: missing)."""
        wanted = list(dict.fromkeys(paths))
        found: dict[str, Inode | None] = {}
        remote: dict[str, int] = {}
        for path, answer in zip(wanted, self._ask(
                [(self.rank_of_path(path), Op.LOOKUP, path) for path in wanted]), strict=True):
            if answer is None:
                found[path] = None
            elif answer[1] is None:  # the inode lives on another server (renamed, linked)
                remote[path] = answer[0]
            else:
                found[path] = Inode.from_wire(answer[1])
        # Their attributes in one more round, all at once; a miss means the inode
        # was removed between the two requests.
        for path, wire in zip(remote, self._ask(
                [(self.rank_of_inode(ino), Op.GETATTR, ino) for ino in remote.values()]),
                strict=True):
            found[path] = None if wire is None else Inode.from_wire(wire)
        for path, inode in found.items():
            if inode is not None:
                self.remember(path, inode)
        return found

    def _ask(self, questions: list[tuple[int, Op, object]]) -> list[Any]:
        """Pipelined one-argument metadata requests: each answer, or None for ENOENT."""
        if not questions:
            return []
        replies = self._rpc.run_retrying([
            Request(rank, op, body=encode_request(op, arg)) for rank, op, arg in questions
        ])
        answers: list[Any] = []
        for reply in replies:
            if reply.status == errno.ENOENT:
                answers.append(None)
            elif reply.status:
                raise os_error(reply.status)
            else:
                answers.append(decode_reply(reply.payload or b""))
        return answers

    # -- resolution -----------------------------------------------------------------------

    def resolve(self, path: str, creds: Credentials, follow: bool, filename: object,
                trailing_slash: bool = False, fresh_final: bool = True) -> Resolved:
        """Resolve an absolute path. The last component may be missing (inode None);
        every other problem raises the OSError Linux would. ``fresh_final`` False: a
        cached directory will do for the last component too (the caller resolves a
        directory to work in, as for the ancestors, not to report its attributes)."""
        self._before_reading()
        memo: dict[str, Inode | None] = {}
        quick = self._resolve_plain(path, creds, follow or trailing_slash, fresh_final, memo)
        if quick is not None:
            return quick
        hops = 0
        pending = [c for c in path.split("/") if c]
        current = "/"
        memo.update(self._prefetch_below("/", pending, memo, fresh_final))
        root = self._require(memo, "/", filename)
        current_inode = root
        parent = root
        while pending:
            component = pending.pop(0)
            last = not pending
            self._check_search(current_inode, creds, filename)
            if component == ".":
                if last:
                    return Resolved(current, current_inode, parent)
                continue
            if component == "..":
                current = _parent_of(current)
                current_inode = self._require(memo, current, filename)
                parent = self._require(memo, _parent_of(current), filename)
                if last:
                    return Resolved(current, current_inode, parent)
                continue
            candidate = _join(current, component)
            if candidate not in memo:
                memo.update(self._fetch([candidate]))
            inode = memo[candidate]
            if inode is None:
                if last:
                    return Resolved(candidate, None, current_inode)
                raise os_error(errno.ENOENT, filename)
            if stat.S_ISLNK(inode.mode) and (not last or follow or trailing_slash):
                hops += 1
                if hops > MAX_SYMLINK_HOPS:
                    raise os_error(errno.ELOOP, filename)
                target = inode.target or ""
                if not target:
                    raise os_error(errno.ENOENT, filename)
                if target.startswith("/"):
                    current, current_inode = "/", root
                    parent = root
                pending[:0] = [c for c in target.split("/") if c]
                memo.update(self._prefetch_below(current, pending, memo, fresh_final))
                continue
            if last:
                return Resolved(candidate, inode, current_inode)
            if not stat.S_ISDIR(inode.mode):
                raise os_error(errno.ENOTDIR, filename)
            parent, current, current_inode = current_inode, candidate, inode
        return Resolved(current, current_inode, parent)

    def _resolve_plain(self, path: str, creds: Credentials, follow: bool, fresh_final: bool,
                       memo: dict[str, Inode | None]) -> Resolved | None:
        """The common case without the general walk: plain names under cached
        directories the caller may search, ending in anything but a symlink to
        follow. None sends the caller to the walk, which also finds every error
        the way Linux does; what was fetched here is left in ``memo`` for it."""
        names = path.split("/")
        if "." in names or ".." in names or "" in names[1:]:
            return None
        now = time.monotonic()
        parent = None
        for depth in range(1, len(names)):
            hit = self._dirs.get("/".join(names[:depth]) or "/")
            if hit is None or hit[1] < now:
                return None
            parent = hit[0]
            if self.enforce_permissions and not permitted(parent, creds, EXECUTE):
                return None
        assert parent is not None  # the root at least
        if not fresh_final:
            hit = self._dirs.get(path)
            if hit is not None and hit[1] >= now:
                return Resolved(path, hit[0], parent)
        memo.update(self._fetch([path]))
        inode = memo[path]
        if inode is not None and stat.S_ISLNK(inode.mode) and follow:
            return None
        return Resolved(path, inode, parent)

    def _prefetch_below(self, start: str, components: list[str],
                        memo: dict[str, Inode | None],
                        fresh_final: bool) -> dict[str, Inode | None]:
        """Fetch, in one round, every prefix the walk will need, up to the first ``..``
        (past which the physical path is unknown until symlinks are resolved)."""
        known: dict[str, Inode | None] = {}
        prefixes = [start]
        for component in components:
            if component == "..":
                break
            if component != ".":
                prefixes.append(_join(prefixes[-1], component))
        to_fetch = []
        # The final component is always asked for: callers want its current
        # attributes (stat after a chmod), not the cached ones.
        final = (prefixes[-1] if fresh_final and ".." not in components and len(prefixes) > 1
                 else None)
        for prefix in prefixes:
            cached = None if prefix == final else self._cached(prefix)
            if cached is not None:
                known[prefix] = cached
            elif prefix not in memo:
                to_fetch.append(prefix)
        known.update(self._fetch(to_fetch))
        return known

    def _require(self, memo: dict[str, Inode | None], path: str, filename: object) -> Inode:
        if path not in memo:
            cached = self._cached(path)
            memo[path] = cached if cached is not None else self._fetch([path])[path]
        inode = memo[path]
        if inode is None:
            raise os_error(errno.ENOENT, filename)
        return inode

    def _check_search(self, directory: Inode, creds: Credentials, filename: object) -> None:
        if self.enforce_permissions and not permitted(directory, creds, EXECUTE):
            raise os_error(errno.EACCES, filename)
