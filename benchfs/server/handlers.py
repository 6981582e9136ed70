"""Metadata request handlers: decode a body, apply it to the stores, encode the answer.

Each handler returns the reply value; a failure raises ``MetadataError`` (or an
``OSError`` from the local file system, or a ``WALError`` from a broken metadata
log: EIO) and becomes a reply carrying its errno, so every request gets exactly
one reply (D4).
"""

from __future__ import annotations

import errno
import os
from collections.abc import Callable
from typing import Any

from loguru import logger

from benchfs._native.engine import Engine
from benchfs.core.records import Inode
from benchfs.core.wire import MalformedFrame, Op, decode_reply, decode_request, encode_reply
from benchfs.server.metadata import MetadataError, MetadataStore
from benchfs.server.throttle import ThrottledWarning
from benchfs.server.wal import WALError

# Requests that make the metadata grow (a new name, small-file data), and for the
# naming ones the argument that holds the new name.
_NEW_NAME_ARG = {Op.CREATE: 0, Op.SYMLINK: 1, Op.MKNOD: 0}
_GROWING = {*_NEW_NAME_ARG, Op.INLINE_WRITE}
# Store methods run for transactions that add the name in their first argument.
_NEW_NAME_METHODS = frozenset({"add_entry", "make_directory"})


def _entry_reply(ino: int, inode: Inode | None) -> list[Any]:
    return [ino, inode.to_wire() if inode is not None else None]


