"""benchfs: an ad hoc distributed file system for HPC jobs, used like the os module.

    import benchfs as os
    fd = os.open("/results/run1.dat", os.O_CREAT | os.O_WRONLY)
    os.path.exists("/results/run1.dat")

Names of ``os`` that do not touch the file system (constants, ``fspath``,
``environ``, ``strerror``, ``getpid`` …) are available here with the host's
values. File system functions of ``os`` that benchfs does not implement raise
NotImplementedError instead of silently touching the local disk
(docs/linux-behaviour.md lists them with the reasons).
"""

from __future__ import annotations

import os as _os
from collections.abc import Callable
from typing import Any

from loguru import logger as _logger

from benchfs import path
from benchfs._api import (
    access,
    chdir,
    chmod,
    chown,
    close,
    closerange,
    connect,
    default_client,
    disconnect,
    dup,
    fchdir,
    fchmod,
    fchown,
    fdatasync,
    fdopen,
    fstat,
    fstatvfs,
    fsync,
    ftruncate,
    fwalk,
    getcwd,
    getcwdb,
    getxattr,
    lchown,
    link,
    listdir,
    listxattr,
    lseek,
    lstat,
    makedirs,
    mkdir,
    open,
    open_file,
    posix_fadvise,
    posix_fallocate,
    pread,
    preadv,
    pwrite,
    pwritev,
    read,
    readlink,
    readv,
    remove,
    removedirs,
    removexattr,
    rename,
    renames,
    replace,
    rmdir,
    scandir,
    setxattr,
    stat,
    statvfs,
    symlink,
    sync,
    truncate,
    unlink,
    utime,
    walk,
    write,
    writev,
)
from benchfs.client.client import Client
from benchfs.client.walking import DirEntry
from benchfs.interpose import Interposition, interpose
from benchfs.settings import ClientSettings

# A library stays quiet unless its application turns logging on (loguru's advice).
_logger.disable("benchfs")

__all__ = [
    "Client", "ClientSettings", "DirEntry", "Interposition", "access", "chdir", "chmod", "chown",
    "close", "closerange", "connect", "default_client", "disconnect", "dup", "fchdir", "fchmod",
    "fchown", "fdatasync", "fdopen", "fstat", "fstatvfs", "fsync", "ftruncate", "fwalk", "getcwd",
    "getcwdb", "getxattr", "interpose", "lchown", "link", "listdir", "listxattr", "lseek", "lstat",
    "makedirs", "mkdir", "open", "open_file", "path", "posix_fadvise", "posix_fallocate", "pread",
    "preadv", "pwrite", "pwritev", "read", "readlink", "readv", "remove", "removedirs",
    "removexattr", "rename", "renames", "replace", "rmdir", "scandir", "setxattr", "stat",
    "statvfs", "supports_dir_fd", "supports_effective_ids", "supports_fd",
    "supports_follow_symlinks", "symlink", "sync", "truncate", "unlink", "utime", "walk", "write",
    "writev",
]


def _ours(os_functions: set[Callable[..., Any]]) -> set[Callable[..., Any]]:
    """benchfs's functions of the same names, for those benchfs implements."""
    here = globals()
    return {here[f.__name__] for f in os_functions if f.__name__ in __all__}


# Which benchfs functions take dir_fd, an fd for a path, follow_symlinks, effective_ids
# (os's sets, restricted to what benchfs implements; docs/linux-behaviour.md).
supports_dir_fd = _ours(_os.supports_dir_fd)
supports_fd = _ours(_os.supports_fd)
supports_follow_symlinks = _ours(_os.supports_follow_symlinks)
supports_effective_ids = _ours(_os.supports_effective_ids)

# os functions that reach the file system but that benchfs does not provide, and why.
# Each raises NotImplementedError (where the host's os has the name at all).
UNSUPPORTED: dict[str, str] = {
    "chroot": "changes the kernel's root directory of the process; benchfs has none",
    "mkfifo": "no special files: a FIFO is a kernel object local to one node",
    "mknod": "no special files: device nodes and FIFOs are kernel objects",
    "lockf": "no byte-range locks",
    "dup2": "a benchfs descriptor cannot be placed at a number the caller picks",
    "sendfile": "copies between kernel descriptors inside the kernel",
    "copy_file_range": "copies between kernel descriptors inside the kernel",
    "splice": "moves data between kernel descriptors inside the kernel",
    "pathconf": "not yet",
    "fpathconf": "not yet",
    "readinto": "not yet",
}

# Anything of os that takes a descriptor for a path, a dir_fd or follow_symlinks reaches
# the file system: if benchfs lacks it, it must fail rather than fall through to the
# host. (execve is a process function: it runs a host program, as os.system does.)
_PROCESS_FUNCTIONS = frozenset({"execve"})
_FILE_SYSTEM_NAMES = frozenset(
    {f.__name__ for f in _os.supports_fd | _os.supports_dir_fd | _os.supports_follow_symlinks}
    - _PROCESS_FUNCTIONS
) | frozenset(UNSUPPORTED)


def _not_implemented(name: str) -> Callable[..., Any]:
    reason = UNSUPPORTED.get(name, "not implemented")

    def unsupported(*_args: object, **_kwargs: object) -> Any:
        raise NotImplementedError(f"benchfs does not implement os.{name}: {reason}")

    unsupported.__name__ = unsupported.__qualname__ = name
    return unsupported


def __getattr__(name: str) -> Any:
    if name in _FILE_SYSTEM_NAMES and hasattr(_os, name):
        return _not_implemented(name)
    try:
        return getattr(_os, name)
    except AttributeError:
        raise AttributeError(f"module 'benchfs' has no attribute {name!r}") from None


def __dir__() -> list[str]:
    return sorted(set(globals()) | {n for n in dir(_os) if not n.startswith("__")})
