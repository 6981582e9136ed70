"""Attributes: stat, access, chmod, chown, utime, truncate, statvfs."""

from __future__ import annotations

import errno
import math
import operator
import os
import stat
import sys
from typing import Any

from benchfs.client.core import ClientCore, fd_number
from benchfs.client.permissions import EXECUTE, READ, WRITE, Credentials, permitted
from benchfs.core.errors import os_error
from benchfs.core.records import Inode
from benchfs.core.wire import Op

NAME_MAX = 255


def _seconds_to_ns(value: object) -> int:
    """Like CPython's utime: ints are exact, floats round toward minus infinity."""
    if isinstance(value, int):
        return value * 1_000_000_000
    if isinstance(value, float):
        fraction, whole = math.modf(value)
        nanoseconds = math.floor(fraction * 1e9)
        return int(whole) * 1_000_000_000 + nanoseconds
    raise TypeError(f"'{type(value).__name__}' object cannot be interpreted as an integer")


def _exact_ns(value: object) -> int:
    """An ns time as CPython's utime takes it: divmod by 10**9, then both parts must
    be integers (so its errors for floats and strings are os's)."""
    parts = divmod(value, 1_000_000_000)  # type: ignore[operator]
    if type(parts) is not tuple or len(parts) != 2:
        raise TypeError(f"{type(value).__name__}.__divmod__() must return a 2-tuple, "
                        f"not {type(parts).__name__}")
    seconds, nanoseconds = parts
    return operator.index(seconds) * 1_000_000_000 + operator.index(nanoseconds)


