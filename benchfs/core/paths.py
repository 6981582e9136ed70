"""Path conversion and lexical normalisation for the benchfs namespace.

benchfs paths are absolute, ``/``-separated ``str`` values. Conversion mirrors what
the ``os`` module does with its path arguments (same TypeError/ValueError messages) so
that ``import benchfs as os`` fails the same way the real module does.
"""

from __future__ import annotations

import errno
import os
import sys
import warnings
from typing import Union

# typing.Union rather than ``|`` so the alias evaluates on 3.10 too.
PathArg = Union[str, bytes, "os.PathLike[str]", "os.PathLike[bytes]"]

NAME_MAX = 255
PATH_MAX = 4096  # includes the terminating NUL, so the longest usable path is 4095 bytes

# The message for an embedded NUL in a str path changed in 3.13; bytes always had the
# prefixed form.
_NUL_STR_PREFIXED = sys.version_info >= (3, 13)
# bytearray and other buffers were deprecated path types until 3.12 removed them.
_BUFFER_PATHS_ALLOWED = sys.version_info < (3, 12)


# Functions whose path may also be None (the working directory) say so in their errors.
_NULLABLE = frozenset({"listdir", "scandir"})


def _type_error(path: object, func: str, allow_fd: bool) -> TypeError:
    kinds = "string, bytes, os.PathLike or integer" if allow_fd else "string, bytes or os.PathLike"
    if func in _NULLABLE:
        kinds = "string, bytes, os.PathLike, integer or None"
    return TypeError(f"{func}: path should be {kinds}, not {type(path).__name__}")


def fspath_of(path: object, func: str, allow_fd: bool = False) -> str:
    """Convert a path argument of ``os.<func>`` to ``str`` the way ``os`` does.

    ``allow_fd`` only selects the wording of the TypeError (functions that also take a
    file descriptor say "or integer"); integers are never converted here, so callers
    that accept fds must dispatch on ``int`` before calling.

    Non-UTF-8 bytes become surrogate escapes (``os.fsdecode``); a str that cannot be
    encoded for the file system raises UnicodeEncodeError, as ``os`` does.
    """
    value: object = path
    if type(value) is str and value.isascii() and "\0" not in value:
        return value  # the common case: nothing to convert or refuse
    if not isinstance(value, (str, bytes)):
        if _BUFFER_PATHS_ALLOWED and isinstance(value, bytearray | memoryview):
            warnings.warn(str(_type_error(value, func, allow_fd)), DeprecationWarning, stacklevel=2)
            value = bytes(value)
        elif hasattr(type(value), "__fspath__"):
            # os.fspath raises the "expected X.__fspath__() to return str or bytes" error.
            value = os.fspath(value)  # type: ignore[call-overload]
        else:
            raise _type_error(path, func, allow_fd)
    if isinstance(value, bytes):
        if b"\0" in value:
            raise ValueError(f"{func}: embedded null character in path")
        return os.fsdecode(value)
    assert isinstance(value, str)
    if "\0" in value:
        raise ValueError(
            f"{func}: embedded null character in path" if _NUL_STR_PREFIXED
            else "embedded null byte"
        )
    os.fsencode(value)  # a lone surrogate is unencodable: UnicodeEncodeError, like os
    return value


def normalize(path: str, cwd: str = "/") -> str:
    """The absolute, lexically normalised form of ``path`` relative to ``cwd``.

    ``..`` is resolved lexically (``/a/b/..`` is ``/a`` even if ``b`` is a symlink or a
    file), which differs from Linux for ``file/..`` (ENOTDIR) and symlinks; benchfs
    accepts that. The empty path normalises to ``cwd``: callers must reject ``""`` with
    ENOENT first, as ``os`` does.
    """
    if not path.startswith("/"):
        if not cwd.startswith("/"):
            raise ValueError(f"cwd must be absolute, not {cwd!r}")
        path = cwd + "/" + path
    parts: list[str] = []
    for part in path.split("/"):
        if part == "" or part == ".":
            continue
        if part == "..":
            if parts:
                parts.pop()
            continue
        parts.append(part)
    return "/" + "/".join(parts)


def is_normalized(path: str) -> bool:
    """Whether ``normalize(path) == path``, without building the normal form: an
    absolute path with no empty, ``.`` or ``..`` component and no trailing slash
    (servers check this for every path they are sent)."""
    if path == "/":
        return True
    return (path.startswith("/") and not path.endswith(("/", "/.", "/.."))
            and "//" not in path and "/./" not in path and "/../" not in path)


def had_trailing_slash(path: str) -> bool:
    """Whether the caller's ``path`` syntactically names a directory.

    True for a trailing ``/``, ``/.`` or ``/..`` (and for ``.`` and ``..``): Linux then
    requires the target to be a directory (ENOTDIR otherwise), but normalisation drops
    that information. Paths made only of slashes name the root and give False.
    """
    if path.strip("/") == "":
        return False
    return (
        path.endswith(("/", "/.", "/.."))
        or path in (".", "..")
    )


def split(path: str) -> tuple[str, str]:
    """A normalised path as ``(parent, name)``; the root gives ``("/", "")``."""
    if path == "/":
        return "/", ""
    parent, _, name = path.rpartition("/")
    return (parent or "/"), name


def is_ancestor(ancestor: str, path: str) -> bool:
    """Whether normalised ``ancestor`` is a strict ancestor of normalised ``path``."""
    if ancestor == path:
        return False
    if ancestor == "/":
        return path.startswith("/")
    # The separator check keeps "/ab" from counting as under "/a".
    return path.startswith(ancestor + "/")


def ancestors(path: str) -> list[str]:
    """The strict ancestors of a normalised path, root first: ``/a/b/c`` gives
    ``["/", "/a", "/a/b"]``; the root has none."""
    if path == "/":
        return []
    parts = path.split("/")[1:-1]
    result = ["/"]
    prefix = ""
    for part in parts:
        prefix += "/" + part
        result.append(prefix)
    return result


def check_name_lengths(path: str, whole_path: bool = True) -> int | None:
    """``errno.ENAMETOOLONG`` when a component exceeds NAME_MAX bytes or the whole path
    exceeds PATH_MAX - 1 bytes (file-system encoded), else None. ``whole_path`` False
    checks the components only.

    Call it on the caller's path before normalisation: Linux checks what it was given,
    including components that ``..`` would later remove.
    """
    if len(path) <= NAME_MAX // 4:
        return None  # no character encodes to more than 4 bytes
    encoded = os.fsencode(path)
    if whole_path and len(encoded) > PATH_MAX - 1:
        return errno.ENAMETOOLONG
    if any(len(component) > NAME_MAX for component in encoded.split(b"/")):
        return errno.ENAMETOOLONG
    return None
