"""The inode record shared by server and client, and the inode numbering scheme.

Inode numbers say where their attributes live (DESIGN.md D5): the top 16 bits of the
64-bit number hold the index (rank) of the server that allocated it, the low 48 bits
that server's counter. A client can then fetch attributes by number with no lookup.

Convention for the root directory: ``ROOT_INO = new_inode_number(0, 1) == 1``. The
root is the one exception to "the owner is in the number": its attributes live with
its path record on ``PlacementRing.server_for_path("/")``, so callers special-case
``ROOT_INO`` before using ``inode_owner``. Servers start their counters at
``FIRST_COUNTER`` (2) so that no allocated number collides with the root's.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass

from benchfs.core.wire import MalformedFrame

SERVER_INDEX_BITS = 16
COUNTER_BITS = 48
MAX_SERVERS = 1 << SERVER_INDEX_BITS
MAX_COUNTER = (1 << COUNTER_BITS) - 1
ROOT_INO = 1
# Files up to this size keep their data in the inode record (DESIGN.md D8): creating
# one costs no chunk file, and reading one costs no extra round trip.
INLINE_MAX = 4096
FIRST_COUNTER = 2

_NS_PER_S = 1_000_000_000
_BLOCK = 512  # st_blocks is counted in 512-byte units whatever the block size


def new_inode_number(server_index: int, counter: int) -> int:
    """The inode number of allocation ``counter`` on server ``server_index``."""
    if not 0 <= server_index < MAX_SERVERS:
        raise ValueError(f"server index {server_index} out of range 0..{MAX_SERVERS - 1}")
    if not 1 <= counter <= MAX_COUNTER:
        # Counter 0 would make inode 0 on server 0, which POSIX tools treat as "no inode".
        raise ValueError(f"inode counter {counter} out of range 1..{MAX_COUNTER}")
    return (server_index << COUNTER_BITS) | counter


def inode_owner(ino: int) -> int:
    """The index of the server that allocated ``ino`` (see the module note on the root)."""
    if not 0 <= ino < 1 << (SERVER_INDEX_BITS + COUNTER_BITS):
        raise ValueError(f"inode number {ino} is not a 64-bit unsigned value")
    return ino >> COUNTER_BITS


@dataclass(slots=True)
class Inode:
    """The attributes of one file, directory or symlink."""

    ino: int
    mode: int  # full st_mode, file type bits included
    uid: int
    gid: int
    size: int
    nlink: int
    atime_ns: int
    mtime_ns: int
    ctime_ns: int
    target: str | None = None  # symlink target; a device node's number, in decimal
    inline: bytes | None = None  # small-file contents kept in the record (D8)

    def to_wire(self) -> list[object]:
        return [
            self.ino, self.mode, self.uid, self.gid, self.size, self.nlink,
            self.atime_ns, self.mtime_ns, self.ctime_ns, self.target, self.inline,
        ]

    @classmethod
    def from_wire(cls, v: object) -> Inode:
        """Rebuild an inode from ``to_wire`` output; MalformedFrame on any other shape."""
        if type(v) is not list and type(v) is not tuple or len(v) != 11:  # noqa: E721
            raise MalformedFrame(f"inode record must be an 11-item array, not {v!r:.80}")
        ino, mode, uid, gid, size, nlink, atime_ns, mtime_ns, ctime_ns, target, inline = v
        # Exact type checks: bool is an int subclass, but True is never a valid
        # inode, size or time (and this runs for every reply that carries attributes).
        if not (type(ino) is int and type(mode) is int and type(uid) is int  # noqa: E721
                and type(gid) is int and type(size) is int and type(nlink) is int
                and type(atime_ns) is int and type(mtime_ns) is int
                and type(ctime_ns) is int):
            raise MalformedFrame(f"inode record has a non-integer attribute: {v!r:.80}")
        # Times may be before 1970; everything else is unsigned.
        if min(ino, mode, uid, gid, size, nlink) < 0:
            raise MalformedFrame(f"inode record has a negative attribute: {v!r:.80}")
        if target is not None and type(target) is not str:  # noqa: E721
            raise MalformedFrame("inode target must be str or nil")
        if inline is not None and type(inline) is not bytes:  # noqa: E721
            raise MalformedFrame("inode inline data must be bin or nil")
        return cls(ino, mode, uid, gid, size, nlink, atime_ns, mtime_ns, ctime_ns, target, inline)

    def to_stat_result(self, dev: int, blksize: int) -> os.stat_result:
        """The ``os.stat_result`` ``os.stat`` would return for this inode."""
        if stat.S_ISLNK(self.mode):
            blocks = 0  # the target lives in the record, like an ext4 fast symlink
        else:
            blocks = -(-self.size // _BLOCK)
        a_s, a_ns = divmod(self.atime_ns, _NS_PER_S)
        m_s, m_ns = divmod(self.mtime_ns, _NS_PER_S)
        c_s, c_ns = divmod(self.ctime_ns, _NS_PER_S)
        is_device = stat.S_ISCHR(self.mode) or stat.S_ISBLK(self.mode)
        rdev = int(self.target) if is_device and self.target else 0
        # The float times are computed as CPython's fill_time does (sec + nsec * 1e-9),
        # so they compare equal to what os.stat gives for the same timestamps.
        return os.stat_result(
            (
                self.mode, self.ino, dev, self.nlink, self.uid, self.gid, self.size,
                a_s, m_s, c_s,
                a_s + a_ns * 1e-9, m_s + m_ns * 1e-9, c_s + c_ns * 1e-9,
                self.atime_ns, self.mtime_ns, self.ctime_ns,
                blksize, blocks, rdev,
            )
        )
