"""What cannot be routed fails loudly: file locks on benchfs descriptors, and a bypass
detector that stops real I/O under a prefix before it reaches the local disk.

``sys.addaudithook`` cannot redirect a call, but a hook that raises aborts it: an
``open`` of a path under a prefix that escaped routing (C code calling ``_io.FileIO``,
a reference interposition did not find), ``sqlite3.connect`` (SQLite opens its files in
C) and ``mmap`` of a benchfs descriptor raise a clear OSError instead, and are recorded
in ``ESCAPES``. An audit hook cannot be removed: it stays installed, idle while no
prefix is interposed.
"""

from __future__ import annotations

import errno
import fcntl
import os
import sys
from typing import Any

from benchfs.interpose import router
from benchfs.interpose.oscalls import (
    is_absolute,
    like_builtin,
    plainly_outside,
    refused_on_benchfs,
)

# (event, argument) of every refused escape, for whoever wants to count them.
ESCAPES: list[tuple[str, Any]] = []
_installed = False

# Audit events of real I/O that name a path (and where among the event's arguments).
_PATH_EVENTS = {
    "open": 0, "sqlite3.connect": 0, "os.listdir": 0, "os.scandir": 0, "os.mkdir": 0,
    "os.remove": 0, "os.rmdir": 0, "os.rename": 0, "os.link": 0, "os.symlink": 1,
    "os.truncate": 0, "os.utime": 0, "os.chmod": 0, "os.chown": 0, "os.chdir": 0,
    "os.mkfifo": 0, "os.mknod": 0, "os.chflags": 0, "os.setxattr": 0, "os.removexattr": 0,
    "os.listxattr": 0, "os.getxattr": 0,
}
_FD_EVENTS = frozenset({"mmap.__new__"})
_WATCHED = frozenset(_PATH_EVENTS) | _FD_EVENTS
_SQLITE_IN_MEMORY = frozenset({":memory:", ""})


def _escaped(event: str, argument: Any, err: int, what: str) -> OSError:
    ESCAPES.append((event, argument))
    return OSError(err, f"benchfs interposition: {event} {what}; it is not routed "
                        "(docs/interpose.md)", argument if not isinstance(argument, int)
                   else None)


def _audit(event: str, args: tuple[Any, ...]) -> None:
    if event not in _WATCHED or not router._state.mounts:
        return
    if event in _FD_EVENTS:
        fd = args[0]
        if type(fd) is int and router.owner_of_fd(fd) is not None:
            raise _escaped(event, fd, errno.ENODEV, "cannot map a benchfs file into memory")
        return
    path = args[_PATH_EVENTS[event]]
    if event == "sqlite3.connect":
        path = _sqlite_file(path)
        if path is None:
            return
    if type(path) is str and plainly_outside(path):
        return  # the common case, settled without normalising
    if isinstance(path, int) and not isinstance(path, bool):
        if router.owner_of_fd(path) is not None:
            raise _escaped(event, path, errno.EBADF, "of a benchfs descriptor by the kernel")
        return
    if event != "sqlite3.connect" and not is_absolute(path):
        return  # relative to a dir_fd, or to the real cwd, as the router judged
    hit = router.route(path)
    if hit is not None and hit[0] is not None:
        raise _escaped(event, path, errno.EXDEV, "would reach the local disk under "
                       f"{hit[0].prefix}")


def _sqlite_file(database: Any) -> Any:
    """The file a sqlite3 database argument names (a path, or a file: URI), if any.
    (Python 3.10 reports it encoded, as bytes.)"""
    if isinstance(database, bytes):
        database = os.fsdecode(database)
    if isinstance(database, str) and database in _SQLITE_IN_MEMORY:
        return None
    if isinstance(database, str) and database.startswith("file:"):
        path = database[5:].split("?", 1)[0]
        if path.startswith("//"):
            path = "/" + path[2:].split("/", 1)[-1]  # file://host/path
        return path or None
    return database


def install_audit_hook() -> None:
    global _installed
    if not _installed:
        sys.addaudithook(_audit)
        _installed = True


def fcntl_function(real: Any) -> Any:
    """fcntl.fcntl: close-on-exec flags work on a benchfs descriptor (they are the kernel
    descriptor's own); locks and everything else are refused with a clear OSError."""
    locks = {getattr(fcntl, name) for name in (
        "F_GETLK", "F_SETLK", "F_SETLKW", "F_OFD_GETLK", "F_OFD_SETLK", "F_OFD_SETLKW")
        if hasattr(fcntl, name)}
    refuse_lock = refused_on_benchfs(real, "fcntl.fcntl", errno.ENOLCK)
    refuse_other = refused_on_benchfs(real, "fcntl.fcntl")

    def wrapper(fd: Any, cmd: int, arg: Any = 0, /) -> Any:
        if cmd in (fcntl.F_GETFD, fcntl.F_SETFD):
            return real(fd, cmd, arg)
        return (refuse_lock if cmd in locks else refuse_other)(fd, cmd, arg)

    return like_builtin(wrapper, real)


def replacements() -> tuple[tuple[Any, str, Any], ...]:
    return (
        (fcntl, "flock", refused_on_benchfs(fcntl.flock, "fcntl.flock", errno.ENOLCK)),
        (fcntl, "lockf", refused_on_benchfs(fcntl.lockf, "fcntl.lockf", errno.ENOLCK)),
        (fcntl, "fcntl", fcntl_function(fcntl.fcntl)),
        (fcntl, "ioctl", refused_on_benchfs(fcntl.ioctl, "fcntl.ioctl", errno.ENOTTY)),
    )

