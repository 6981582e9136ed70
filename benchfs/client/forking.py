"""Clients across ``os.fork()``: no engine is copied into a child.

UCX runs an async thread (connection setup, keepalive) over an epoll set. A fork does not
copy the thread but shares the epoll set with the parent, so a connection the child
opens is reported to the parent's thread and never completes (the child's calls end
in ETIMEDOUT). So before a fork every live client closes its engine, holding its lock
so no call is halfway, and after it the parent and the child each make a new one; the
connections are opened again on first use. Descriptors, offsets and the working directory
are Python state and carry over. ``subprocess`` does not run these handlers (it forks
and execs in C), so only a real ``os.fork`` (multiprocessing's fork and forkserver)
pays for reconnecting.
"""

from __future__ import annotations

import os
import weakref
from typing import Protocol


class Forkable(Protocol):
    def suspend_engine(self) -> bool: ...
    def resume_engine(self) -> None: ...


_live: weakref.WeakSet[Forkable] = weakref.WeakSet()
_suspended: list[Forkable] = []


def track(client: Forkable) -> None:
    _live.add(client)


def _before_fork() -> None:
    _suspended.extend(client for client in list(_live) if client.suspend_engine())


def _after_fork() -> None:
    while _suspended:
        _suspended.pop().resume_engine()


os.register_at_fork(before=_before_fork, after_in_parent=_after_fork,
                    after_in_child=_after_fork)
