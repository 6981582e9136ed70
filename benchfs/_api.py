"""Module-level functions: the os-like API over a default client.

The default client connects on first use to the cluster named by
BENCHFS_REGISTRY. A forked child keeps it, with its descriptors and offsets
(benchfs/client/forking.py gives the child an engine of its own).
"""

from __future__ import annotations

import errno
import fcntl
import os
import stat as stat_module
import sys
import threading
import weakref
from collections.abc import Callable, Iterator, Sequence
from typing import Any, Protocol

from benchfs.client.client import Client
from benchfs.client.walking import FwalkResult, ScandirIterator, WalkResult
from benchfs.core.errors import os_error
from benchfs.settings import ClientSettings, registry_from_env

_default: Client | None = None
_default_lock = threading.Lock()
_clients: weakref.WeakSet[Client] = weakref.WeakSet()  # every connect()ed client, for fds
_devnull_rdev: int | None = None


def _renew_lock_after_fork() -> None:
    """The child has only the forking thread: a lock another thread held stays held."""
    global _default_lock
    _default_lock = threading.Lock()


os.register_at_fork(after_in_child=_renew_lock_after_fork)


def connect(registry: str | os.PathLike[str] | None = None,
            settings: ClientSettings | None = None) -> Client:
    """A client of its own for the cluster in ``registry`` (default: BENCHFS_REGISTRY)."""
    from benchfs.tools.backend import install_read_through

    client = Client(registry if registry is not None else registry_from_env(), settings)
    install_read_through(client)  # a cluster caching a backend directory reads it through
    _clients.add(client)
    return client


def default_client() -> Client:
    global _default
    with _default_lock:
        if _default is None:
            _default = connect()
        return _default


def disconnect() -> None:
    """Close the default client; the next call connects again."""
    global _default
    with _default_lock:
        if _default is not None:
            _default.close_client()
            _default = None


class _DescriptorFunctions(Protocol):
    """The descriptor functions both a Client and the os module provide."""

    def close(self, fd: int, /) -> None: ...
    def dup(self, fd: int, /) -> int: ...
    def read(self, fd: int, length: int, /) -> bytes: ...
    def pread(self, fd: int, length: int, offset: int, /) -> bytes: ...
    def readv(self, fd: int, buffers: Sequence[Any], /) -> int: ...
    def preadv(self, fd: int, buffers: Sequence[Any], offset: int, flags: int = 0, /) -> int: ...
    def write(self, fd: int, data: Any, /) -> int: ...
    def pwrite(self, fd: int, buffer: Any, offset: int, /) -> int: ...
    def writev(self, fd: int, buffers: Sequence[Any], /) -> int: ...
    def pwritev(self, fd: int, buffers: Sequence[Any], offset: int, flags: int = 0, /) -> int:
        ...
    def lseek(self, fd: int, position: int, whence: int, /) -> int: ...
    def fstat(self, fd: int, /) -> os.stat_result: ...
    def fstatvfs(self, fd: int, /) -> os.statvfs_result: ...
    def fsync(self, fd: Any, /) -> None: ...
    def fdatasync(self, fd: Any, /) -> None: ...
    def ftruncate(self, fd: int, length: int, /) -> None: ...
    def posix_fallocate(self, fd: int, offset: int, length: int, /) -> None: ...
    def posix_fadvise(self, fd: int, offset: int, length: int, advice: int, /) -> None: ...
    def fchmod(self, fd: int, mode: int, /) -> None: ...
    def fchown(self, fd: int, uid: int, gid: int, /) -> None: ...


def _serving(fd: object) -> _DescriptorFunctions:
    """Who serves a descriptor function: the benchfs client that opened ``fd``, else
    the host's os, so that pipes, sockets and stdout keep working under
    ``import benchfs as os`` (and a wrong type gets os's own TypeError)."""
    number = fd
    if not isinstance(fd, int) and hasattr(fd, "fileno"):
        number = fd.fileno()
    if not isinstance(number, int):
        return os
    for client in _live_clients():
        if client.owns_fd(number):
            return client
    if _is_benchfs_placeholder(number):
        # A benchfs descriptor no live client owns (its client was closed):
        # refuse it rather than act on its /dev/null.
        raise os_error(errno.EBADF)
    return os


def _live_clients() -> list[Client]:
    clients = list(_clients)
    if _default is not None and _default not in clients:
        clients.insert(0, _default)
    return clients


def _is_benchfs_placeholder(fd: int) -> bool:
    """Whether kernel descriptor ``fd`` is an O_PATH descriptor of /dev/null, which
    backs every benchfs fd (benchfs/client/fdtable.py)."""
    global _devnull_rdev
    try:
        result = os.fstat(fd)
        if not fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_PATH:
            return False
    except (OSError, OverflowError):
        return False  # os itself will give the error
    if _devnull_rdev is None:
        _devnull_rdev = os.stat(os.devnull).st_rdev
    return stat_module.S_ISCHR(result.st_mode) and result.st_rdev == _devnull_rdev


