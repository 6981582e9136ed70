"""benchfs: an ad hoc distributed file system for HPC jobs, used like the os module.

    import benchfs as os
    fd = os.open("/results/run1.dat", os.O_CREAT | os.O_WRONLY)

Names of ``os`` that do not touch the file system (constants, ``fspath``,
``environ``, ``strerror`` …) are available here with the host's values. File
system functions of ``os`` that benchfs does not implement raise
NotImplementedError instead of silently touching the local disk.
"""

from __future__ import annotations

import os as _os
from typing import Any

from loguru import logger as _logger

from benchfs._api import (
    close,
    connect,
    default_client,
    disconnect,
    fstat,
    fsync,
    listdir,
    lseek,
    mkdir,
    open,
    pread,
    pwrite,
    read,
    remove,
    rmdir,
    stat,
    unlink,
    write,
)
from benchfs.client.client import Client
from benchfs.settings import ClientSettings

# A library stays quiet unless its application turns logging on (loguru's advice).
_logger.disable("benchfs")

__all__ = [
    "Client", "ClientSettings", "close", "connect", "default_client", "disconnect", "fstat",
    "fsync", "listdir", "lseek", "mkdir", "open", "pread", "pwrite", "read", "remove", "rmdir",
    "stat", "unlink", "write",
]

# os functions that reach the file system. Anything in here that benchfs does
# not define must fail loudly rather than fall through to the host's os.
_FILE_SYSTEM_NAMES = frozenset(
    {f.__name__ for f in _os.supports_fd | _os.supports_dir_fd | _os.supports_follow_symlinks}
    | {
        "access", "chdir", "chmod", "chown", "chroot", "close", "closerange", "copy_file_range",
        "dup", "dup2", "fchdir", "fchmod", "fchown", "fdatasync", "fdopen", "fstat", "fstatvfs",
        "fsync", "ftruncate", "fwalk", "getcwd", "getcwdb", "getxattr", "lchmod", "lchown",
        "link", "listdir", "listxattr", "lockf", "lseek", "lstat", "makedirs", "mkdir",
        "mkfifo", "mknod", "open", "pathconf", "posix_fadvise", "posix_fallocate", "pread",
        "preadv", "pwrite", "pwritev", "read", "readlink", "readv", "remove", "removedirs",
        "removexattr", "rename", "renames", "replace", "rmdir", "scandir", "sendfile",
        "setxattr", "splice", "stat", "statvfs", "symlink", "sync", "truncate", "unlink",
        "utime", "walk", "write", "writev",
    }
)


def _not_implemented(name: str) -> Any:
    def unsupported(*_args: object, **_kwargs: object) -> Any:
        raise NotImplementedError(f"benchfs does not implement os.{name} yet")

    unsupported.__name__ = name
    return unsupported


def __getattr__(name: str) -> Any:
    if name in _FILE_SYSTEM_NAMES:
        return _not_implemented(name)
    try:
        return getattr(_os, name)
    except AttributeError:
        raise AttributeError(f"module 'benchfs' has no attribute {name!r}") from None
