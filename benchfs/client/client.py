"""The client: one object with the os-module surface that every front end uses.

Consistency is close-to-open (docs/architecture.md): an open sees every write a
closed or fsync'd descriptor made before it; an open descriptor caches the
file size and re-asks the server only when a read reaches past it.
"""

from __future__ import annotations

from typing import Any

from benchfs import fileobj
from benchfs.client.attrs import Attributes
from benchfs.client.composed import Composed
from benchfs.client.fileio import FileIO
from benchfs.client.names import Names
from benchfs.client.walking import Walking
from benchfs.core.wire import Op
from benchfs.metrics.counters import engine_snapshot, process_snapshot


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

    def open_file(self, file: Any, mode: str = "r", buffering: int = -1,
                  encoding: str | None = None, errors: str | None = None,
                  newline: str | None = None, closefd: bool = True,
                  opener: fileobj.Opener | None = None) -> Any:
        """``builtins.open`` on this cluster: the real io file objects over a benchfs
        path or descriptor (benchfs/fileobj.py)."""
        return fileobj.open_file(self, file, mode, buffering, encoding, errors, newline,
                                 closefd, opener)

    def fdopen(self, fd: int, *args: Any, **kwargs: Any) -> Any:
        """``os.fdopen`` of a descriptor of this client."""
        return fileobj.fdopen(self, fd, *args, **kwargs)

    def metrics(self) -> dict[str, Any]:
        """This client's counters: requests by operation (calls, errors by errno, bytes,
        latency buckets), its engine's counters and the process's (benchfs.metrics)."""
        with self._lock:
            counters, _ = engine_snapshot(self._engine)
            return {"ops": self._rpc.metrics.snapshot(), "engine": counters,
                    "process": process_snapshot()}

    def server_stats(self) -> list[dict[str, Any]]:
        """Every server's metrics snapshot, asked over the wire (STATS), by rank."""
        with self._lock:
            return list(self._rpc.call_all(range(self.cluster.servers), Op.STATS))

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close_client()
