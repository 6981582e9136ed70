"""open(), io.FileIO and io.open_code, wrapped: under a prefix they return benchfs file
objects (benchfs/fileobj.py), the real io classes over a benchfs raw file."""

from __future__ import annotations

import _io
import abc
import io
from typing import Any

from benchfs.fileobj import Opener, RawFile, open_file, warn_bool_descriptor
from benchfs.interpose import router
from benchfs.interpose.oscalls import like_builtin, plainly_outside, rename_error, shown
from benchfs.interpose.router import Mount

real_open = io.open
real_open_code = io.open_code
RealFileIO = io.FileIO


def _opener_for(mount: Mount, target: Any, caller_path: Any) -> Opener:
    """The opener of a routed path: the client's open of its own name for it."""

    def opener(_name: Any, flags: int) -> int:
        try:
            return mount.client.open(target, flags, 0o666)
        except OSError as exc:
            rename_error(exc, ((target, caller_path),))
            raise

    return opener


class _Rerouted(Exception):
    """A caller's opener handed back a benchfs descriptor for a path outside the
    prefixes (os.open with a benchfs dir_fd): the file object must be benchfs's."""

    def __init__(self, mount: Mount, fd: int) -> None:
        super().__init__(fd)
        self.mount, self.fd = mount, fd


def _watching(opener: Opener) -> Opener:
    def watched(path: Any, flags: int) -> int:
        fd = opener(path, flags)
        owner = router.owner_of_fd(fd) if type(fd) is int else None
        if owner is not None:
            raise _Rerouted(owner, fd)
        return fd

    return watched


def _open(file: Any, mode: str = "r", buffering: int = -1, encoding: str | None = None,
         errors: str | None = None, newline: str | None = None, closefd: bool = True,
         opener: Opener | None = None) -> Any:
    if (type(file) is str and opener is None and not file.startswith(router.triggers)
            and ".." not in file):  # plainly_outside, inlined
        return real_open(file, mode, buffering, encoding, errors, newline, closefd)
    arguments = (mode, buffering, encoding, errors, newline, closefd)
    if isinstance(file, int):
        owner = router.owner_of_fd(file)
        if owner is not None:
            return open_file(owner.client, file, *arguments, opener)
        if type(file) is bool:
            return _named_raw(real_open(_bool_fd(file), *arguments, opener), file)
        return real_open(file, *arguments, opener)
    hit = router.route(file)
    if hit is None or hit[0] is None:
        real_file = file if hit is None else hit[1]
        if opener is None:
            return real_open(real_file, *arguments)
        try:
            return real_open(real_file, *arguments, _watching(opener))
        except _Rerouted as rerouted:
            fd = rerouted.fd
            return open_file(rerouted.mount.client, shown(file), *arguments,
                             lambda _name, _flags: fd)
    mount, target = hit[0], hit[1]
    return open_file(mount.client, shown(file), *arguments,
                     opener if opener is not None else _opener_for(mount, target, file))


def _open_code(path: str) -> Any:
    if type(path) is str and not plainly_outside(path):
        hit = router.route(path)
        mount = None if hit is None else hit[0]
        if hit is not None and mount is not None:
            target = hit[1]
            return open_file(mount.client, path, "rb", opener=_opener_for(mount, target, path))
    return real_open_code(path)


open = like_builtin(_open, real_open)
open_code = like_builtin(_open_code, real_open_code)


class _FileIOType(abc.ABCMeta):
    """io.FileIO's stand-in answers isinstance and issubclass for both kinds of raw
    file: the kernel's and benchfs's."""

    def __instancecheck__(cls, instance: object) -> bool:
        return isinstance(instance, (RealFileIO, RawFile))

    def __subclasscheck__(cls, subclass: type) -> bool:
        return issubclass(subclass, (RealFileIO, RawFile))


class FileIO(RealFileIO, metaclass=_FileIOType):
    """io.FileIO: a benchfs RawFile under a prefix, the kernel's raw file elsewhere."""

    def __new__(cls, file: Any, mode: str = "r", closefd: bool = True,
                opener: Opener | None = None) -> Any:
        hit = None if isinstance(file, (int, float)) else router.route(file)
        if isinstance(file, int) and not isinstance(file, bool):
            owner = router.owner_of_fd(file)
            if owner is not None:
                return RawFile(owner.client, file, mode, closefd, opener)
        mount = None if hit is None else hit[0]
        if hit is not None and mount is not None:
            target = hit[1]
            return RawFile(mount.client, file, mode, closefd,
                           opener if opener is not None else _opener_for(mount, target, file))
        return super().__new__(cls)

    def __init__(self, file: Any, mode: str = "r", closefd: bool = True,
                 opener: Opener | None = None) -> None:
        hit = None if isinstance(file, (int, float)) else router.route(file)
        if hit is not None and hit[0] is None:
            file = hit[1]  # a relative path that left the virtual cwd's prefix
        if type(file) is bool:
            super().__init__(_bool_fd(file), mode, closefd, opener)
            self.name = file
            return
        super().__init__(file, mode, closefd, opener)

    def __repr__(self) -> str:
        shown = super().__repr__()
        if type(self) is FileIO:  # 3.13 names the class: this one stands in for _io's
            return shown.replace("<FileIO ", "<_io.FileIO ", 1)
        return shown


def _bool_fd(fd: bool) -> int:
    """A bool descriptor: the real open would warn (3.13) from this module's line, so
    the warning is given here for the caller's line and the real one gets an int."""
    warn_bool_descriptor()
    return int(fd)


def _named_raw(f: Any, name: Any) -> Any:
    """The file over descriptor ``name``, named so, as the real open names it."""
    raw = getattr(getattr(f, "buffer", f), "raw", getattr(f, "buffer", f))
    raw.name = name
    return f


# The module attributes interposition replaces, and with what.
REPLACEMENTS: tuple[tuple[Any, str, Any], ...] = (
    (io, "open", open), (_io, "open", open),
    (io, "open_code", open_code), (_io, "open_code", open_code),
    (io, "FileIO", FileIO), (_io, "FileIO", FileIO),
)
