"""File objects over benchfs descriptors: what ``open()`` returns, for benchfs paths.

``RawFile`` is io.FileIO's behaviour over a descriptor of a benchfs ``Client``
(same modes, attributes and errors); ``open_file`` is ``builtins.open`` over it,
wrapping it in the real ``io`` classes (BufferedReader, BufferedWriter,
BufferedRandom, TextIOWrapper) exactly as CPython's ``_io.open`` does, so the
objects are the built-in kinds and behave like them in every mode.

    f = benchfs.open_file("/results/log.txt", "a", encoding="utf-8")
    f = client.fdopen(fd, "rb")
"""

from __future__ import annotations

import _io
import errno
import io
import os
import stat
import sys
import warnings
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from benchfs.core.errors import os_error

if TYPE_CHECKING:
    from benchfs.client.client import Client

Opener = Callable[[Any, int], int]

# readall() asks for everything left at once; the client clamps it to the file's size.
_ALL = sys.maxsize
_BAD_MODE = "Must have exactly one of create/read/write/append mode and at most one plus"
_CLOSED = "I/O operation on closed file"


_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep  # benchfs/


def warn_bool_descriptor() -> None:
    """3.13's warning for a bool used as a descriptor, on the caller's line (the first
    frame outside benchfs), as io.FileIO's own comes from the line that called it."""
    if sys.version_info >= (3, 13):
        warnings.warn("bool is used as a file descriptor", RuntimeWarning,
                      skip_file_prefixes=(_PACKAGE_DIR,))


def _raw_flags(mode: str) -> tuple[int, bool, bool, bool, bool]:
    """FileIO's mode parsing: (open flags, readable, writable, created, appending)."""
    flags = 0
    readable = writable = created = appending = plus = rwa = False
    for char in mode:
        if char in "xrwa":
            if rwa:
                raise ValueError(_BAD_MODE)
            rwa = True
            if char == "x":
                created = writable = True
                flags |= os.O_EXCL | os.O_CREAT
            elif char == "r":
                readable = True
            elif char == "w":
                writable = True
                flags |= os.O_CREAT | os.O_TRUNC
            else:
                writable = appending = True
                flags |= os.O_APPEND | os.O_CREAT
        elif char == "+":
            if plus:
                raise ValueError(_BAD_MODE)
            readable = writable = plus = True
        elif char != "b":
            raise ValueError(f"invalid mode: {mode}")
    if not rwa:
        raise ValueError(_BAD_MODE)
    access = os.O_RDWR if readable and writable else os.O_RDONLY if readable else os.O_WRONLY
    return flags | access | os.O_CLOEXEC, readable, writable, created, appending


