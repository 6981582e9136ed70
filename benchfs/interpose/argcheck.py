"""Argument checks by the real os, before a call goes to benchfs.

os parses every argument (types, keywords, combinations, 3.10-3.11's DeprecationWarning
for bytearray paths) before its system call, so the real function called with the
caller's arguments, its paths replaced by one that fails in the kernel without touching
anything (a name under /dev/null: ENOTDIR) and its descriptors by a number no process
has (EBADF), raises exactly what os raises for wrong arguments, and an OSError when
they are right.
Only calls routed to benchfs pay for it: one failing system call.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

_PROBE = "/dev/null/benchfs-argument-check"
_PROBE_BYTES = os.fsencode(_PROBE)
_NO_DESCRIPTOR = 2**31 - 1  # EBADF (above any RLIMIT_NOFILE); -1 is a ValueError for some


def _probe(value: Any) -> Any:
    """What stands in for a path or descriptor argument: the same kind, harmless."""
    if type(value) is int:
        return _NO_DESCRIPTOR
    if isinstance(value, str):
        return _PROBE
    if isinstance(value, bytes):
        return _PROBE_BYTES
    if isinstance(value, (bytearray, memoryview)):
        return type(value)(_PROBE_BYTES)
    if hasattr(type(value), "__fspath__"):
        try:
            return _probe(os.fspath(value))
        except TypeError:
            return value  # os raises its own error for a bad __fspath__
    return value  # a wrong type: os says what it says


def check(real: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any],
          params: tuple[tuple[int, str], ...]) -> None:
    """Raise what ``real`` raises for these arguments; ``params`` are the (position,
    keyword) of its path and descriptor arguments."""
    probe_args = list(args)
    probe_kwargs = dict(kwargs)
    for position, keyword in params:
        if position < len(probe_args):
            probe_args[position] = _probe(probe_args[position])
        elif keyword in probe_kwargs:
            probe_kwargs[keyword] = _probe(probe_kwargs[keyword])
    try:
        real(*probe_args, **probe_kwargs)
    except OSError:
        return