class RequestHandlers:
    """Serves the Python-side opcodes of one server."""

    def __init__(self, store: MetadataStore, engine: Engine, data_dir: str,
                 short_of_space: Callable[[], bool] = lambda: False) -> None:
        """``short_of_space``: whether the metadata log lives on its last reserve."""
        self._store = store
        self._engine = engine
        self._data_dir = data_dir
        self._short_of_space = short_of_space
        self._malformed_warning = ThrottledWarning()
        self._table: dict[int, Callable[..., Any]] = {
            Op.LOOKUP: self._lookup,
            Op.CREATE: self._create,
            Op.SYMLINK: lambda *args: store.symlink(*args).to_wire(),
            Op.MKNOD: lambda *args: store.mknod(*args).to_wire(),
            Op.READDIR: self._readdir,
            Op.GETATTR: lambda ino: store.getattr(ino).to_wire(),
            Op.SETATTR: lambda ino, changes: store.setattr(ino, changes).to_wire(),
            Op.SET_SIZE: store.set_size,
            Op.ADJUST: store.adjust,
            Op.FENCE: store.fence,
            Op.MOVE_INSERT: store.move_insert,
            Op.UNFENCE: store.unfence,
            Op.DATA_TRUNCATE: engine.chunk_truncate,
            Op.DATA_REMOVE: self._remove_data,
            Op.STATFS: self._statfs,
            Op.DATA_SEEK: self._seek,
            Op.META_SYNC: self._request_sync,
            Op.INLINE_WRITE: store.inline_write,
            Op.SPILL: store.spill,
            Op.TX_STEP: self._tx_step,
            Op.TX_FORGET: store.tx_forget,
            Op.PING: lambda: None,
        }
        # Set when a request of the current batch needs the metadata log on stable
        # storage before its reply (one fdatasync serves the whole batch).
        self.sync_requested = False

    def serve(self, opcode: Op, handler: Callable[..., Any]) -> None:
        """Answer ``opcode`` with ``handler`` too (ops the daemon's parts serve)."""
        self._table[opcode] = handler

    def handle(self, opcode: int, body: bytes) -> tuple[int, bytes]:
        """(errno, reply body) for one request."""
        handler = self._table.get(opcode)
        if handler is None:
            return errno.EOPNOTSUPP, b""
        try:
            args = decode_request(opcode, body)
        except MalformedFrame as exc:
            self._malformed_warning("dropped malformed {} request body: {}", Op(opcode).name,
                                    exc)
            return errno.EPROTO, b""
        if opcode in _GROWING and self._short_of_space() and self._grows(opcode, args):
            return errno.ENOSPC, b""
        return self._answer(Op(opcode).name, handler, args)

    def run_local(self, method: str, args: list[Any]) -> tuple[int, bytes]:
        """A store method that a one-server operation comes down to, called by this
        server's coordinator and answered like a request."""
        refused = self._refusal(method, args)
        if refused:
            return refused, b""
        return self._answer(method, getattr(self._store, method), args)

    @staticmethod
    def _answer(name: str, call: Callable[..., Any], args: Any) -> tuple[int, bytes]:
        try:
            return 0, encode_reply(call(*args))
        except MetadataError as exc:
            return exc.errno, b""
        except OSError as exc:
            return exc.errno or errno.EIO, b""
        except WALError as exc:  # the log is broken: nothing can be made durable
            logger.error("{} request not logged: {}", name, exc)
            return errno.EIO, b""
        except Exception:
            # A bug must cost one request, not the server: it still gets its one
            # reply (D4), and the traceback goes to the log.
            logger.exception("{} request failed unexpectedly", name)
            return errno.EIO, b""

    def _grows(self, opcode: int, args: tuple[Any, ...]) -> bool:
        """Whether a growing request would add to the metadata. On a full disk such
        requests fail with ENOSPC before they change anything, so that what is left
        of the log's reserve serves deletions, which free space. A name that exists
        already is left to the handler (EEXIST, or an open of an existing file)."""
        where = _NEW_NAME_ARG.get(Op(opcode))
        return where is None or self._is_new_name(args[where])

    def _is_new_name(self, path: str) -> bool:
        try:
            self._store.lookup(path)
        except MetadataError as exc:
            return exc.errno == errno.ENOENT
        return False

    def _tx_step(self, txid: int, key: int, method: str, packed_args: bytes) -> list[Any]:
        """One step of a transaction; a refusal (a full log) is stored like any answer."""
        refused = self._refusal(method, decode_reply(packed_args))
        return self._store.tx_step(txid, key, method, packed_args, refused)

    def _refusal(self, method: str, args: list[Any]) -> int:
        """ENOSPC for a store call adding a name while the log is short of space."""
        if (method in _NEW_NAME_METHODS and self._short_of_space()
                and self._is_new_name(args[0])):
            return errno.ENOSPC
        return 0

    def _lookup(self, path: str) -> list[Any]:
        return _entry_reply(*self._store.lookup(path))

    def _create(self, *args: Any) -> list[Any]:
        ino, inode, created, parent_touched = self._store.create(*args)
        return [*_entry_reply(ino, inode), created, parent_touched]

    def _readdir(self, path: str) -> list[list[Any]]:
        return [[name, d.ino, d.file_type] for name, d in self._store.children(path)]

    def _remove_data(self, ino: int) -> None:
        self._engine.chunk_remove(ino)
        self._store.drop_orphan(ino)

    def _request_sync(self) -> None:
        self.sync_requested = True

    def _seek(self, ino: int, offset: int, data: bool) -> int | None:
        """lseek SEEK_DATA/SEEK_HOLE in our chunk file; None when past its data."""
        try:
            fd = os.open(os.path.join(self._data_dir, "chunks", f"{ino:016x}"),
                         os.O_RDONLY | os.O_NOFOLLOW)
        except FileNotFoundError:
            return None
        try:
            return os.lseek(fd, offset, os.SEEK_DATA if data else os.SEEK_HOLE)
        except OSError as exc:
            if exc.errno == errno.ENXIO:
                return None
            raise
        finally:
            os.close(fd)

    def _statfs(self) -> list[int]:
        vfs = os.statvfs(self._data_dir)
        return [vfs.f_bsize, vfs.f_frsize, vfs.f_blocks, vfs.f_bfree, vfs.f_bavail,
                vfs.f_files, vfs.f_ffree, vfs.f_favail]
