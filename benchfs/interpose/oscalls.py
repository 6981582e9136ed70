"""The os functions, wrapped: each call goes to benchfs or to the real os, decided from
its path, dir_fd or descriptor arguments alone (router.py).

A call whose path is plainly outside every prefix costs one prefix test before the
real function; everything else takes the general dispatch. Composite functions of os
(walk, fwalk, makedirs, removedirs, renames) and os.path are not wrapped: they are
Python over these primitives, looked up in os's namespace at every call.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Callable
from typing import Any

from benchfs.client.fdtable import OPEN_NUMBERS
from benchfs.core.errors import os_error
from benchfs.interpose import argcheck, router
from benchfs.interpose.router import Mount

Wrapper = Callable[..., Any]
_UNCHANGED = object()  # "call the real function with the caller's own argument"
_ABSENT = object()  # a wrapper's first argument, not given (os says what that means)


def unsupported(function: str, filename: object = None) -> OSError:
    """The error for what benchfs cannot do, instead of touching the local disk."""
    return OSError(errno.EOPNOTSUPP, f"benchfs does not support {function} on its files",
                   filename)


def plainly_outside(text: str) -> bool:
    """The fast test: a str path that no prefix can be under, with no normalising
    (router.triggers). path_function and open inline it: one call less per call."""
    return not text.startswith(router.triggers) and ".." not in text


def is_absolute(path: Any) -> bool:
    try:
        value = os.fspath(path)
    except TypeError:
        return False
    return value.startswith("/") if isinstance(value, str) else value.startswith(b"/")


def where(path: Any, dir_fd: Any = None) -> tuple[Mount | None, Any]:
    """(mount, the client's argument), or (None, the real os's argument or _UNCHANGED)."""
    if isinstance(path, int):
        owner = router.owner_of_fd(path)
        return (owner, path) if owner is not None else (None, _UNCHANGED)
    if path is None:  # the working directory (listdir(), scandir())
        s = router._state
        return (s.cwd_mount, None) if s.cwd_mount is not None else (None, _UNCHANGED)
    if dir_fd is not None and not is_absolute(path):
        owner = router.owner_of_fd(dir_fd) if isinstance(dir_fd, int) else None
        return (owner, path) if owner is not None else (None, _UNCHANGED)
    if isinstance(path, (bytearray, memoryview)):  # bytes-like: os warns (<3.12) or refuses
        hit = router.route(bytes(path))
        return (None, _UNCHANGED) if hit is None or hit[0] is None else hit
    hit = router.route(path)
    if hit is None:
        return None, _UNCHANGED
    return hit


def shown(path: Any) -> Any:
    """How os names a path argument in its errors and results."""
    try:
        return os.fspath(path)
    except TypeError:
        return path


def rename_error(exc: OSError, pairs: tuple[tuple[Any, Any], ...]) -> None:
    """Errors name the caller's paths, not the client's (``/bfs/a``, not ``/a``)."""
    for attribute in ("filename", "filename2"):
        value = getattr(exc, attribute)
        for client_path, caller_path in pairs:
            if value is not None and type(value) is type(client_path) and value == client_path:
                setattr(exc, attribute, shown(caller_path))
                break


def _call_client(mount: Mount, name: str, args: tuple[Any, ...], kwargs: dict[str, Any],
                 pairs: tuple[tuple[Any, Any], ...], filename: object) -> Any:
    method = getattr(mount.client, name, None)
    if method is None:
        raise unsupported(f"os.{name}", shown(filename))
    try:
        return method(*args, **kwargs)
    except OSError as exc:
        rename_error(exc, pairs)
        raise


def _replaced(args: tuple[Any, ...], kwargs: dict[str, Any], param: str,
              value: Any) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """The arguments with the path (the first one) replaced."""
    if args:
        return (value, *args[1:]), kwargs
    return args, {**kwargs, param: value}


Adapt = Callable[[Mount, Any, Any, Any], Any]


def path_function(real: Wrapper, name: str, param: str = "path",
                  after: Adapt | None = None, lists: bool = False) -> Wrapper:
    """A wrapper of an os function whose first argument is a path (or a descriptor,
    or None for the working directory), with an optional dir_fd keyword. ``lists``:
    its results hold paths under the argument (scandir), shown as the caller wrote it."""

    def wrapper(first: Any = _ABSENT, /, *rest: Any, **kwargs: Any) -> Any:
        # The first argument on its own (no *args tuple to build) and plainly_outside
        # inlined: the common call costs a few tests. A dir_fd may route a relative path.
        if (type(first) is str and not first.startswith(router.triggers)
                and ".." not in first):
            if not kwargs:
                return real(first, *rest) if rest else real(first)  # no tuple to unpack
            if kwargs.get("dir_fd") is None:
                return real(first, *rest, **kwargs)
        args = rest if first is _ABSENT else (first, *rest)
        path = args[0] if args else kwargs.get(param)
        mount, target = where(path, kwargs.get("dir_fd"))
        if mount is None:
            if target is _UNCHANGED:
                return real(*args, **kwargs)
            real_args, real_kwargs = _replaced(args, kwargs, param, target)
            return real(*real_args, **real_kwargs)
        argcheck.check(real, args, kwargs, ((0, param),))
        call_args, call_kwargs = (args, kwargs) if target is path else _replaced(
            args, kwargs, param, target)
        if lists and target is not path:
            listed_as = bytes(path) if isinstance(path, (bytearray, memoryview)) else path
            call_kwargs = {**call_kwargs, "shown_as": shown(listed_as)}
        result = _call_client(mount, name, call_args, call_kwargs, ((target, path),), path)
        return result if after is None else after(mount, path, target, result)

    return like_builtin(wrapper, real)


def like_builtin(wrapper: Wrapper, real: Wrapper) -> Wrapper:
    """The wrapper under the real function's name, doc and signature, as a staticmethod
    object: callable (3.10+) and, like a builtin, not made a method when a class stores
    it (``open = io.open``, tempfile's ``_unlink = os.unlink``). Its ``__wrapped__`` is
    the wrapper, whose own is the real function (``inspect.unwrap`` gives that)."""
    wrapper.__name__ = wrapper.__qualname__ = real.__name__
    wrapper.__doc__ = real.__doc__
    wrapper.__wrapped__ = real  # type: ignore[attr-defined]
    return staticmethod(wrapper)  # copies the name and doc


def _readlink_after(mount: Mount, path: Any, target: Any, result: Any) -> Any:
    """An absolute symlink target is a benchfs path: show it under the prefix."""
    if isinstance(result, str) and result.startswith("/"):
        return mount.outside(result)
    if isinstance(result, bytes) and result.startswith(b"/"):
        return os.fsencode(mount.outside(os.fsdecode(result)))
    return result


def two_path_function(real: Wrapper, name: str) -> Wrapper:
    """rename, replace, link: both paths on one cluster, or EXDEV (so shutil.move
    copies across the boundary)."""

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if (len(args) == 2 and not kwargs and type(args[0]) is str and type(args[1]) is str
                and plainly_outside(args[0]) and plainly_outside(args[1])):
            return real(*args)
        src = args[0] if args else kwargs.get("src")
        dst = args[1] if len(args) > 1 else kwargs.get("dst")
        src_mount, src_target = where(src, kwargs.get("src_dir_fd"))
        dst_mount, dst_target = where(dst, kwargs.get("dst_dir_fd"))
        if src_mount is not None or dst_mount is not None:
            argcheck.check(real, args, kwargs, ((0, "src"), (1, "dst")))
        if src_mount is not dst_mount:
            raise os_error(errno.EXDEV, shown(src), shown(dst))
        rest = {k: v for k, v in kwargs.items() if k not in ("src", "dst")}
        if src_mount is None:
            return real(src if src_target is _UNCHANGED else src_target,
                        dst if dst_target is _UNCHANGED else dst_target, **rest)
        return _call_client(src_mount, name, (src_target, dst_target), rest,
                            ((src_target, src), (dst_target, dst)), src)

    return like_builtin(wrapper, real)


def symlink_function(real: Wrapper, name: str) -> Wrapper:
    """symlink(src, dst): dst is where the link goes; an absolute src under the same
    prefix is stored as the benchfs path it names, so benchfs can follow it."""

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if (len(args) == 2 and not kwargs and type(args[1]) is str
                and plainly_outside(args[1])):
            return real(*args)
        src = args[0] if args else kwargs.get("src")
        dst = args[1] if len(args) > 1 else kwargs.get("dst")
        rest = {k: v for k, v in kwargs.items() if k not in ("src", "dst")}
        extra = args[2:]
        mount, target = where(dst, kwargs.get("dir_fd"))
        if mount is None:
            return real(src, dst if target is _UNCHANGED else target, *extra, **rest)
        argcheck.check(real, args, kwargs, ((1, "dst"),))
        content = bytes(src) if isinstance(src, (bytearray, memoryview)) else src
        hit = router.route(src) if is_absolute(src) else None
        if hit is not None and hit[0] is mount:
            content = hit[1]
        return _call_client(mount, "symlink", (content, target, *extra), rest,
                            ((target, dst), (content, src)), dst)

    return like_builtin(wrapper, real)


def _descriptor_of(fd: Any) -> Any:
    """fsync and fdatasync also take objects with fileno()."""
    if type(fd) is not int and hasattr(fd, "fileno"):
        return fd.fileno()
    return fd


def fd_function(real: Wrapper, name: str, takes_fileno: bool = False) -> Wrapper:
    """A wrapper of an os function whose first argument is a descriptor."""

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        # The caller's own tuple goes on to the real function (cheaper than a new one).
        fd = args[0] if args else kwargs.get("fd")
        if takes_fileno:
            fd = _descriptor_of(fd)
        if type(fd) is int and fd in OPEN_NUMBERS:  # else plainly not benchfs's
            owner = router.owner_of_fd(fd)
            if owner is not None:
                argcheck.check(real, args, kwargs, ((0, "fd"),))
                return _call_client(owner, name, args, kwargs, (), None)
        return real(*args, **kwargs)

    return like_builtin(wrapper, real)


def refused_on_benchfs(real: Wrapper, name: str, err: int = errno.EOPNOTSUPP) -> Wrapper:
    """A descriptor function benchfs cannot do: a clear OSError on its descriptors."""
    name = name if "." in name else f"os.{name}"

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        # dup2 also refuses to put a kernel file at a benchfs number.
        numbers = [_descriptor_of(fd) for fd in (*args[:2], *kwargs.values())]
        if any(type(fd) is int and router.owner_of_fd(fd) is not None for fd in numbers):
            if err == errno.ENOLCK:
                raise OSError(err, f"benchfs has no locks: {name} on a benchfs file")
            raise OSError(err, f"benchfs does not support {name} on its files")
        return real(*args, **kwargs)

    return like_builtin(wrapper, real)


# -- the working directory ------------------------------------------------------------

def chdir_function(real: Wrapper, name: str) -> Wrapper:
    def chdir(path: Any) -> None:
        mount, target = where(path)
        if mount is None:
            real(path if target is _UNCHANGED else target)
            router.set_real_cwd()
            return
        argcheck.check(real, (path,), {}, ((0, "path"),))
        _call_client(mount, "chdir", (target,), {}, ((target, path),), path)
        router.set_virtual_cwd(mount, mount.client.cwd)

    return like_builtin(chdir, real)


def fchdir_function(real: Wrapper, name: str) -> Wrapper:
    def fchdir(fd: Any) -> None:
        owner = router.owner_of_fd(fd) if type(fd) is int else None
        if owner is None:
            real(fd)
            router.set_real_cwd()
            return
        argcheck.check(real, (fd,), {}, ((0, "fd"),))
        _call_client(owner, "fchdir", (fd,), {}, (), None)
        router.set_virtual_cwd(owner, owner.client.cwd)

    return like_builtin(fchdir, real)


def getcwd_function(real: Wrapper, name: str) -> Wrapper:
    as_bytes = name == "getcwdb"

    def getcwd() -> Any:
        virtual = router.virtual_cwd()
        if virtual is None:
            return real()
        return os.fsencode(virtual) if as_bytes else virtual

    return like_builtin(getcwd, real)


def closerange_function(real: Wrapper, name: str) -> Wrapper:
    def closerange(fd_low: int, fd_high: int, /) -> None:
        for mount in router._state.mounts:
            client = mount.connected()
            if client is not None:
                client.closerange(fd_low, fd_high)
        real(fd_low, fd_high)

    return like_builtin(closerange, real)


# -- copies between descriptors -------------------------------------------------------

def _read(fd: int, count: int, offset: int | None) -> bytes:
    owner = router.owner_of_fd(fd)
    source: Any = owner.client if owner is not None else _REAL
    data: bytes = source.read(fd, count) if offset is None else source.pread(fd, count, offset)
    return data


def _write_all(fd: int, data: bytes, offset: int | None) -> int:
    owner = router.owner_of_fd(fd)
    target: Any = owner.client if owner is not None else _REAL
    done = 0
    view = memoryview(data)
    while done < len(data):
        piece = view[done:]
        written = (target.write(fd, piece) if offset is None
                   else target.pwrite(fd, piece, offset + done))
        if written <= 0:
            break
        done += written
    return done


def _copy(real: Wrapper, in_fd: Any, out_fd: Any, count: Any,
          in_offset: Any, out_offset: Any, args: tuple[Any, ...],
          kwargs: dict[str, Any]) -> Any:
    ours = [fd for fd in (in_fd, out_fd) if type(fd) is int and router.owner_of_fd(fd)]
    if not ours:
        return real(*args, **kwargs)
    # A copy through this process: benchfs has no server-side copy between files yet.
    data = _read(in_fd, count, in_offset)
    if not data:
        return 0
    written = _write_all(out_fd, data, out_offset)
    if written < len(data) and in_offset is None:
        _REAL_LSEEK(in_fd, written - len(data), os.SEEK_CUR)  # hand back what was not sent
    return written


def sendfile_function(real: Wrapper, name: str) -> Wrapper:
    def sendfile(out_fd: int, in_fd: int, offset: int | None, count: int) -> int:
        return int(_copy(real, in_fd, out_fd, count, offset, None,
                         (out_fd, in_fd, offset, count), {}))

    return like_builtin(sendfile, real)


def copy_range_function(real: Wrapper, name: str) -> Wrapper:
    """copy_file_range and splice: (src, dst, count, offset_src, offset_dst, ...)."""

    def copy(src: int, dst: int, count: int, offset_src: int | None = None,
             offset_dst: int | None = None, *rest: Any, **kwargs: Any) -> int:
        return int(_copy(real, src, dst, count, offset_src, offset_dst,
                         (src, dst, count, offset_src, offset_dst, *rest), kwargs))

    return like_builtin(copy, real)


class _RealOs:
    """The real descriptor functions, for copies with a kernel end."""

    read = staticmethod(os.read)
    pread = staticmethod(os.pread)
    write = staticmethod(os.write)
    pwrite = staticmethod(os.pwrite)


_REAL = _RealOs()
_REAL_LSEEK = os.lseek

# -- the table ------------------------------------------------------------------------

def _readlink_function(real: Wrapper, name: str) -> Wrapper:
    return path_function(real, name, after=_readlink_after)


def _scandir_function(real: Wrapper, name: str) -> Wrapper:
    return path_function(real, name, lists=True)


def _fileno_function(real: Wrapper, name: str) -> Wrapper:
    return fd_function(real, name, takes_fileno=True)


def _lock_refused(real: Wrapper, name: str) -> Wrapper:
    return refused_on_benchfs(real, name, errno.ENOLCK)


PATH_FUNCTIONS = ("stat", "lstat", "access", "chmod", "chown", "lchown", "utime", "truncate",
                  "statvfs", "getxattr", "setxattr", "removexattr", "listxattr", "mkdir",
                  "rmdir", "unlink", "remove", "listdir", "open", "mkfifo", "mknod",
                  "chroot", "pathconf", "lchmod", "chflags", "lchflags")
FD_FUNCTIONS = ("read", "write", "pread", "pwrite", "readv", "writev", "preadv", "pwritev",
                "lseek", "fstat", "fstatvfs", "ftruncate", "fchmod", "fchown",
                "posix_fallocate", "posix_fadvise", "close", "dup", "readinto")


def wrappers() -> dict[str, Wrapper]:
    """os name -> wrapper, for every name this host's os has."""
    table: dict[str, Wrapper] = {}

    def add(name: str, make: Callable[[Wrapper, str], Wrapper]) -> None:
        real = getattr(os, name, None)
        if real is not None:
            table[name] = make(real, name)

    for name in PATH_FUNCTIONS:
        add(name, path_function)
    add("readlink", _readlink_function)
    add("scandir", _scandir_function)
    for name in FD_FUNCTIONS:
        add(name, fd_function)
    for name in ("fsync", "fdatasync"):
        add(name, _fileno_function)
    for name in ("rename", "replace", "link"):
        add(name, two_path_function)
    add("symlink", symlink_function)
    add("lockf", _lock_refused)
    add("dup2", refused_on_benchfs)
    add("fpathconf", refused_on_benchfs)
    add("chdir", chdir_function)
    add("fchdir", fchdir_function)
    add("getcwd", getcwd_function)
    add("getcwdb", getcwd_function)
    add("closerange", closerange_function)
    add("sendfile", sendfile_function)
    add("copy_file_range", copy_range_function)
    add("splice", copy_range_function)
    return table
