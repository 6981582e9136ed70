"""The client: one object with the os-module surface that every front end uses.

Consistency is close-to-open (docs/architecture.md): an open sees every write a
closed or fsync'd descriptor made before it; an open descriptor caches the
file size and re-asks the server only when a read reaches past it.
"""

from __future__ import annotations

import errno
import operator
import os
import stat
import threading
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from benchfs._native.engine import Engine, EngineConfig, new_uninitialized_bytes
from benchfs.client.fdtable import FdTable, OpenFile
from benchfs.client.namespace import Namespace
from benchfs.client.rpc import Request, Rpc
from benchfs.core.chunks import split_range
from benchfs.core.errors import os_error
from benchfs.core.paths import fspath_of, had_trailing_slash, normalize
from benchfs.core.placement import PlacementRing
from benchfs.core.records import Inode
from benchfs.core.wire import Op
from benchfs.registry import read_cluster_config
from benchfs.settings import ClientSettings

_MAX_OFFSET = (1 << 63) - 1  # loff_t's range


def _current_umask() -> int:
    # There is no read-only umask call; set and restore is the standard idiom.
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _byte_view(data: object) -> memoryview:
    """A flat byte view of a bytes-like object, or the TypeError os.write raises."""
    if isinstance(data, str):
        raise TypeError(f"a bytes-like object is required, not '{type(data).__name__}'")
    try:
        view = memoryview(data)  # type: ignore[arg-type]
    except TypeError:
        raise TypeError(
            f"a bytes-like object is required, not '{type(data).__name__}'"
        ) from None
    return view if view.format == "B" and view.ndim == 1 else view.cast("B")


def _fd_number(fd: object) -> int:
    """Accept ints and objects with fileno(), like os.fsync."""
    if not isinstance(fd, int) and hasattr(fd, "fileno"):
        fd = fd.fileno()
    return operator.index(fd)  # type: ignore[arg-type]