class RawFile(io.RawIOBase):
    """io.FileIO over a benchfs descriptor: ``file`` is a benchfs path (str, bytes,
    path-like) or a descriptor of ``client``; ``opener(path, flags)`` returns one."""

    def __init__(self, client: Client, file: Any, mode: str = "r", closefd: bool = True,
                 opener: Opener | None = None) -> None:
        self._client = client
        self._fd = -1  # nothing to close if __init__ fails before the open
        self._closefd = True
        if isinstance(file, float):
            raise TypeError("integer argument expected, got float")
        fd = -1
        if isinstance(file, int):
            if isinstance(file, bool):
                warn_bool_descriptor()
            fd = file
            if fd < 0:
                raise ValueError("negative file descriptor")
        elif b"\0" in os.fsencode(file):  # FileIO's type errors, then this, then the mode's
            raise ValueError("embedded null byte")
        if not isinstance(mode, str):
            raise TypeError(f"FileIO() argument 'mode' must be str, not {type(mode).__name__}")
        flags, self._readable, self._writable, self._created, self._appending = (
            _raw_flags(mode))
        if fd < 0:
            if not closefd:
                raise ValueError("Cannot use closefd=False with file name")
            fd = self._open(file, flags, opener)
        elif not client.owns_fd(fd):
            raise os_error(errno.EBADF)  # FileIO's fstat of a descriptor that is not open
        self._fd, self._closefd = fd, bool(closefd)
        try:
            if stat.S_ISDIR(client.fd_type(fd)):
                if fd == file:
                    self._fd = -1  # FileIO leaves the caller's descriptor open
                raise os_error(errno.EISDIR, file)  # FileIO refuses a directory
            # FileIO takes st_blksize as its buffer size; a benchfs stat reports the
            # chunk size there, known without asking the server.
            self._blksize = client.chunk_size
            self.name = file
            if self._appending:
                client.lseek(fd, 0, os.SEEK_END)  # tell() is right before the first write
        except BaseException:
            self.close()
            raise

    def _open(self, file: Any, flags: int, opener: Opener | None) -> int:
        sys.audit("benchfs.open", file, None, flags)
        if opener is None:
            return self._client.open(file, flags, 0o666)
        fd = opener(file, flags)
        if not isinstance(fd, int):
            raise TypeError("expected integer from opener")
        if fd < 0:
            raise ValueError(f"opener returned {fd}")
        if not self._client.owns_fd(fd):
            raise os_error(errno.EBADF, file)  # not a descriptor of this cluster
        return fd

    # -- state -------------------------------------------------------------------------

    def _check_open(self) -> None:
        if self.closed:
            raise ValueError(_CLOSED)

    def _check_reading(self) -> None:
        self._check_open()
        if not self._readable:
            raise io.UnsupportedOperation("File not open for reading")

    def _check_writing(self) -> None:
        self._check_open()
        if not self._writable:
            raise io.UnsupportedOperation("File not open for writing")

    @property
    def mode(self) -> str:
        if self._created:
            return "xb+" if self._readable else "xb"
        if self._appending:
            return "ab+" if self._readable else "ab"
        if self._readable:
            return "rb+" if self._writable else "rb"
        return "wb"

    @property
    def closefd(self) -> bool:
        return self._closefd

    def fileno(self) -> int:
        self._check_open()
        return self._fd

    def readable(self) -> bool:
        self._check_open()
        return self._readable

    def writable(self) -> bool:
        self._check_open()
        return self._writable

    def seekable(self) -> bool:
        self._check_open()
        return True  # every benchfs file is

    def isatty(self) -> bool:
        self._check_open()
        return False

    def close(self) -> None:
        if self.closed:
            return
        try:
            super().close()  # flush, and mark closed
        finally:
            fd, self._fd = self._fd, -1
            if self._closefd and fd >= 0:
                self._client.close(fd)

    # -- data --------------------------------------------------------------------------

    def readinto(self, buffer: Any) -> int:
        self._check_reading()
        return self._client.readinto(self._fd, buffer)

    def read(self, size: int | None = -1) -> bytes:
        self._check_reading()
        if size is None or size < 0:
            return self.readall()
        return self._client.read(self._fd, size)

    def readall(self) -> bytes:
        self._check_open()
        parts = []
        while True:
            data = self._client.read(self._fd, _ALL)
            if not data:
                break
            parts.append(data)
        return parts[0] if len(parts) == 1 else b"".join(parts)

    def write(self, data: Any) -> int:
        self._check_writing()
        return self._client.write(self._fd, data)

    def seek(self, position: int, whence: int = os.SEEK_SET) -> int:
        self._check_open()
        if isinstance(position, float):
            raise TypeError("an integer is required")
        return self._client.lseek(self._fd, position, whence)

    def tell(self) -> int:
        self._check_open()
        return self._client.lseek(self._fd, 0, os.SEEK_CUR)

    def truncate(self, size: int | None = None) -> int:
        self._check_writing()
        if size is None:
            size = self.tell()
        self._client.ftruncate(self._fd, size)
        return size

    def _dealloc_warn(self, source: object) -> None:
        """What io.FileIO does for the buffered and text objects over it when they are
        collected unclosed."""
        if self._fd >= 0 and self._closefd:
            warnings.warn(f"unclosed file {source!r}", ResourceWarning, stacklevel=2,
                          source=source)

    def __del__(self) -> None:
        if not self.closed:
            self._dealloc_warn(self)
            self.close()

    def __repr__(self) -> str:
        kind = "_io.FileIO"  # what it stands in for
        if self.closed:
            return f"<{kind} [closed]>"
        name = getattr(self, "name", None)
        shown = f"fd={self._fd}" if name is None else f"name={name!r}"
        return f"<{kind} {shown} mode={self.mode!r} closefd={self._closefd!r}>"

    def __getstate__(self) -> Any:
        raise TypeError(f"cannot pickle {type(self).__name__!r} instances")


