"""errno handling: turning a status from the wire into the ``OSError`` ``os`` would raise.

Building ``OSError(errno, strerror, ...)`` rather than a subclass directly lets Python
pick the subclass (FileNotFoundError, PermissionError, ...) exactly as ``os`` does.
"""

from __future__ import annotations

import errno
import os

# Errnos meaning the peer could not be reached or answered nothing usable, rather than
# a file-system answer: callers may retry elsewhere or mark the server dead.
FAILURE_ERRNOS: frozenset[int] = frozenset(
    {
        errno.ETIMEDOUT,
        errno.EIO,
        errno.ENOTCONN,
        errno.ECONNRESET,
        errno.ECONNREFUSED,
        errno.EHOSTUNREACH,
    }
)


def _as_reported(name: object) -> object:
    # os reports os.fspath() of the caller's argument: a Path becomes its str, while
    # bytes stay bytes (so pass the caller's original argument, not a decoded str).
    if name is not None and not isinstance(name, (str, bytes)) and hasattr(name, "__fspath__"):
        return os.fspath(name)
    return name


def os_error(err: int, filename: object = None, filename2: object = None) -> OSError:
    """The ``OSError`` ``os`` raises for ``err`` on ``filename`` (and ``filename2``,
    for two-path calls such as rename: ``'src' -> 'dst'`` in the message).

    Pass the caller's original path argument: os.PathLike objects are reported as
    ``os.fspath`` of them and bytes stay bytes, exactly as ``os`` does.
    """
    filename = _as_reported(filename)
    filename2 = _as_reported(filename2)
    if filename2 is not None:
        # The fourth argument is winerror, ignored on POSIX; filename2 is fifth.
        return OSError(err, os.strerror(err), filename, None, filename2)
    if filename is not None:
        return OSError(err, os.strerror(err), filename)
    return OSError(err, os.strerror(err))


def check_status(status: int, filename: object = None, filename2: object = None) -> None:
    """Raise the ``OSError`` for a non-zero reply status.

    A negative status is taken as ``-errno`` (the kernel and io_uring convention the C
    engine passes through), so either sign names the same error.
    """
    if status != 0:
        raise os_error(abs(status), filename, filename2)


def is_failure(err: int) -> bool:
    """Whether ``err`` means the peer is unreachable rather than a file-system error."""
    return err in FAILURE_ERRNOS
