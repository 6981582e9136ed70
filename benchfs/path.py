"""``os.path`` for benchfs: ``import benchfs as os`` makes ``os.path`` this module.

The functions that look at the file system (exists, isdir, getsize, realpath,
samefile, …) ask the default client; abspath and relpath use benchfs's working
directory. They are CPython's posixpath/genericpath implementations over the
benchfs primitives, so they answer exactly as os.path does. Every pure string
function (join, split, normpath, splitext, commonpath, …) is posixpath's own.
"""

from __future__ import annotations

import errno
import os
import posixpath
import stat
import sys
from posixpath import (
    altsep,
    basename,
    commonpath,
    commonprefix,
    curdir,
    defpath,
    devnull,
    dirname,
    expanduser,
    expandvars,
    extsep,
    isabs,
    join,
    normcase,
    normpath,
    pardir,
    pathsep,
    samestat,
    sep,
    split,
    splitdrive,
    splitext,
    supports_unicode_filenames,
)
from typing import Any

from benchfs import _api

if sys.version_info >= (3, 12):
    from posixpath import isjunction, splitroot
if sys.version_info >= (3, 13):
    from posixpath import isdevdrive

__all__ = [
    "abspath", "altsep", "basename", "commonpath", "commonprefix", "curdir", "defpath",
    "devnull", "dirname", "exists", "expanduser", "expandvars", "extsep", "getatime",
    "getctime", "getmtime", "getsize", "isabs", "isdir", "isfile", "islink", "ismount", "join",
    "lexists", "normcase", "normpath", "pardir", "pathsep", "realpath", "relpath", "samefile",
    "sameopenfile", "samestat", "sep", "split", "splitdrive", "splitext",
    "supports_unicode_filenames",
]
if sys.version_info >= (3, 12):
    __all__ += ["isjunction", "splitroot"]
if sys.version_info >= (3, 13):
    __all__ += ["isdevdrive"]

# realpath(strict=ALLOW_MISSING), where this Python has it (3.14 and some backports,
# whose strict mode also refuses a non-directory followed by more components).
ALLOW_MISSING: Any = getattr(posixpath, "ALLOW_MISSING", object())
_STRICT_NOTDIR = hasattr(posixpath, "ALLOW_MISSING")
if hasattr(posixpath, "ALLOW_MISSING"):
    __all__ += ["ALLOW_MISSING"]


# -- questions about one path (genericpath) -------------------------------------------------

def exists(path: Any) -> bool:
    """Test whether a path exists. Returns False for broken symbolic links."""
    try:
        _api.stat(path)
    except (OSError, ValueError):
        return False
    return True


def lexists(path: Any) -> bool:
    """Test whether a path exists. Returns True for broken symbolic links."""
    try:
        _api.lstat(path)
    except (OSError, ValueError):
        return False
    return True


def isfile(path: Any) -> bool:
    """Test whether a path is a regular file."""
    try:
        result = _api.stat(path)
    except (OSError, ValueError):
        return False
    return stat.S_ISREG(result.st_mode)


def isdir(s: Any) -> bool:
    """Return true if the pathname refers to an existing directory."""
    try:
        result = _api.stat(s)
    except (OSError, ValueError):
        return False
    return stat.S_ISDIR(result.st_mode)


def islink(path: Any) -> bool:
    """Test whether a path is a symbolic link."""
    try:
        result = _api.lstat(path)
    except (OSError, ValueError, AttributeError):
        return False
    return stat.S_ISLNK(result.st_mode)


def getsize(filename: Any) -> int:
    """Return the size of a file, reported by os.stat()."""
    return _api.stat(filename).st_size


def getmtime(filename: Any) -> float:
    """Return the last modification time of a file, reported by os.stat()."""
    return _api.stat(filename).st_mtime


def getatime(filename: Any) -> float:
    """Return the last access time of a file, reported by os.stat()."""
    return _api.stat(filename).st_atime


def getctime(filename: Any) -> float:
    """Return the metadata change time of a file, reported by os.stat()."""
    return _api.stat(filename).st_ctime


def samefile(f1: Any, f2: Any) -> bool:
    """Test whether two pathnames reference the same actual file or directory."""
    return samestat(_api.stat(f1), _api.stat(f2))


def sameopenfile(fp1: int, fp2: int) -> bool:
    """Test whether two open file objects reference the same file."""
    return samestat(_api.fstat(fp1), _api.fstat(fp2))