# -- The os functions over the default client. Each is one call with os's exact
# signature (positional-only and keyword-only parameters, defaults), so that
# ``import benchfs as os`` accepts the same calls; the logic lives in Client.

# descriptors and data

def open(path: Any, flags: int, mode: int = 0o777, *, dir_fd: int | None = None) -> int:
    return default_client().open(path, flags, mode, dir_fd=dir_fd)


def close(fd: int) -> None:
    _serving(fd).close(fd)


def closerange(fd_low: int, fd_high: int, /) -> None:
    """Closes benchfs descriptors only: kernel ones in the range may be the engine's."""
    for client in _live_clients():
        client.closerange(fd_low, fd_high)


def dup(fd: int, /) -> int:
    return _serving(fd).dup(fd)


def read(fd: int, length: int, /) -> bytes:
    return _serving(fd).read(fd, length)


def pread(fd: int, length: int, offset: int, /) -> bytes:
    return _serving(fd).pread(fd, length, offset)


def readv(fd: int, buffers: Sequence[Any], /) -> int:
    return _serving(fd).readv(fd, buffers)


def preadv(fd: int, buffers: Sequence[Any], offset: int, flags: int = 0, /) -> int:
    return _serving(fd).preadv(fd, buffers, offset, flags)


def write(fd: int, data: Any, /) -> int:
    return _serving(fd).write(fd, data)


def pwrite(fd: int, buffer: Any, offset: int, /) -> int:
    return _serving(fd).pwrite(fd, buffer, offset)


def writev(fd: int, buffers: Sequence[Any], /) -> int:
    return _serving(fd).writev(fd, buffers)


def pwritev(fd: int, buffers: Sequence[Any], offset: int, flags: int = 0, /) -> int:
    return _serving(fd).pwritev(fd, buffers, offset, flags)


def lseek(fd: int, position: int, whence: int, /) -> int:
    return _serving(fd).lseek(fd, position, whence)


def fstat(fd: int) -> os.stat_result:
    return _serving(fd).fstat(fd)


def fstatvfs(fd: int, /) -> os.statvfs_result:
    return _serving(fd).fstatvfs(fd)


def posix_fadvise(fd: int, offset: int, length: int, advice: int, /) -> None:
    _serving(fd).posix_fadvise(fd, offset, length, advice)


def fsync(fd: Any) -> None:
    _serving(fd).fsync(fd)


def fdatasync(fd: Any) -> None:
    _serving(fd).fdatasync(fd)


def sync() -> None:
    for client in _live_clients():
        client.sync()


def ftruncate(fd: int, length: int, /) -> None:
    _serving(fd).ftruncate(fd, length)


def posix_fallocate(fd: int, offset: int, length: int, /) -> None:
    _serving(fd).posix_fallocate(fd, offset, length)


def fchmod(fd: int, mode: int) -> None:
    _serving(fd).fchmod(fd, mode)


def fchown(fd: int, uid: int, gid: int) -> None:
    _serving(fd).fchown(fd, uid, gid)


def fdopen(fd: int, mode: str = "r", buffering: int = -1, encoding: str | None = None,
           *args: Any, **kwargs: Any) -> Any:
    """A file object over a benchfs descriptor (benchfs/fileobj.py); other
    descriptors get the host's os.fdopen."""
    serving = _serving(fd)
    if isinstance(serving, Client):
        return serving.fdopen(fd, mode, buffering, encoding, *args, **kwargs)
    return os.fdopen(fd, mode, buffering, encoding, *args, **kwargs)


def open_file(file: Any, mode: str = "r", buffering: int = -1, encoding: str | None = None,
              errors: str | None = None, newline: str | None = None, closefd: bool = True,
              opener: Callable[[Any, int], int] | None = None) -> Any:
    """``builtins.open`` on the default client's cluster (benchfs/fileobj.py)."""
    return default_client().open_file(file, mode, buffering, encoding, errors, newline,
                                      closefd, opener)


def fchdir(fd: int) -> None:
    default_client().fchdir(fd)


# attributes

def stat(path: Any, *, dir_fd: int | None = None, follow_symlinks: bool = True) -> os.stat_result:
    return default_client().stat(path, dir_fd=dir_fd, follow_symlinks=follow_symlinks)


def lstat(path: Any, *, dir_fd: int | None = None) -> os.stat_result:
    return default_client().lstat(path, dir_fd=dir_fd)


def access(path: Any, mode: int, *, dir_fd: int | None = None, effective_ids: bool = False,
           follow_symlinks: bool = True) -> bool:
    return default_client().access(path, mode, dir_fd=dir_fd, effective_ids=effective_ids,
                                   follow_symlinks=follow_symlinks)


def chmod(path: Any, mode: int, *, dir_fd: int | None = None,
          follow_symlinks: bool = True) -> None:
    default_client().chmod(path, mode, dir_fd=dir_fd, follow_symlinks=follow_symlinks)


