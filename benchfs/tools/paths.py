"""Which file system an operand names: ``bfs:PATH`` and ``benchfs:///PATH`` are benchfs,
anything else is local. Paths are kept as bytes, so names that are not valid UTF-8 survive
from the command line to the server and back (argv arrives decoded with surrogateescape)."""

from __future__ import annotations

import argparse
import os
import posixpath
from dataclasses import dataclass
from typing import Any, Protocol

from benchfs._api import connect
from benchfs.client.client import Client

PREFIXES = (b"benchfs://", b"bfs:")


class FileSystem(Protocol):
    """The os calls the tools make; the ``os`` module and ``benchfs.Client`` both have them."""

    def open(self, path: Any, flags: int, mode: int = 0o777) -> int: ...
    def close(self, fd: int, /) -> None: ...
    def pread(self, fd: int, length: int, offset: int, /) -> bytes: ...
    def pwrite(self, fd: int, data: Any, offset: int, /) -> int: ...
    def lseek(self, fd: int, position: int, whence: int, /) -> int: ...
    def fsync(self, fd: Any, /) -> None: ...
    def ftruncate(self, fd: int, length: int, /) -> None: ...
    def fstat(self, fd: int, /) -> os.stat_result: ...
    def stat(self, path: Any, *, follow_symlinks: bool = True) -> os.stat_result: ...
    def lstat(self, path: Any) -> os.stat_result: ...
    def scandir(self, path: Any) -> Any: ...
    def readlink(self, path: Any) -> Any: ...
    def symlink(self, src: Any, dst: Any) -> None: ...
    def link(self, src: Any, dst: Any) -> None: ...
    def mkdir(self, path: Any, mode: int = 0o777) -> None: ...
    def rmdir(self, path: Any) -> None: ...
    def unlink(self, path: Any) -> None: ...
    def rename(self, src: Any, dst: Any) -> None: ...
    def chmod(self, path: Any, mode: int, *, follow_symlinks: bool = True) -> None: ...
    def chown(self, path: Any, uid: int, gid: int, *,
              follow_symlinks: bool = True) -> None: ...
    def utime(self, path: Any, *, ns: tuple[int, int],
              follow_symlinks: bool = True) -> None: ...


@dataclass(frozen=True)
class Location:
    """A path on one file system, and how to show it as the user spelled it."""

    fs: FileSystem
    path: bytes
    remote: bool
    shown: bytes  # the operand as typed, extended by join()

    def join(self, name: bytes) -> Location:
        sep = b"" if self.shown.endswith(b"/") else b"/"
        return Location(self.fs, posixpath.join(self.path, name), self.remote,
                        self.shown + sep + name)

    @property
    def name(self) -> bytes:
        return posixpath.basename(self.path.rstrip(b"/")) or self.path

    @property
    def text(self) -> str:
        """For messages: the operand as typed, undecodable bytes escaped."""
        return os.fsdecode(self.shown)


def split_operand(operand: str | bytes) -> tuple[bool, bytes]:
    """(is benchfs, path): ``bfs:/a`` and ``benchfs:///a`` give (True, b'/a')."""
    raw = os.fsencode(operand)
    for prefix in PREFIXES:
        if raw.startswith(prefix):
            path = raw[len(prefix):]
            # benchfs has no current directory of its own for a shell: relative is from /.
            return True, path if path.startswith(b"/") else b"/" + path
    return False, raw


class Resolver:
    """Turns operands into Locations, connecting to the cluster on first need."""

    def __init__(self, registry: str | None = None) -> None:
        self._registry = registry
        self._client: Client | None = None

    @property
    def client(self) -> Client:
        if self._client is None:
            self._client = connect(self._registry)
        return self._client

    def locate(self, operand: str | bytes, remote: bool | None = None) -> Location:
        """``remote``: the side of an operand without a prefix (stage-in's destination
        is benchfs either way); None: local."""
        prefixed, path = split_operand(operand)
        if remote is not None and not prefixed:
            prefixed, path = remote, os.fsencode(operand)
        if prefixed and not path.startswith(b"/"):
            path = b"/" + path
        return Location(self.fs(prefixed), path, prefixed, os.fsencode(operand))

    def fs(self, remote: bool) -> FileSystem:
        return self.client if remote else os

    def close(self) -> None:
        if self._client is not None:
            self._client.close_client()
            self._client = None

    def __enter__(self) -> Resolver:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def add_registry_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--registry", default=None,
                        help="the cluster's registry (default: $BENCHFS_REGISTRY)")