class Attributes(ClientCore):
    def stat(self, path: Any, *, dir_fd: int | None = None,
             follow_symlinks: bool = True) -> os.stat_result:
        if isinstance(path, int) and not isinstance(path, bool):
            with self._lock:
                return self._stat_result(self._ns.getattr(self._path_fd(path).ino))
        with self._lock:
            _, resolved = self._resolve(path, "stat", follow=follow_symlinks, dir_fd=dir_fd,
                                        allow_fd=True)
            return self._stat_result(self._existing(resolved))

    def lstat(self, path: Any, *, dir_fd: int | None = None) -> os.stat_result:
        with self._lock:
            _, resolved = self._resolve(path, "lstat", follow=False, dir_fd=dir_fd)
            return self._stat_result(self._existing(resolved))

    def fstat(self, fd: int) -> os.stat_result:
        with self._lock:
            return self._stat_result(self._ns.getattr(self._open_file(fd).ino))

    def stat_inodes(self, inos: list[int]) -> list[os.stat_result | None]:
        """stat of several inodes by number, in one pipelined round (None: gone);
        for listings that hand out attributes (a FUSE readdirplus)."""
        with self._lock:
            return [None if inode is None else self._stat_result(inode)
                    for inode in self._ns.getattrs(inos)]

    def access(self, path: Any, mode: int, *, dir_fd: int | None = None,
               effective_ids: bool = False, follow_symlinks: bool = True) -> bool:
        mode = operator.index(mode)
        creds = Credentials.effective() if effective_ids else Credentials.real()
        with self._lock:
            try:
                _, resolved = self._resolve(path, "access", follow=follow_symlinks,
                                            dir_fd=dir_fd)
            except OSError:
                return False
        inode = self._existing(resolved)
        want = mode & (READ | WRITE | EXECUTE)
        return not want or not self._ns.enforce_permissions or permitted(inode, creds, want)

    def _target(self, path: Any, func: str, follow: bool, dir_fd: int | None) -> Inode:
        """The inode a path-or-fd argument names, for the attribute setters."""
        if isinstance(path, int) and not isinstance(path, bool):
            return self._ns.getattr(self._path_fd(path).ino)
        _, resolved = self._resolve(path, func, follow=follow, dir_fd=dir_fd, allow_fd=True)
        return self._existing(resolved)

    def _setattr(self, inode: Inode, changes: dict[str, int | None]) -> None:
        self._rpc.call(self._ns.rank_of_inode(inode.ino), Op.SETATTR, inode.ino, changes)

    def chmod(self, path: Any, mode: int, *, dir_fd: int | None = None,
              follow_symlinks: bool = True) -> None:
        mode = operator.index(mode)
        with self._lock:
            inode = self._target(path, "chmod", follow_symlinks, dir_fd)
            if stat.S_ISLNK(inode.mode):  # only with follow_symlinks=False
                # Linux has no lchmod: glibc's fchmodat refuses symlinks, CPython says this.
                raise NotImplementedError("chmod: follow_symlinks unavailable on this platform")
            creds = self._creds()
            if not self._is_owner(inode, creds):
                raise os_error(errno.EPERM, path)
            if (not creds.is_root and self._ns.enforce_permissions
                    and not stat.S_ISDIR(inode.mode) and not creds.in_group(inode.gid)):
                mode &= ~stat.S_ISGID  # Linux drops setgid the caller could not grant
            self._setattr(inode, {"mode": mode & 0o7777})
            self._ns.forget_ino(inode.ino)

    def fchmod(self, fd: int, mode: int) -> None:
        self._open_file(fd)  # EBADF names no file here, unlike chmod(fd)
        self.chmod(fd_number(fd), mode)

    def chown(self, path: Any, uid: int, gid: int, *, dir_fd: int | None = None,
              follow_symlinks: bool = True) -> None:
        uid, gid = operator.index(uid), operator.index(gid)
        with self._lock:
            inode = self._target(path, "chown", follow_symlinks, dir_fd)
            creds = self._creds()
            if self._ns.enforce_permissions and not creds.is_root:
                # Linux checks only what is asked: anyone may chown(f, -1, -1); a uid
                # or gid given needs the owner (keeping the uid, or a group of theirs).
                owner = creds.uid == inode.uid
                if uid != -1 and not (owner and uid == inode.uid):
                    raise os_error(errno.EPERM, path)
                if gid != -1 and not (owner and (gid == inode.gid or creds.in_group(gid))):
                    raise os_error(errno.EPERM, path)
            changes: dict[str, int | None] = {}
            if uid != -1:
                changes["uid"] = uid
            if gid != -1:
                changes["gid"] = gid
            if stat.S_ISREG(inode.mode):
                # A new owner must not inherit the old one's set-id powers; Linux
                # drops them on every chown of a file, even chown(f, -1, -1).
                kill = stat.S_ISUID | (stat.S_ISGID if inode.mode & stat.S_IXGRP else 0)
                if inode.mode & kill:
                    if (self._ns.enforce_permissions and not creds.is_root
                            and creds.uid != inode.uid):
                        raise os_error(errno.EPERM, path)  # only the owner changes modes
                    changes["mode"] = stat.S_IMODE(inode.mode) & ~kill
            self._setattr(inode, changes)
            self._ns.forget_ino(inode.ino)

    def lchown(self, path: Any, uid: int, gid: int) -> None:
        self.chown(path, uid, gid, follow_symlinks=False)

    def fchown(self, fd: int, uid: int, gid: int) -> None:
        self._open_file(fd)  # EBADF names no file here, unlike chown(fd)
        self.chown(fd_number(fd), uid, gid)

    def utime(self, path: Any, times: Any = None, *, ns: Any = None,
              dir_fd: int | None = None, follow_symlinks: bool = True) -> None:
        if times is not None and ns is not None:
            raise ValueError("utime: you may specify either 'times' or 'ns' but not both")
        if times is not None:
            if not isinstance(times, tuple) or len(times) != 2:
                raise TypeError("utime: 'times' must be either a tuple of two ints or None")
            atime, mtime = (_seconds_to_ns(t) for t in times)
        elif ns is not None:
            if not isinstance(ns, tuple) or len(ns) != 2:
                raise TypeError("utime: 'ns' must be a tuple of two ints")
            atime, mtime = (_exact_ns(n) for n in ns)
        with self._lock:
            try:
                inode = self._target(path, "utime", follow_symlinks, dir_fd)
            except OSError as exc:
                if sys.version_info >= (3, 13):
                    raise
                # Before 3.13, CPython's utime named no file in its errors.
                raise os_error(exc.errno or errno.EIO) from None
            creds = self._creds()
            if times is None and ns is None:
                if not self._is_owner(inode, creds):
                    self._require(inode, WRITE, path, creds)
                self._setattr(inode, {"atime_ns": None, "mtime_ns": None})
            else:
                if not self._is_owner(inode, creds):
                    raise os_error(errno.EPERM, path)
                self._setattr(inode, {"atime_ns": atime, "mtime_ns": mtime})

    def truncate(self, path: Any, length: int) -> None:
        length = operator.index(length)
        if isinstance(path, int) and not isinstance(path, bool):
            self.ftruncate(path, length)
            return
        with self._lock:
            _, resolved = self._resolve(path, "truncate", allow_fd=True)
            inode = self._existing(resolved)
            if stat.S_ISDIR(inode.mode):
                raise os_error(errno.EISDIR, path)
            self._require(inode, WRITE, path)
            if length < 0:
                raise os_error(errno.EINVAL, path)
            self._truncate_ino(inode.ino, length)

    def ftruncate(self, fd: int, length: int) -> None:
        length = operator.index(length)
        with self._lock:
            open_file = self._open_file(fd)
            if not open_file.writable or not stat.S_ISREG(open_file.file_type) or length < 0:
                raise os_error(errno.EINVAL)
            self._truncate_ino(open_file.ino, length)

    def statvfs(self, path: Any) -> os.statvfs_result:
        with self._lock:
            if isinstance(path, int) and not isinstance(path, bool):
                self._path_fd(path)
            else:
                self._resolve(path, "statvfs", allow_fd=True)
            stats = self._rpc.call_all(self._ns.all_ranks, Op.STATFS)
        block = stats[0][1]  # every figure is counted in the first server's f_frsize

        def total(index: int) -> int:
            return sum(s[index] * s[1] // block for s in stats)

        return os.statvfs_result((
            self.chunk_size, block, total(2), total(3), total(4),
            sum(s[5] for s in stats), sum(s[6] for s in stats), sum(s[7] for s in stats),
            0, NAME_MAX, self.st_dev,  # f_fsid: the cluster's, as st_dev is
        ))
