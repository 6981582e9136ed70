"""One client per cluster and process, shared by every BenchFileSystem that names it.

fsspec makes a file-system instance per thread (its instance cache is keyed by the
thread), and dask or zarr may make many more; each ``Client`` owns an engine and a
connection to every server, so instances share one per (registry, settings). A
forked child must not use its parent's: the engine and its connections belong to
the parent (as for ``benchfs.default_client``), so the child starts an empty pool
and connects on first use. UCX itself does not survive a fork once initialised
(its async thread stays behind), so a child forked *after* the parent connected
cannot connect at all: it gets a clear error at once instead of a timeout, and
workers are better started with "spawn" or "forkserver" (dask's default).
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
_forked_after_connecting = False


def _forget_after_fork() -> None:
    global _lock, _forked_after_connecting
    _forked_after_connecting = _forked_after_connecting or bool(_clients)
    _clients.clear()
    # Another thread of the parent may have held the lock at the fork.
    _lock = threading.Lock()


os.register_at_fork(after_in_child=_forget_after_fork)


def client_for(registry: str, settings: ClientSettings) -> Client:
    """This process's client of the cluster in ``registry``, connected on first use.

    A registry that names no cluster fails with ENOTCONN, never with the
    FileNotFoundError of its missing files: callers such as zarr read
    FileNotFoundError as "this key does not exist" and would carry on."""
    key = (registry, settings)
    with _lock:
        client = _clients.get(key)
        if client is None:
            if _forked_after_connecting:
                raise OSError(errno.ENOTCONN, "benchfs cannot connect in a process forked "
                              "after its parent connected (UCX does not survive fork): start "
                              "workers with 'spawn' or 'forkserver'", registry)
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