def chown(path: Any, uid: int, gid: int, *, dir_fd: int | None = None,
          follow_symlinks: bool = True) -> None:
    default_client().chown(path, uid, gid, dir_fd=dir_fd, follow_symlinks=follow_symlinks)


def lchown(path: Any, uid: int, gid: int) -> None:
    default_client().lchown(path, uid, gid)


def utime(path: Any, times: Any = None, *, ns: Any = None, dir_fd: int | None = None,
          follow_symlinks: bool = True) -> None:
    default_client().utime(path, times, ns=ns, dir_fd=dir_fd, follow_symlinks=follow_symlinks)


def truncate(path: Any, length: int) -> None:
    default_client().truncate(path, length)


def statvfs(path: Any) -> os.statvfs_result:
    return default_client().statvfs(path)


def getxattr(path: Any, attribute: Any, *, follow_symlinks: bool = True) -> bytes:
    return default_client().getxattr(path, attribute, follow_symlinks=follow_symlinks)


def setxattr(path: Any, attribute: Any, value: Any, flags: int = 0, *,
             follow_symlinks: bool = True) -> None:
    default_client().setxattr(path, attribute, value, flags, follow_symlinks=follow_symlinks)


def removexattr(path: Any, attribute: Any, *, follow_symlinks: bool = True) -> None:
    default_client().removexattr(path, attribute, follow_symlinks=follow_symlinks)


def listxattr(path: Any = None, *, follow_symlinks: bool = True) -> list[Any]:
    return default_client().listxattr(path, follow_symlinks=follow_symlinks)


# names

def mkdir(path: Any, mode: int = 0o777, *, dir_fd: int | None = None) -> None:
    default_client().mkdir(path, mode, dir_fd=dir_fd)


def makedirs(name: Any, mode: int = 0o777, exist_ok: bool = False) -> None:
    default_client().makedirs(name, mode, exist_ok)


def rmdir(path: Any, *, dir_fd: int | None = None) -> None:
    default_client().rmdir(path, dir_fd=dir_fd)


def removedirs(name: Any) -> None:
    default_client().removedirs(name)


def unlink(path: Any, *, dir_fd: int | None = None) -> None:
    default_client().unlink(path, dir_fd=dir_fd)


def remove(path: Any, *, dir_fd: int | None = None) -> None:
    default_client().remove(path, dir_fd=dir_fd)


def symlink(src: Any, dst: Any, target_is_directory: bool = False, *,
            dir_fd: int | None = None) -> None:
    default_client().symlink(src, dst, target_is_directory, dir_fd=dir_fd)


def readlink(path: Any, *, dir_fd: int | None = None) -> Any:
    return default_client().readlink(path, dir_fd=dir_fd)


def link(src: Any, dst: Any, *, src_dir_fd: int | None = None, dst_dir_fd: int | None = None,
         follow_symlinks: bool = True) -> None:
    default_client().link(src, dst, src_dir_fd=src_dir_fd, dst_dir_fd=dst_dir_fd,
                          follow_symlinks=follow_symlinks)


def rename(src: Any, dst: Any, *, src_dir_fd: int | None = None,
           dst_dir_fd: int | None = None) -> None:
    default_client().rename(src, dst, src_dir_fd=src_dir_fd, dst_dir_fd=dst_dir_fd)


def replace(src: Any, dst: Any, *, src_dir_fd: int | None = None,
            dst_dir_fd: int | None = None) -> None:
    default_client().replace(src, dst, src_dir_fd=src_dir_fd, dst_dir_fd=dst_dir_fd)


def renames(old: Any, new: Any) -> None:
    default_client().renames(old, new)


# directories and the working directory

def listdir(path: Any = None) -> list[Any]:
    return default_client().listdir(path)


def scandir(path: Any = None) -> ScandirIterator[Any]:
    return default_client().scandir(path)


def walk(top: Any, topdown: bool = True, onerror: Callable[[OSError], object] | None = None,
         followlinks: bool = False) -> Iterator[WalkResult]:
    sys.audit("os.walk", top, topdown, onerror, followlinks)  # on first next(), as os does
    yield from default_client().walk(top, topdown, onerror, followlinks)


def fwalk(top: Any = ".", topdown: bool = True,
          onerror: Callable[[OSError], object] | None = None, *, follow_symlinks: bool = False,
          dir_fd: int | None = None) -> Iterator[FwalkResult]:
    sys.audit("os.fwalk", top, topdown, onerror, follow_symlinks, dir_fd)
    yield from default_client().fwalk(top, topdown, onerror, follow_symlinks=follow_symlinks,
                                      dir_fd=dir_fd)


def chdir(path: Any) -> None:
    default_client().chdir(path)


def getcwd() -> str:
    return default_client().getcwd()


def getcwdb() -> bytes:
    return default_client().getcwdb()
