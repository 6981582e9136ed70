"""Consistent-hash placement of paths and chunks onto servers (DESIGN.md D6).

Each server owns ``vnodes`` points on a 64-bit ring; a key belongs to the first point
clockwise from its hash. Virtual nodes smooth the load, and adding a server only takes
over the arcs its own points land on, so about 1/N of the keys move.

The hash is blake2b, not Python's ``hash()``: placement must agree across processes
and runs (``hash()`` of str is salted per process), and a strong hash avoids the
collisions of the original's additive hash.
"""

from __future__ import annotations

import bisect
import hashlib
import struct
from collections.abc import Sequence

_CHUNK_KEY = struct.Struct("<QQ")
_MEMO_SIZE = 1 << 16


def ring_hash(key: bytes) -> int:
    """The 64-bit ring position of ``key``."""
    return int.from_bytes(hashlib.blake2b(key, digest_size=8).digest(), "little")


def path_key(path: str) -> bytes:
    """The placement key of a normalised path."""
    # surrogateescape keeps non-UTF-8 names (decoded by os.fsdecode) hashable.
    return b"p:" + path.encode("utf-8", "surrogateescape")


def chunk_key(ino: int, chunk_index: int) -> bytes:
    """The placement key of chunk ``chunk_index`` of inode ``ino``."""
    return b"c:" + _CHUNK_KEY.pack(ino, chunk_index)


class PlacementRing:
    """A consistent-hash ring over server ids, with virtual nodes."""

    __slots__ = ("servers", "vnodes", "_points", "_owners", "_memo")

    servers: tuple[str, ...]
    vnodes: int

    def __init__(self, server_ids: Sequence[str], vnodes: int = 128) -> None:
        if isinstance(server_ids, str):
            raise TypeError("server_ids must be a sequence of ids, not one str")
        if not server_ids:
            raise ValueError("a placement ring needs at least one server")
        if vnodes < 1:
            raise ValueError(f"vnodes must be at least 1, not {vnodes}")
        if len(set(server_ids)) != len(server_ids):
            raise ValueError("server ids must be distinct")
        self.servers = tuple(sorted(server_ids))
        self.vnodes = vnodes
        # Ties between points (vanishingly rare) are broken by server id, so every
        # process builds the same ring whatever order it was given the ids in.
        points = sorted(
            (ring_hash(f"{server}#{i}".encode("utf-8", "surrogateescape")), server)
            for server in self.servers
            for i in range(vnodes)
        )
        self._points: list[int] = [point for point, _ in points]
        self._owners: list[str] = [server for _, server in points]
        # Placement of recent paths and chunks: every request asks, and the same
        # names come back again and again (a directory, a file's chunks).
        self._memo: dict[str | tuple[int, int], str] = {}

    def __repr__(self) -> str:
        return f"PlacementRing({list(self.servers)!r}, vnodes={self.vnodes})"

    def _slot(self, key: bytes) -> int:
        slot = bisect.bisect_right(self._points, ring_hash(key))
        return 0 if slot == len(self._points) else slot

    def lookup(self, key: bytes) -> str:
        """The server owning ``key``."""
        return self._owners[self._slot(key)]

    def replicas(self, key: bytes, count: int) -> list[str]:
        """Up to ``count`` distinct servers for ``key``: its owner, then the next
        distinct servers clockwise. Fewer than ``count`` when the ring is smaller."""
        if count < 0:
            raise ValueError(f"count must be non-negative, not {count}")
        wanted = min(count, len(self.servers))
        result: list[str] = []
        slot = self._slot(key)
        n = len(self._owners)
        for step in range(n):
            if len(result) == wanted:
                break
            server = self._owners[(slot + step) % n]
            if server not in result:
                result.append(server)
        return result

    def _memoized(self, key: str | tuple[int, int], placement_key: bytes) -> str:
        if len(self._memo) >= _MEMO_SIZE:
            self._memo.clear()  # cheaper than LRU bookkeeping on every hit
        server = self._memo[key] = self.lookup(placement_key)
        return server

    def server_for_path(self, path: str) -> str:
        """The metadata server of a normalised path."""
        server = self._memo.get(path)
        return server if server is not None else self._memoized(path, path_key(path))

    def server_for_chunk(self, ino: int, chunk_index: int) -> str:
        """The data server of chunk ``chunk_index`` of inode ``ino``."""
        key = (ino, chunk_index)
        server = self._memo.get(key)
        return server if server is not None else self._memoized(key, chunk_key(ino, chunk_index))