def _check_open_arguments(mode: Any, buffering: Any, encoding: Any, errors: Any,
                          newline: Any) -> None:
    """The argument types _io.open's argument parser checks."""
    if not isinstance(mode, str):
        raise TypeError(f"open() argument 'mode' must be str, not {type(mode).__name__}")
    if not isinstance(buffering, int):
        raise TypeError(f"'{type(buffering).__name__}' object cannot be interpreted as an "
                        "integer")
    for name, value in (("encoding", encoding), ("errors", errors), ("newline", newline)):
        if value is not None and not isinstance(value, str):
            raise TypeError(f"open() argument '{name}' must be str or None, not "
                            f"{type(value).__name__}")


def _parse_open_mode(mode: str) -> tuple[str, bool, bool, bool, bool]:
    """_io.open's mode checks: (FileIO's mode, text, binary, updating, only reading)."""
    seen = set()
    for char in mode:
        if char not in "xrwa+tb" + ("U" if sys.version_info < (3, 11) else "") or char in seen:
            raise ValueError(f"invalid mode: '{mode}'")
        seen.add(char)
    creating, reading, writing, appending = ("x" in seen, "r" in seen, "w" in seen,
                                             "a" in seen)
    updating, text, binary = "+" in seen, "t" in seen, "b" in seen
    if "U" in seen:  # Python 3.10 only
        if creating or writing or appending or updating:
            raise ValueError("mode U cannot be combined with 'x', 'w', 'a', or '+'")
        warnings.warn("'U' mode is deprecated", DeprecationWarning, 3)
        reading = True
    if text and binary:
        raise ValueError("can't have text and binary mode at once")
    if creating + reading + writing + appending > 1:
        raise ValueError("must have exactly one of create/read/write/append mode")
    raw_mode = ("x" * creating + "r" * reading + "w" * writing + "a" * appending
                + "+" * updating)
    return raw_mode, text, binary, updating, reading and not updating


def open_file(client: Client, file: Any, mode: str = "r", buffering: int = -1,
              encoding: str | None = None, errors: str | None = None,
              newline: str | None = None, closefd: bool = True,
              opener: Opener | None = None) -> Any:
    """``builtins.open`` for a benchfs path or descriptor of ``client``."""
    if not isinstance(file, int):
        file = os.fspath(file)
    _check_open_arguments(mode, buffering, encoding, errors, newline)
    raw_mode, text, binary, updating, only_reading = _parse_open_mode(mode)
    if binary and encoding is not None:
        raise ValueError("binary mode doesn't take an encoding argument")
    if binary and errors is not None:
        raise ValueError("binary mode doesn't take an errors argument")
    if binary and newline is not None:
        raise ValueError("binary mode doesn't take a newline argument")
    if binary and buffering == 1:
        warnings.warn("line buffering (buffering=1) isn't supported in binary mode, the "
                      "default buffer size will be used", RuntimeWarning, 2)
    raw = RawFile(client, file, raw_mode, closefd, opener)
    result: Any = raw
    try:
        line_buffering = buffering == 1 or (buffering < 0 and raw.isatty())
        if line_buffering or buffering < 0:
            buffering = raw._blksize
        if buffering == 0:
            if binary:
                return result
            raise ValueError("can't have unbuffered text I/O")
        if updating:
            result = io.BufferedRandom(raw, buffering)
        elif only_reading:
            result = io.BufferedReader(raw, buffering)
        else:
            result = io.BufferedWriter(raw, buffering)
        if binary:
            return result
        result = io.TextIOWrapper(result, encoding, errors, newline, line_buffering)
        result.mode = mode
        return result
    except BaseException:
        result.close()
        raise


def fdopen(client: Client, fd: int, mode: str = "r", buffering: int = -1,
           encoding: str | None = None, *args: Any, **kwargs: Any) -> Any:
    """``os.fdopen`` for a descriptor of ``client``."""
    if not isinstance(fd, int):
        raise TypeError(f"invalid fd type ({type(fd)}, expected integer)")
    if "b" not in mode:
        encoding = _io.text_encoding(encoding)
    return open_file(client, fd, mode, buffering, encoding, *args, **kwargs)
