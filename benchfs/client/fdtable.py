"""Open files and the descriptor numbers handed to users.

Each benchfs descriptor is backed by a real kernel descriptor that we hold open: an
O_PATH descriptor of /dev/null (as DAOS's interception library reserves its fds). Its
number is therefore unique in the process and can never collide with a kernel fd that
other code opens, and a C library that reads or writes it directly, bypassing Python,
gets EBADF from the kernel: never another file's data, nor a write that vanishes.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Iterator
from dataclasses import dataclass, field

from benchfs.core.errors import os_error


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


class FdTable:
    def __init__(self) -> None:
        self._files: dict[int, OpenFile] = {}
        # Numbers are dups of one O_PATH descriptor (dups keep O_PATH): cheaper than
        # opening anew.
        self._reserve_from: int | None = None

    def add(self, open_file: OpenFile) -> int:
        if self._reserve_from is None:
            self._reserve_from = os.open(os.devnull, os.O_PATH | os.O_CLOEXEC)
        fd = os.dup(self._reserve_from)  # close-on-exec, as os.dup makes every descriptor
        self._files[fd] = open_file
        return fd

    def close(self) -> None:
        """Give back the reserve descriptor, once every open file was removed."""
        if self._reserve_from is not None:
            os.close(self._reserve_from)
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
        os.close(fd)
        return open_file

    def open_files(self) -> list[OpenFile]:
        return list(self._files.values())

    def __iter__(self) -> Iterator[int]:
        return iter(list(self._files))

    def __contains__(self, fd: int) -> bool:
        return fd in self._files
