"""Module-level functions: the os-like API over a default client.

The default client connects on first use to the cluster named by
BENCHFS_REGISTRY. A forked child drops the parent's client (its engine belongs
to the parent's connections) and connects afresh when it first needs one.
"""

from __future__ import annotations

import os
import threading
from typing import Any

from benchfs.client.client import Client
from benchfs.settings import ClientSettings, registry_from_env

_default: Client | None = None
_default_lock = threading.Lock()


def _forget_default_after_fork() -> None:
    global _default
    _default = None


os.register_at_fork(after_in_child=_forget_default_after_fork)


def connect(registry: str | os.PathLike[str] | None = None,
            settings: ClientSettings | None = None) -> Client:
    """A client of its own for the cluster in ``registry`` (default: BENCHFS_REGISTRY)."""
    return Client(registry if registry is not None else registry_from_env(), settings)


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


def open(path: Any, flags: int, mode: int = 0o777, *, dir_fd: int | None = None) -> int:
    return default_client().open(path, flags, mode, dir_fd=dir_fd)


def close(fd: int) -> None:
    default_client().close(fd)


def read(fd: int, length: int) -> bytes:
    return default_client().read(fd, length)


def pread(fd: int, length: int, offset: int) -> bytes:
    return default_client().pread(fd, length, offset)


def write(fd: int, data: Any) -> int:
    return default_client().write(fd, data)


def pwrite(fd: int, data: Any, offset: int) -> int:
    return default_client().pwrite(fd, data, offset)


def lseek(fd: int, position: int, whence: int) -> int:
    return default_client().lseek(fd, position, whence)


def fstat(fd: int) -> os.stat_result:
    return default_client().fstat(fd)


def fsync(fd: Any) -> None:
    default_client().fsync(fd)


def stat(path: Any, *, dir_fd: int | None = None, follow_symlinks: bool = True) -> os.stat_result:
    return default_client().stat(path, dir_fd=dir_fd, follow_symlinks=follow_symlinks)


def mkdir(path: Any, mode: int = 0o777, *, dir_fd: int | None = None) -> None:
    default_client().mkdir(path, mode, dir_fd=dir_fd)


def rmdir(path: Any, *, dir_fd: int | None = None) -> None:
    default_client().rmdir(path, dir_fd=dir_fd)


def unlink(path: Any, *, dir_fd: int | None = None) -> None:
    default_client().unlink(path, dir_fd=dir_fd)


def remove(path: Any, *, dir_fd: int | None = None) -> None:
    default_client().unlink(path, dir_fd=dir_fd)


def listdir(path: Any = None) -> list[Any]:
    return default_client().listdir(path)
