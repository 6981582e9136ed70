"""State rebuilt from a journal of calls: the base of the metadata store (DESIGN.md D7).

Every mutating method is ``@journaled``: after it succeeds, the call (method name,
arguments, and the instant it used as "now") is handed to the journal (the
write-ahead log). Replaying the same calls, in order and with the same clock, on
the state they first met rebuilds the same state.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from typing import Any, TypeVar, cast

import msgpack

# Names and symlink targets from os.fsdecode carry surrogates for non-UTF-8 bytes;
# the journal must keep them, as the wire does.
NAMES = "surrogateescape"

Journal = Callable[[bytes], None]
_Method = TypeVar("_Method", bound=Callable[..., Any])


class MetadataError(Exception):
    """A request that fails with an errno, sent back to the client as the reply status."""

    def __init__(self, err: int) -> None:
        super().__init__(err)
        self.errno = err


def record(name: str, args: list[Any], now: int) -> bytes:
    """One journal record: the call ``name(*args)`` made at instant ``now``."""
    packed: bytes = msgpack.packb([name, args, now], unicode_errors=NAMES)
    return packed


class JournaledState:
    """Holds the journal and replays it; subclasses add the ``@journaled`` methods."""

    def __init__(self, journal: Journal | None = None) -> None:
        self._journal = journal
        self._replaying = False
        self._depth = 0
        self.now = time.time_ns()  # the instant of the mutation under way

    def apply(self, record: bytes) -> None:
        """Replay one write-ahead-log or snapshot record."""
        name, args, now = msgpack.unpackb(record, strict_map_key=False, unicode_errors=NAMES)
        self._replaying = True
        self.now = now
        try:
            getattr(self, name)(*args)
        finally:
            self._replaying = False


def journaled(method: _Method) -> _Method:
    """Record a successful call of a mutating method in the write-ahead log.

    Calls made from inside another journaled call are not recorded; the outer
    call's replay makes them again.
    """

    @functools.wraps(method)
    def wrapper(self: JournaledState, *args: Any) -> Any:
        if self._depth == 0 and not self._replaying:
            self.now = time.time_ns()
        self._depth += 1
        try:
            result = method(self, *args)
        finally:
            self._depth -= 1
        if self._depth == 0 and self._journal is not None and not self._replaying:
            self._journal(record(method.__name__, list(args), self.now))
        return result

    return cast(_Method, wrapper)
