"""Which partition a path or a chunk belongs to (DESIGN.md D5, D12).

A path's directory entry and chunk ``k`` of inode ``ino`` each hash to one of the
table's partitions; the view's partition table (``benchfs.core.partitions``) says
which server holds it. A key's partition never changes: only the table does, when
servers join or leave, so callers may remember partitions across views.

The hash is blake2b, not Python's ``hash()``: placement must agree across processes
and runs (``hash()`` of str is salted per process), and a strong hash avoids the
collisions of the original's additive hash.
"""

from __future__ import annotations

import hashlib
import struct

from benchfs.core.partitions import PARTITION_BITS, partition_of_hash

_CHUNK_KEY = struct.Struct("<QQ")
_MEMO_SIZE = 1 << 16


def key_hash(key: bytes) -> int:
    """The 64-bit hash of a placement key."""
    return int.from_bytes(hashlib.blake2b(key, digest_size=8).digest(), "little")


def path_key(path: str) -> bytes:
    """The placement key of a normalised path."""
    # surrogateescape keeps non-UTF-8 names (decoded by os.fsdecode) hashable.
    return b"p:" + path.encode("utf-8", "surrogateescape")


def chunk_key(ino: int, chunk_index: int) -> bytes:
    """The placement key of chunk ``chunk_index`` of inode ``ino``."""
    return b"c:" + _CHUNK_KEY.pack(ino, chunk_index)


class PartitionMemo:
    """The partitions of recent paths and chunks: every request asks, and the same
    names come back again and again (a directory, a file's chunks)."""

    __slots__ = ("bits", "_memo")

    def __init__(self, bits: int = PARTITION_BITS) -> None:
        self.bits = bits
        self._memo: dict[str | tuple[int, int], int] = {}

    def _remember(self, key: str | tuple[int, int], placement_key: bytes) -> int:
        if len(self._memo) >= _MEMO_SIZE:
            self._memo.clear()  # cheaper than LRU bookkeeping on every hit
        partition = self._memo[key] = partition_of_hash(key_hash(placement_key), self.bits)
        return partition

    def of_path(self, path: str) -> int:
        """The partition of a normalised path's directory entry."""
        partition = self._memo.get(path)
        return partition if partition is not None else self._remember(path, path_key(path))

    def of_chunk(self, ino: int, chunk_index: int) -> int:
        """The partition of chunk ``chunk_index`` of inode ``ino``."""
        key = (ino, chunk_index)
        partition = self._memo.get(key)
        if partition is not None:
            return partition
        return self._remember(key, chunk_key(ino, chunk_index))
