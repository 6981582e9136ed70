"""The client: one object with the os-module surface that every front end uses.

Consistency is close-to-open (docs/architecture.md): an open sees every write a
closed or fsync'd descriptor made before it; an open descriptor caches the
file size and re-asks the server only when a read reaches past it.
"""

from __future__ import annotations

from benchfs.client.attrs import Attributes
from benchfs.client.composed import Composed
from benchfs.client.fileio import FileIO
from benchfs.client.names import Names
from benchfs.client.walking import Walking


class Client(Composed, Walking, FileIO, Names, Attributes):
    """A connection to one benchfs cluster with the file API of the os module."""

    def close_client(self) -> None:
        """Close every descriptor and the connections (the object is unusable after)."""
        with self._lock:
            for fd in self._fds:
                self._close_locked(fd)
            self._fds.close()
            self._rpc.close()
            self._engine.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close_client()