def ismount(path: Any) -> bool:
    """Test whether a path is a mount point: in benchfs, only the root is."""
    try:
        s1 = _api.lstat(path)
    except (OSError, ValueError):
        return False
    if stat.S_ISLNK(s1.st_mode):
        return False
    path = os.fspath(path)
    parent = realpath(join(path, b".." if isinstance(path, bytes) else ".."))
    try:
        s2 = _api.lstat(parent)
    except (OSError, ValueError):
        return False
    return s1.st_dev != s2.st_dev or s1.st_ino == s2.st_ino


# -- paths that depend on the working directory --------------------------------------------

def abspath(path: Any) -> Any:
    """Return an absolute path, relative to benchfs's working directory."""
    path = os.fspath(path)
    if not isabs(path):
        cwd = _api.getcwdb() if isinstance(path, bytes) else _api.getcwd()
        path = join(cwd, path)
    return normpath(path)


def relpath(path: Any, start: Any = None) -> Any:
    """Return a relative version of a path (``start`` defaults to benchfs's cwd)."""
    if not path:
        raise ValueError("no path specified")
    path = os.fspath(path)
    this_curdir: Any
    this_sep: Any
    this_pardir: Any
    if isinstance(path, bytes):
        this_curdir, this_sep, this_pardir = b".", b"/", b".."
    else:
        this_curdir, this_sep, this_pardir = ".", "/", ".."
    start = this_curdir if start is None else os.fspath(start)
    try:
        start_list = [x for x in abspath(start).split(this_sep) if x]
        path_list = [x for x in abspath(path).split(this_sep) if x]
        common = len(commonprefix([start_list, path_list]))
        rel_list = [this_pardir] * (len(start_list) - common) + path_list[common:]
        if not rel_list:
            return this_curdir
        return join(*rel_list)
    except (TypeError, AttributeError, BytesWarning, DeprecationWarning):
        # genericpath._check_arg_types: os's message for mixed str and bytes.
        _check_arg_types("relpath", path, start)
        raise


def _check_arg_types(funcname: str, *args: Any) -> None:
    has_str = has_bytes = False
    for arg in args:
        if isinstance(arg, str):
            has_str = True
        elif isinstance(arg, bytes):
            has_bytes = True
        else:
            raise TypeError(f"{funcname}() argument must be str, bytes, or "
                            f"os.PathLike object, not {arg.__class__.__name__!r}") from None
    if has_str and has_bytes:
        raise TypeError("Can't mix strings and bytes in path components") from None


def realpath(filename: Any, *, strict: Any = False) -> Any:
    """Return the canonical path of the specified filename, eliminating any
    symbolic links encountered in the path (CPython 3.13's algorithm)."""
    filename = os.fspath(filename)
    this_curdir: Any
    this_sep: Any
    this_pardir: Any
    if isinstance(filename, bytes):
        this_sep, this_curdir, this_pardir = b"/", b".", b".."
        getcwd: Any = _api.getcwdb
    else:
        this_sep, this_curdir, this_pardir = "/", ".", ".."
        getcwd = _api.getcwd
    if strict is ALLOW_MISSING:
        ignored_error: Any = FileNotFoundError
        strict = True
    elif strict:
        ignored_error = ()
    else:
        ignored_error = OSError

    # Unresolved parts, reversed; None marks "the symlink popped next is resolved".
    rest: list[Any] = filename.split(this_sep)[::-1]
    path = this_sep if filename.startswith(this_sep) else getcwd()
    seen: dict[Any, Any] = {}  # symlink -> its resolved target (None: being resolved)
    while rest:
        name = rest.pop()
        if name is None:
            seen[rest.pop()] = path
            continue
        if not name or name == this_curdir:
            continue
        if name == this_pardir:
            path = path[:path.rindex(this_sep)] or this_sep
            continue
        newpath = path + name if path == this_sep else path + this_sep + name
        try:
            st_mode = _api.lstat(newpath).st_mode
            if not stat.S_ISLNK(st_mode):
                if (_STRICT_NOTDIR and strict and not stat.S_ISDIR(st_mode)
                        and len(rest) > 2 * rest.count(None)):  # more parts to come
                    raise OSError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), newpath)
                path = newpath
                continue
            if newpath in seen:
                path = seen[newpath]
                if path is not None:
                    continue
                if strict:
                    _api.stat(newpath)  # raises ELOOP
                path = newpath
                continue
            target = _api.readlink(newpath)
        except ignored_error:
            path = newpath
            continue
        seen[newpath] = None
        if target.startswith(this_sep):
            path = this_sep
        rest.append(newpath)
        rest.append(None)
        rest.extend(target.split(this_sep)[::-1])
    return path
