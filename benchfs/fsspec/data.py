"""Data: cat_file, cat_ranges, pipe_file, touch, cp_file and open, each a few calls
of the client; files are the real io classes over a benchfs descriptor."""

from __future__ import annotations

import os
import stat
import sys
from typing import Any, BinaryIO

from benchfs.fsspec.base import FileSystemBase

_WRITE_MODES = frozenset("wxa")
# How much cp_file moves per read/write pair: whole default chunks, several servers
# busy at once, and a bounded amount of memory.
_COPY_PIECES = 4


class Data(FileSystemBase):
    def _open_fd(self, path: str, flags: int) -> int:
        """open(2) on the cluster; a creating open makes the missing parents first."""
        try:
            return self.client.open(path, flags, 0o666)
        except FileNotFoundError:
            if not flags & os.O_CREAT:
                raise
            self._make_parent(path)
            return self.client.open(path, flags, 0o666)

    def cat_file(self, path: Any, start: int | None = None, end: int | None = None,
                 **kwargs: Any) -> bytes:
        """Bytes [start, end) like a slice: negative values count from the end."""
        client = self.client
        fd = client.open(self._strip_protocol(path), os.O_RDONLY)
        try:
            return self._read_range(fd, start, end)
        finally:
            client.close(fd)

    def cat_ranges(self, paths: list[Any], starts: Any, ends: Any, max_gap: int | None = None,
                   on_error: str = "return", **kwargs: Any) -> list[Any]:
        """Each file opened once for all its ranges."""
        if max_gap is not None:
            raise NotImplementedError("max_gap")
        if not isinstance(paths, list):
            raise TypeError("paths must be a list")
        starts = starts if isinstance(starts, list) else [starts] * len(paths)
        ends = ends if isinstance(ends, list) else [ends] * len(paths)
        if len(starts) != len(paths) or len(ends) != len(paths):
            raise ValueError("paths, starts and ends differ in length")
        client = self.client
        out: list[Any] = [None] * len(paths)
        by_path: dict[str, list[int]] = {}
        for index, path in enumerate(self._strip_protocol(paths)):
            by_path.setdefault(path, []).append(index)
        for path, indexes in by_path.items():
            try:
                fd = client.open(path, os.O_RDONLY)
            except OSError as error:
                if on_error != "return":
                    raise
                for index in indexes:
                    out[index] = error
                continue
            try:
                for index in indexes:
                    try:
                        out[index] = self._read_range(fd, starts[index], ends[index])
                    except OSError as error:
                        if on_error != "return":
                            raise
                        out[index] = error
            finally:
                client.close(fd)
        return out

    def _read_range(self, fd: int, start: int | None, end: int | None) -> bytes:
        client = self.client
        first = start or 0
        if first < 0 or (end is not None and end < 0):
            size = client.fstat(fd).st_size
            first = max(0, size + first) if first < 0 else first
            end = size + end if end is not None and end < 0 else end
        # A read stops at the end of the file: reading to it needs no size.
        length = sys.maxsize if end is None else max(0, end - first)
        return client.pread(fd, length, first) if length else b""

    def pipe_file(self, path: Any, value: Any, mode: str = "overwrite", **kwargs: Any) -> None:
        """``mode="create"`` is an exclusive open: FileExistsError, atomically."""
        if mode not in ("overwrite", "create"):
            raise ValueError(f"mode must be 'overwrite' or 'create', not {mode!r}")
        flags = os.O_WRONLY | os.O_CREAT | (os.O_EXCL if mode == "create" else os.O_TRUNC)
        client = self.client
        fd = self._open_fd(self._strip_protocol(path), flags)
        try:
            client.write(fd, value)
        finally:
            client.close(fd)

    def touch(self, path: Any, truncate: bool = True, **kwargs: Any) -> None:
        """Create the file, or move its times (and with ``truncate`` empty it)."""
        path = self._strip_protocol(path)
        if truncate:
            self.client.close(self._open_fd(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC))
            return
        try:
            self.client.utime(path)
        except FileNotFoundError:
            self.client.close(self._open_fd(path, os.O_WRONLY | os.O_CREAT))

    def cp_file(self, path1: Any, path2: Any, **kwargs: Any) -> None:
        """Copied through this client, a few chunks at a time: each piece is read
        into one ``bytes`` and written from it (benchfs has no server-side copy)."""
        source, target = self._strip_protocol(path1), self._strip_protocol(path2)
        client = self.client
        if stat.S_ISDIR(client.stat(source).st_mode):
            client.makedirs(target, exist_ok=True)
            return
        piece = client.chunk_size * _COPY_PIECES
        src = client.open(source, os.O_RDONLY)
        try:
            dst = self._open_fd(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
            try:
                for offset in range(0, client.fstat(src).st_size, piece):
                    client.pwrite(dst, client.pread(src, piece, offset), offset)
            finally:
                client.close(dst)
        finally:
            client.close(src)

    def _open(self, path: Any, mode: str = "rb", block_size: int | None = None,
              autocommit: bool = True, cache_options: Any = None, **kwargs: Any) -> BinaryIO:
        """The io classes builtins.open returns, over a benchfs descriptor;
        ``block_size`` is their buffer size. Writing modes create missing parents."""
        if not autocommit:
            raise NotImplementedError("benchfs:// has no transactions (autocommit=False)")
        path = self._strip_protocol(path)
        buffering = block_size if block_size else -1
        try:
            return self.client.open_file(path, mode, buffering)  # type: ignore[no-any-return]
        except FileNotFoundError:
            if not _WRITE_MODES & set(mode):
                raise
            self._make_parent(path)
            return self.client.open_file(path, mode, buffering)  # type: ignore[no-any-return]
