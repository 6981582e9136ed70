"""The os functions benchfs composes from its primitives: posix_fallocate, preadv,
pwritev, fstatvfs, closerange, sync, and the extended-attribute calls (answered
as Linux answers on a file system without xattr support).
"""

from __future__ import annotations

import errno
import operator
import os
import stat
from collections.abc import Sequence
from typing import Any, NoReturn

from benchfs.client.fileio import byte_view
from benchfs.client.walking import Walking
from benchfs.core.errors import os_error

# preadv/pwritev flags (os.RWF_*) and what benchfs does with them.
_RWF_HIPRI, _RWF_DSYNC, _RWF_SYNC, _RWF_NOWAIT, _RWF_APPEND = 0x1, 0x2, 0x4, 0x8, 0x10
_RWF_KNOWN = _RWF_HIPRI | _RWF_DSYNC | _RWF_SYNC | _RWF_NOWAIT | _RWF_APPEND


class Composed(Walking):
    def owns_fd(self, fd: int) -> bool:
        """Whether ``fd`` is a descriptor this client opened (and has not closed)."""
        return self._fds.holds(fd)

    def fstatvfs(self, fd: int, /) -> os.statvfs_result:
        return self.statvfs(operator.index(fd))

    def posix_fallocate(self, fd: int, offset: int, length: int, /) -> None:
        """Grows the file to ``offset + length`` like Linux's posix_fallocate, without
        reserving space: a later write into the range may still fail with ENOSPC."""
        offset, length = operator.index(offset), operator.index(length)
        with self._lock:
            open_file = self._fds.get(operator.index(fd))
            if not open_file.writable:
                raise os_error(errno.EBADF)
            if offset < 0 or length <= 0:
                raise os_error(errno.EINVAL)
            if stat.S_ISDIR(open_file.file_type):
                raise os_error(errno.EISDIR)
            if not stat.S_ISREG(open_file.file_type):
                raise os_error(errno.ENODEV)
            if offset + length > self._file_size(open_file):
                self._truncate_ino(open_file.ino, offset + length)

    def posix_fadvise(self, fd: int, offset: int, length: int, advice: int, /) -> None:
        """Advice is a hint: checked as Linux checks it, then ignored."""
        offset, length, advice = map(operator.index, (offset, length, advice))
        self._fds.get(operator.index(fd))
        if length < 0 or not 0 <= advice <= 5:  # POSIX_FADV_NORMAL .. POSIX_FADV_NOREUSE
            raise os_error(errno.EINVAL)

    @staticmethod
    def _check_rw_flags(flags: int, writing: bool) -> None:
        if flags & ~_RWF_KNOWN or (writing and flags & _RWF_NOWAIT):
            raise os_error(errno.EOPNOTSUPP)  # what ext4 answers for these

    def preadv(self, fd: int, buffers: Sequence[Any], offset: int, flags: int = 0, /) -> int:
        self._check_rw_flags(operator.index(flags), writing=False)
        views = [memoryview(buffer).cast("B") for buffer in buffers]
        data = self.pread(fd, sum(len(view) for view in views), offset)
        done = 0
        for view in views:
            piece = data[done:done + len(view)]
            view[:len(piece)] = piece
            done += len(piece)
        return done

    def pwritev(self, fd: int, buffers: Sequence[Any], offset: int, flags: int = 0, /) -> int:
        flags = operator.index(flags)
        self._check_rw_flags(flags, writing=True)
        data = b"".join(byte_view(buffer) for buffer in buffers)
        with self._lock:
            if flags & _RWF_APPEND:
                offset = self.fstat(fd).st_size
            written = self.pwrite(fd, data, offset)
            if flags & (_RWF_DSYNC | _RWF_SYNC):
                self._sync(self._open_file(fd), datasync=not flags & _RWF_SYNC)
        return written

    def closerange(self, fd_low: int, fd_high: int, /) -> None:
        """Close the benchfs descriptors in [fd_low, fd_high); other numbers are
        left alone (they are not ours), and errors are ignored, as os does."""
        low, high = operator.index(fd_low), operator.index(fd_high)
        with self._lock:
            for fd in self._fds:
                if low <= fd < high:
                    self._close_locked(fd)

    def sync(self) -> None:
        """Flush every descriptor this client has open to the servers' disks."""
        with self._lock:
            for fd in self._fds:
                self._sync(self._fds.get(fd), datasync=False)

    # -- extended attributes: not supported ---------------------------------------------
    # Linux's answers on a file system without xattr handlers: no names to list,
    # EOPNOTSUPP for the rest (shutil.copystat, for one, skips that errno).

    def _check_xattr_target(self, path: Any, follow_symlinks: bool) -> None:
        if isinstance(path, int) and not isinstance(path, bool):
            self.fstat(path)
        else:
            self.stat(path, follow_symlinks=follow_symlinks)

    def _no_xattrs(self, path: Any, follow_symlinks: bool) -> NoReturn:
        self._check_xattr_target(path, follow_symlinks)
        raise os_error(errno.EOPNOTSUPP, None if isinstance(path, int) else path)

    def getxattr(self, path: Any, attribute: Any, *, follow_symlinks: bool = True) -> bytes:
        self._no_xattrs(path, follow_symlinks)

    def setxattr(self, path: Any, attribute: Any, value: Any, flags: int = 0, *,
                 follow_symlinks: bool = True) -> None:
        self._no_xattrs(path, follow_symlinks)

    def removexattr(self, path: Any, attribute: Any, *, follow_symlinks: bool = True) -> None:
        self._no_xattrs(path, follow_symlinks)

    def listxattr(self, path: Any = None, *, follow_symlinks: bool = True) -> list[Any]:
        self._check_xattr_target("." if path is None else path, follow_symlinks)
        return []
