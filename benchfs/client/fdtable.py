"""Open files and the descriptor numbers handed to users.

Each benchfs descriptor is backed by a real kernel descriptor that we hold open: an
O_PATH descriptor of /dev/null (as DAOS's interception library reserves its fds). Its
number is therefore unique in the process and can never collide with a kernel fd that
other code opens, and a C library that reads or writes it directly, bypassing Python,
gets EBADF from the kernel: never another file's data, nor a write that vanishes.
"""

from __future__ import annotations

import errno
import fcntl
import os
from collections.abc import Iterator
from dataclasses import dataclass, field

from benchfs.core.errors import os_error

# The kernel's own calls, taken before interposition can wrap os and fcntl (the
# wrappers ask this table who owns a descriptor).
_open, _dup, _close, _fcntl = os.open, os.dup, os.close, fcntl.fcntl


@dataclass(slots=True)
class OpenFile:
    """The state of one open description."""

    path: str
    ino: int
    file_type: int  # S_IFMT bits
    readable: bool
    writable: bool
    append: bool
    size_hint: int  # size as of open, grown by our own writes (close-to-open)
    size_seen_at: float  # time.monotonic() when the server last told the size
    position: int = 0
    dirty_ranks: set[int] = field(default_factory=set)  # servers holding our unsynced writes
    written_end: int = 0  # the end of our furthest write (for the size we publish)
    inline: bytes | None = None  # a small file's data, kept in its inode record (D8)
    sync: bool = False  # O_SYNC/O_DSYNC: every write is made durable before it returns
    orphaned: bool = False  # unlinked while open: the last close frees the data


# Every benchfs descriptor number open in this process, of any client: interposition's
# descriptor functions test a number here (one dict lookup) before anything else.
OPEN_NUMBERS: dict[int, FdTable] = {}


class FdTable:
    def __init__(self) -> None:
        self._files: dict[int, OpenFile] = {}
        # Numbers are dups of one O_PATH descriptor (dups keep O_PATH): cheaper than
        # opening anew.
        self._reserve_from: int | None = None

    def add(self, open_file: OpenFile) -> int:
        if self._reserve_from is None:
            self._reserve_from = _open(os.devnull, os.O_PATH | os.O_CLOEXEC)
        fd = _dup(self._reserve_from)  # close-on-exec, as os.dup makes every descriptor
        self._files[fd] = open_file
        OPEN_NUMBERS[fd] = self
        return fd

    def close(self) -> None:
        """Give back the reserve descriptor, once every open file was removed."""
        if self._reserve_from is not None:
            _close(self._reserve_from)
            self._reserve_from = None

    def dup(self, fd: int) -> int:
        """A new descriptor for the same open file description (shared offset)."""
        return self.add(self.get(fd))

    def get(self, fd: int) -> OpenFile:
        open_file = self._files.get(fd)
        if open_file is None:
            raise os_error(errno.EBADF)
        return open_file

    def remove(self, fd: int) -> OpenFile:
        open_file = self._files.pop(fd, None)
        if open_file is None:
            raise os_error(errno.EBADF)
        OPEN_NUMBERS.pop(fd, None)
        if self._still_held(fd):
            _close(fd)
        return open_file

    @staticmethod
    def _still_held(fd: int) -> bool:
        """Whether kernel descriptor ``fd`` is still our O_PATH one. C code handed a
        benchfs number (numpy's fromfile dups it and fcloses the dup) may close it,
        and the kernel then gives the number to the next file it opens."""
        try:
            return bool(_fcntl(fd, fcntl.F_GETFL) & os.O_PATH)
        except OSError:
            return False

    def holds(self, fd: int) -> bool:
        """Whether ``fd`` is an open benchfs descriptor, checked against the kernel: a
        number closed behind our back is forgotten, never taken for another file."""
        if fd not in self._files:
            return False
        if self._still_held(fd):
            return True
        self._files.pop(fd)
        OPEN_NUMBERS.pop(fd, None)
        return False

    def open_files(self) -> list[OpenFile]:
        return list(self._files.values())

    def __iter__(self) -> Iterator[int]:
        return iter(list(self._files))

    def __contains__(self, fd: int) -> bool:
        return fd in self._files