class Client:
    """A connection to one benchfs cluster with the file API of the os module."""

    def __init__(self, registry: str | os.PathLike[str], settings: ClientSettings | None = None):
        self.settings = settings or ClientSettings.from_env()
        self.registry = Path(registry)
        self.cluster = read_cluster_config(self.registry)
        for key, value in self.cluster.ucx_env.items():
            # UCX reads its environment once, when the engine starts.
            os.environ.setdefault(key, value)
        self._engine = Engine(EngineConfig(spin_us=self.settings.spin_us))
        self._rpc = Rpc(self._engine, self.registry, self.settings.timeout)
        ring = PlacementRing([str(rank) for rank in range(self.cluster.servers)])
        self._ns = Namespace(self._rpc, ring, self.settings.metadata_ttl)
        self._fds = FdTable()
        self._lock = threading.RLock()  # one engine, one loop: calls take turns
        self.cwd = "/"
        self.st_dev = zlib.crc32(str(self.registry.resolve()).encode())
        self.chunk_size = self.cluster.chunk_size

    # -- lifecycle ---------------------------------------------------------------

    def close_client(self) -> None:
        with self._lock:
            for fd in self._fds:
                self._close_locked(fd)
            self._rpc.close()
            self._engine.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close_client()

    @contextmanager
    def _turn(self) -> Iterator[None]:
        with self._lock:
            yield

    # -- helpers -------------------------------------------------------------------

    def _path(self, path: object, func: str, allow_fd: bool = False) -> tuple[str, str]:
        text = fspath_of(path, func, allow_fd)
        return text, normalize(text, self.cwd)

    def _stat_result(self, inode: Inode) -> os.stat_result:
        return inode.to_stat_result(self.st_dev, self.chunk_size)

    def _truncate_data(self, ino: int, size: int) -> None:
        self._rpc.call(self._ns.rank_of_inode(ino), Op.SET_SIZE, ino, size, False)
        self._rpc.call_all(self._ns.all_ranks, Op.DATA_TRUNCATE, ino, size)

    def _file_size(self, open_file: OpenFile) -> int:
        open_file.size_hint = self._ns.getattr(open_file.ino).size
        return open_file.size_hint

    # -- files ---------------------------------------------------------------------

    def open(self, path: Any, flags: int, mode: int = 0o777, *, dir_fd: int | None = None) -> int:
        flags = operator.index(flags)
        mode = operator.index(mode)
        text, norm = self._path(path, "open")
        access = flags & os.O_ACCMODE
        with self._turn():
            if flags & os.O_CREAT:
                inode = self._create(text, norm, path, mode, bool(flags & os.O_EXCL))
            else:
                inode = self._ns.lookup(norm, path)
                if had_trailing_slash(text) and not stat.S_ISDIR(inode.mode):
                    raise os_error(errno.ENOTDIR, path)
            is_dir = stat.S_ISDIR(inode.mode)
            if is_dir and (access != os.O_RDONLY or flags & os.O_CREAT):
                raise os_error(errno.EISDIR, path)
            writable = access in (os.O_WRONLY, os.O_RDWR)
            size = inode.size
            if flags & os.O_TRUNC and writable and stat.S_ISREG(inode.mode) and size:
                self._truncate_data(inode.ino, 0)
                size = 0
            open_file = OpenFile(
                path=norm, ino=inode.ino, file_type=stat.S_IFMT(inode.mode),
                readable=access in (os.O_RDONLY, os.O_RDWR), writable=writable,
                append=bool(flags & os.O_APPEND), size_hint=size,
            )
            return self._fds.add(open_file)

    def _create(self, text: str, norm: str, path: object, mode: int, exclusive: bool) -> Inode:
        if had_trailing_slash(text) or norm == "/":
            # Linux refuses to create a regular file through a directory-like name.
            raise os_error(errno.EISDIR, path)
        self._ns.require_parent_dir(norm, path)
        ino, wire = self._rpc.call(
            self._ns.rank_of_path(norm), Op.CREATE, norm, mode & ~_current_umask() & 0o7777,
            exclusive, os.geteuid(), os.getegid(), filename=path,
        )
        return Inode.from_wire(wire) if wire is not None else self._ns.getattr(ino, path)

    def close(self, fd: int) -> None:
        fd = operator.index(fd)
        with self._turn():
            self._close_locked(fd)

    def _close_locked(self, fd: int) -> None:
        closed = self._fds.remove(fd)
        if closed.orphaned and not any(f.ino == closed.ino for f in self._fds.open_files()):
            self._rpc.call_all(self._ns.all_ranks, Op.DATA_REMOVE, closed.ino)

    def _readable_file(self, fd: int) -> OpenFile:
        open_file = self._fds.get(operator.index(fd))
        if not open_file.readable:
            raise os_error(errno.EBADF)
        if stat.S_ISDIR(open_file.file_type):
            raise os_error(errno.EISDIR)
        return open_file

    def _writable_file(self, fd: int) -> OpenFile:
        open_file = self._fds.get(operator.index(fd))
        if not open_file.writable:
            raise os_error(errno.EBADF)
        return open_file

    def read(self, fd: int, length: int) -> bytes:
        length = operator.index(length)
        with self._turn():
            open_file = self._readable_file(fd)
            if length < 0:
                raise os_error(errno.EINVAL)
            data = self._read_at(open_file, length, open_file.position)
            open_file.position += len(data)
            return data

    def pread(self, fd: int, length: int, offset: int) -> bytes:
        length = operator.index(length)
        offset = operator.index(offset)
        with self._turn():
            open_file = self._readable_file(fd)
            if length < 0 or offset < 0:
                raise os_error(errno.EINVAL)
            return self._read_at(open_file, length, offset)

    def write(self, fd: int, data: Any) -> int:
        with self._turn():
            open_file = self._writable_file(fd)
            view = _byte_view(data)
            offset = self._file_size(open_file) if open_file.append else open_file.position
            written = self._write_at(open_file, view, offset)
            open_file.position = offset + written
            return written

    def pwrite(self, fd: int, data: Any, offset: int) -> int:
        offset = operator.index(offset)
        with self._turn():
            open_file = self._writable_file(fd)
            view = _byte_view(data)
            if offset < 0:
                raise os_error(errno.EINVAL)
            if open_file.append:
                # Linux appends on pwrite to an O_APPEND descriptor, ignoring offset.
                offset = self._file_size(open_file)
            return self._write_at(open_file, view, offset)

    def _read_at(self, open_file: OpenFile, length: int, offset: int) -> bytes:
        size = open_file.size_hint
        if offset + length > size:
            size = self._file_size(open_file)
        length = max(0, min(length, size - offset))
        if length == 0:
            return b""
        out, target = new_uninitialized_bytes(length)
        requests = [
            Request(
                self._ns.rank_of_chunk(open_file.ino, piece.index), Op.READ, open_file.ino,
                piece.file_offset, piece.length,
                recv_into=target[piece.buf_offset:piece.buf_offset + piece.length],
            )
            for piece in split_range(offset, length, self.chunk_size)
        ]
        for reply in self._rpc.run(requests):
            if reply.status:
                raise os_error(reply.status)
        return out

    def _write_at(self, open_file: OpenFile, view: memoryview, offset: int) -> int:
        if not len(view):
            return 0
        pieces = split_range(offset, len(view), self.chunk_size)
        requests = [
            Request(
                self._ns.rank_of_chunk(open_file.ino, piece.index), Op.WRITE, open_file.ino,
                piece.file_offset, piece.length,
                body=view[piece.buf_offset:piece.buf_offset + piece.length],
            )
            for piece in pieces
        ]
        for reply in self._rpc.run(requests):
            if reply.status:
                raise os_error(reply.status)
        open_file.dirty_ranks.update(request.rank for request in requests)
        end = offset + len(view)
        # The size moves only after the data is on the servers, so a failed
        # write (ENOSPC) never leaves a file longer than what it holds.
        open_file.size_hint = self._rpc.call(
            self._ns.rank_of_inode(open_file.ino), Op.SET_SIZE, open_file.ino, end, True,
        )
        return len(view)

    def lseek(self, fd: int, position: int, whence: int) -> int:
        position = operator.index(position)
        whence = operator.index(whence)
        with self._turn():
            open_file = self._fds.get(operator.index(fd))
            if whence == os.SEEK_SET:
                target = position
            elif whence == os.SEEK_CUR:
                target = open_file.position + position
            elif whence == os.SEEK_END:
                # ext4 reports the end of a directory as the largest hash cookie.
                end = (_MAX_OFFSET if stat.S_ISDIR(open_file.file_type)
                       else self._file_size(open_file))
                target = end + position
            else:
                raise os_error(errno.EINVAL)
            if not 0 <= target <= _MAX_OFFSET:
                raise os_error(errno.EINVAL)
            open_file.position = target
            return target

    def fstat(self, fd: int) -> os.stat_result:
        with self._turn():
            open_file = self._fds.get(operator.index(fd))
            return self._stat_result(self._ns.getattr(open_file.ino))

    def fsync(self, fd: Any) -> None:
        number = _fd_number(fd)
        with self._turn():
            open_file = self._fds.get(number)
            ranks = sorted(open_file.dirty_ranks)
            requests = [Request(rank, Op.FSYNC, open_file.ino) for rank in ranks]
            for reply in self._rpc.run(requests):
                if reply.status:
                    raise os_error(reply.status)
            open_file.dirty_ranks.clear()

    # -- names ---------------------------------------------------------------------

    def stat(self, path: Any, *, dir_fd: int | None = None,
             follow_symlinks: bool = True) -> os.stat_result:
        if isinstance(path, int):
            return self.fstat(path)
        text, norm = self._path(path, "stat", allow_fd=True)
        with self._turn():
            inode = self._ns.lookup(norm, path)
            if had_trailing_slash(text) and not stat.S_ISDIR(inode.mode):
                raise os_error(errno.ENOTDIR, path)
            return self._stat_result(inode)

    def mkdir(self, path: Any, mode: int = 0o777, *, dir_fd: int | None = None) -> None:
        mode = operator.index(mode)
        _, norm = self._path(path, "mkdir")
        with self._turn():
            if norm == "/":
                raise os_error(errno.EEXIST, path)
            self._ns.require_parent_dir(norm, path)
            wire = self._rpc.call(
                self._ns.rank_of_path(norm), Op.MKDIR, norm, mode & ~_current_umask() & 0o7777,
                os.geteuid(), os.getegid(), filename=path,
            )
            self._ns.remember_new_dir(norm, Inode.from_wire(wire).ino)

    def rmdir(self, path: Any, *, dir_fd: int | None = None) -> None:
        _, norm = self._path(path, "rmdir")
        with self._turn():
            if norm == "/":
                raise os_error(errno.EBUSY, path)
            inode = self._ns.lookup(norm, path)
            if not stat.S_ISDIR(inode.mode):
                raise os_error(errno.ENOTDIR, path)
            owner = self._ns.rank_of_path(norm)
            others = [rank for rank in self._ns.all_ranks if rank != owner]
            if any(self._rpc.call_all(others, Op.READDIR, norm, filename=path)):
                raise os_error(errno.ENOTEMPTY, path)
            self._ns.forget_dir(norm)
            self._rpc.call(owner, Op.RMDIR, norm, filename=path)

    def unlink(self, path: Any, *, dir_fd: int | None = None) -> None:
        text, norm = self._path(path, "unlink")
        with self._turn():
            if had_trailing_slash(text) or norm == "/":
                inode = self._ns.lookup(norm, path)
                raise os_error(errno.EISDIR if stat.S_ISDIR(inode.mode) else errno.ENOTDIR, path)
            # POSIX keeps an unlinked file alive while it is open. This client
            # knows its own descriptors; it frees the data at their last close.
            still_open = [
                f for f in self._fds.open_files() if f.path == norm and not f.orphaned
            ]
            try:
                ino, links_left = self._rpc.call(
                    self._ns.rank_of_path(norm), Op.UNLINK, norm, bool(still_open),
                    filename=path,
                )
            except FileNotFoundError:
                raise self._ns.missing_error(norm, path) from None
            if links_left == 0:
                if still_open:
                    for open_file in still_open:
                        open_file.orphaned = True
                else:
                    self._rpc.call_all(self._ns.all_ranks, Op.DATA_REMOVE, ino)

    remove = unlink

    def listdir(self, path: Any = ".") -> list[Any]:
        if path is None:
            path = "."
        text, norm = self._path(path, "listdir")
        with self._turn():
            inode = self._ns.lookup(norm, path)
            if not stat.S_ISDIR(inode.mode):
                raise os_error(errno.ENOTDIR, path)
            listings = self._rpc.call_all(self._ns.all_ranks, Op.READDIR, norm, filename=path)
        names = [entry[0] for listing in listings for entry in listing]
        if isinstance(path, bytes) or (
            isinstance(path, os.PathLike) and isinstance(os.fspath(path), bytes)
        ):
            return [os.fsencode(name) for name in names]
        return names
