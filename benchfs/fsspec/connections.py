"""One client per cluster and process, shared by every BenchFileSystem that names it.

fsspec makes a file-system instance per thread (its instance cache is keyed by the
thread), and dask or zarr may make many more; each ``Client`` owns an engine and a
connection to every server, so instances share one per (registry, settings). The
pool carries over into a forked child: every client makes a new engine on each side
of the fork (benchfs.client.forking), so a fork worker reconnects on first use.
"""

from __future__ import annotations

import errno
import os
import threading

from benchfs._api import connect
from benchfs.client.client import Client
from benchfs.core.errors import os_error
from benchfs.settings import ClientSettings

_clients: dict[tuple[str, ClientSettings], Client] = {}
_lock = threading.Lock()


def _new_lock_after_fork() -> None:
    global _lock
    # Another thread of the parent may have held the lock at the fork.
    _lock = threading.Lock()


os.register_at_fork(after_in_child=_new_lock_after_fork)


def client_for(registry: str, settings: ClientSettings) -> Client:
    """This process's client of the cluster in ``registry``, connected on first use.

    A registry that names no cluster fails with ENOTCONN, never with the
    FileNotFoundError of its missing files: callers such as zarr read
    FileNotFoundError as "this key does not exist" and would carry on."""
    key = (registry, settings)
    with _lock:
        client = _clients.get(key)
        if client is None:
            try:
                client = connect(registry, settings)
            except OSError as exc:
                raise os_error(errno.ENOTCONN, registry) from exc
            _clients[key] = client
        return client


def disconnect_all() -> None:
    """Close this process's clients (the next use connects again)."""
    with _lock:
        for client in _clients.values():
            client.close_client()
        _clients.clear()
