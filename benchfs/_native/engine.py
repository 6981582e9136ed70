"""Typed, friendly wrappers over the C engine (csrc/, built by build_ffi.py).

The cffi module ``benchfs._native._engine`` is untyped; ``_Lib`` describes the
parts of its ``lib`` used here so that mypy checks the calls. Every C status
goes through ``_check``, which turns a negative errno into the matching
``OSError`` subclass. Python never holds engine memory: ``Engine.progress``
copies payloads into ``bytes`` and releases them at once.

An ``Engine`` is single-threaded, like the C loop under it: callers that share
one between threads must take turns (the C call releases the GIL while it
sleeps, so a lock around ``progress`` would block senders for its timeout).
"""

from __future__ import annotations

import ctypes
import enum
import errno
import os
from dataclasses import dataclass, field, fields
from types import TracebackType
from typing import Any, Final, Protocol, TypeAlias, cast

from benchfs._native._engine import ffi as _ffi
from benchfs._native._engine import lib as _untyped_lib


class _Lib(Protocol):
    """The subset of the cffi ``lib`` that this module uses."""

    BFS_EV_REPLY: int
    BFS_EV_REQUEST: int
    BFS_EV_CONN_ERROR: int
    BFS_EV_MALFORMED: int
    BFS_BAD_HEADER_LEN: int
    BFS_BAD_MAGIC: int
    BFS_BAD_VERSION: int
    BFS_BAD_OPCODE: int
    BFS_BAD_LENGTH: int
    BFS_BAD_REQ_ID: int
    BFS_OP_REPLY: int
    BFS_OP_WRITE: int
    BFS_OP_READ: int
    BFS_OP_FSYNC: int
    BFS_OP_FIRST_PYTHON: int
    BFS_OP_MAX: int
    BFS_WIRE_MAGIC: int
    BFS_WIRE_VERSION: int
    BFS_MAX_BULK_LEN: int
    BFS_OP_HELLO: int
    BFS_OP_HELLO_PROVE: int
    BFS_PREAUTH_MAX_BODY: int
    BFS_HIST_BUCKETS: int

    def bfs_config_default(self, cfg: Any) -> None: ...
    def bfs_engine_create(self, cfg: Any, out: Any) -> int: ...
    def bfs_engine_destroy(self, eng: Any) -> None: ...
    def bfs_listen_port(self, eng: Any) -> int: ...
    def bfs_connect(self, eng: Any, host: bytes, port: int, conn_out: Any) -> int: ...
    def bfs_disconnect(self, eng: Any, conn: int) -> int: ...
    def bfs_send(
        self, eng: Any, conn: int, opcode: int, ino: int, offset: int, length: int,
        body: Any, body_len: int, recv_buf: Any, recv_cap: int, req_id_out: Any,
    ) -> int: ...
    def bfs_send_raw(
        self, eng: Any, conn: int, header: Any, header_len: int, body: Any, body_len: int
    ) -> int: ...
    def bfs_reply(self, eng: Any, handle: int, status: int, body: Any, body_len: int) -> int: ...
    def bfs_progress(self, eng: Any, timeout_ms: int, events: Any, max_events: int) -> int: ...
    def bfs_call(
        self, eng: Any, conn: int, opcode: int, ino: int, offset: int, length: int,
        body: Any, body_len: int, recv_buf: Any, recv_cap: int, timeout_ms: int, out: Any,
    ) -> int: ...
    def bfs_event_release(self, eng: Any, data: Any) -> None: ...
    def bfs_conn_authenticate(self, eng: Any, conn: int) -> int: ...
    def bfs_chunk_truncate(self, eng: Any, ino: int, size: int) -> int: ...
    def bfs_chunk_remove(self, eng: Any, ino: int) -> int: ...
    def bfs_get_stats(self, eng: Any, out: Any) -> None: ...
    def bfs_set_epoch(self, eng: Any, epoch: int) -> None: ...
    def bfs_peer_epoch(self, eng: Any) -> int: ...


# What the engine accepts as a body or receive buffer (collections.abc.Buffer
# needs Python 3.12).
BytesLike: TypeAlias = bytes | bytearray | memoryview

ffi: Final[Any] = _ffi
lib: Final[_Lib] = cast(_Lib, _untyped_lib)

OP_REPLY: Final = lib.BFS_OP_REPLY
OP_WRITE: Final = lib.BFS_OP_WRITE
OP_READ: Final = lib.BFS_OP_READ
OP_FSYNC: Final = lib.BFS_OP_FSYNC
OP_FIRST_PYTHON: Final = lib.BFS_OP_FIRST_PYTHON
OP_MAX: Final = lib.BFS_OP_MAX
WIRE_MAGIC: Final = lib.BFS_WIRE_MAGIC
WIRE_VERSION: Final = lib.BFS_WIRE_VERSION
MAX_BULK_LEN: Final = lib.BFS_MAX_BULK_LEN
PREAUTH_MAX_BODY: Final = lib.BFS_PREAUTH_MAX_BODY
HEADER_SIZE: Final[int] = ffi.sizeof("bfs_wire_header_t")


HIST_BUCKETS: Final[int] = lib.BFS_HIST_BUCKETS
_SCALAR_STATS: Final = tuple(name for name, f in ffi.typeof("bfs_stats_t").fields
                             if f.type.kind == "primitive")


@dataclass(frozen=True)
class BulkOpStats:
    """One bulk opcode served in C: calls, payload bytes, total time, errors by errno
    (0: an errno too large to have a slot), and latency buckets (HIST_BUCKETS: under
    2**i µs, the last one longer)."""

    calls: int
    bytes: int
    sum_ns: int
    errors: dict[int, int]
    hist: list[int]


class EventKind(enum.IntEnum):
    REPLY = lib.BFS_EV_REPLY
    REQUEST = lib.BFS_EV_REQUEST
    CONN_ERROR = lib.BFS_EV_CONN_ERROR
    MALFORMED = lib.BFS_EV_MALFORMED


class BadFrame(enum.IntEnum):
    """Why a frame was dropped: the ``status`` of a MALFORMED event."""

    HEADER_LEN = lib.BFS_BAD_HEADER_LEN
    MAGIC = lib.BFS_BAD_MAGIC
    VERSION = lib.BFS_BAD_VERSION
    OPCODE = lib.BFS_BAD_OPCODE
    LENGTH = lib.BFS_BAD_LENGTH
    REQ_ID = lib.BFS_BAD_REQ_ID


def _check(status: int) -> int:
    """The one place where a C status becomes an exception (0 or more passes through)."""
    if status < 0:
        raise OSError(-status, os.strerror(-status))
    return status


def _c_defaults() -> Any:
    cfg = ffi.new("bfs_config_t *")
    lib.bfs_config_default(cfg)
    return cfg


_DEFAULTS: Final = _c_defaults()


@dataclass(frozen=True)
class EngineConfig:
    """Mirror of ``bfs_config_t``; the defaults come from ``bfs_config_default``."""

    listen_host: str | None = None  # None: a pure client
    listen_port: int = 0  # 0: ephemeral, see Engine.listen_port
    data_dir: str | os.PathLike[str] | None = None  # chunk files in data_dir/chunks
    spin_us: int = field(default=_DEFAULTS.spin_us)
    rndv_thresh: int = field(default=_DEFAULTS.rndv_thresh)
    ring_entries: int = field(default=_DEFAULTS.ring_entries)
    pool_buf_size: int = field(default=_DEFAULTS.pool_buf_size)
    pool_bufs: int = field(default=_DEFAULTS.pool_bufs)
    err_mode_peer: bool = field(default=bool(_DEFAULTS.err_mode_peer))
    o_direct: bool = field(default=bool(_DEFAULTS.o_direct))
    direct_min: int = field(default=_DEFAULTS.direct_min)
    # Serve nothing but the hello on a connection until ``Engine.authenticate``.
    require_auth: bool = field(default=bool(_DEFAULTS.require_auth))


class Event:
    """One completion record from ``Engine.progress``.

    REPLY: ``req_id`` is the request's id, ``status`` 0 or an errno, ``length``
    the reply bytes (written to ``recv_into`` when one was given, else in
    ``payload``). REQUEST: ``req_id`` is the handle for ``Engine.reply`` and
    ``payload`` the request body. CONN_ERROR: ``conn`` failed with errno
    ``status``. MALFORMED: a dropped frame, ``status`` a ``BadFrame``.
    """

    __slots__ = ("kind", "status", "req_id", "conn", "opcode", "ino", "offset", "length",
                 "payload")

    def __init__(self, kind: EventKind, status: int, req_id: int, conn: int, opcode: int,
                 ino: int, offset: int, length: int, payload: bytes | None) -> None:
        self.kind = kind
        self.status = status
        self.req_id = req_id
        self.conn = conn
        self.opcode = opcode
        self.ino = ino
        self.offset = offset
        self.length = length
        self.payload = payload

    def __repr__(self) -> str:
        payload = None if self.payload is None else f"<{len(self.payload)} bytes>"
        return (f"Event({self.kind.name}, status={self.status}, req_id={self.req_id:#x}, "
                f"conn={self.conn:#x}, opcode={self.opcode}, ino={self.ino}, "
                f"offset={self.offset}, length={self.length}, payload={payload})")


_PyBytes_FromStringAndSize = ctypes.pythonapi.PyBytes_FromStringAndSize
_PyBytes_FromStringAndSize.restype = ctypes.py_object
_PyBytes_FromStringAndSize.argtypes = (ctypes.c_void_p, ctypes.c_ssize_t)


def new_uninitialized_bytes(n: int) -> tuple[bytes, memoryview]:
    """A new ``bytes`` of length ``n`` and a writable view of its storage.

    Reads return ``bytes`` like ``os.read``; receiving the reply straight into
    that object saves a copy of every byte read. ``PyBytes_FromStringAndSize``
    with a NULL source is the C API's documented way to make a bytes object
    whose contents are filled in afterwards, before anyone else sees it. The
    contract for the caller: hand the view to ``Engine.send(recv_into=...)``,
    and do not share or hash the bytes until the REPLY events arrived.
    """
    if n < 0:
        raise ValueError("negative length")
    out: bytes = _PyBytes_FromStringAndSize(None, n)
    # from_buffer accepts bytes read-only; ffi.buffer over the same storage
    # exposes it writable. The view keeps ``out`` alive.
    view = memoryview(ffi.buffer(ffi.from_buffer(out), n))
    return out, view


class Engine:
    """One C engine: a UCX worker, an io_uring ring and the loop over both."""

    def __init__(self, config: EngineConfig | None = None) -> None:
        self.config = config or EngineConfig()
        cfg, keep = self._c_config(self.config)
        out = ffi.new("bfs_engine_t **")
        _check(lib.bfs_engine_create(cfg, out))
        del keep  # the engine copied the strings
        self._eng: Any = out[0]
        self._events: Any = ffi.new("bfs_event_t[]", 256)
        # Buffers the engine points at, kept alive until the REPLY event of
        # their request: this is what makes zero-copy sends and receives safe.
        self._inflight: dict[int, tuple[Any, Any]] = {}
        self._call_out: Any = ffi.new("bfs_call_result_t *")
        self._stats_out: Any = ffi.new("bfs_stats_t *")
        # Events queued in the engine that ``call`` did not hand out; collect
        # them with ``progress(0)``.
        self.events_pending = 0

    @staticmethod
    def _c_config(config: EngineConfig) -> tuple[Any, list[Any]]:
        cfg = ffi.new("bfs_config_t *")
        lib.bfs_config_default(cfg)
        keep = []
        for name in ("listen_host", "data_dir"):
            value = getattr(config, name)
            if value is not None:
                keep.append(ffi.new("char[]", os.fsencode(value)))
                setattr(cfg, name, keep[-1])
        for f in fields(config):
            if f.name not in ("listen_host", "data_dir"):
                setattr(cfg, f.name, int(getattr(config, f.name)))
        return cfg, keep

    # -- lifecycle ------------------------------------------------------------

    def close(self) -> None:
        """Close every connection and free the engine. Safe to call twice."""
        if self._eng is not None:
            lib.bfs_engine_destroy(self._eng)
            self._eng = None
            self._inflight.clear()

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    @property
    def closed(self) -> bool:
        return self._eng is None

    def _handle(self) -> Any:
        if self._eng is None:
            raise ValueError("engine is closed")
        return self._eng

    @property
    def listen_port(self) -> int:
        return _check(lib.bfs_listen_port(self._handle()))

    # -- client side ------------------------------------------------------------

    def connect(self, host: str, port: int) -> int:
        """A connection id; a failure to reach the peer shows up later, as
        failed replies and a CONN_ERROR event."""
        out = ffi.new("uint64_t *")
        _check(lib.bfs_connect(self._handle(), host.encode(), port, out))
        return int(out[0])

    def disconnect(self, conn: int) -> None:
        """Close the connection; its pending requests fail with ENOTCONN."""
        _check(lib.bfs_disconnect(self._handle(), conn))

    def send(self, conn: int, opcode: int, ino: int = 0, offset: int = 0, length: int = 0,
             body: BytesLike | None = None, recv_into: BytesLike | None = None) -> int:
        """Send one request; returns its id, matched by exactly one REPLY event.

        ``body`` is sent without a copy and ``recv_into`` (a writable buffer)
        receives the reply payload in place; both are kept alive here until
        that REPLY event has been returned by ``progress``.
        """
        eng = self._handle()
        body_c = ffi.from_buffer(body) if body is not None else ffi.NULL
        recv_c = (ffi.from_buffer(recv_into, require_writable=True)
                  if recv_into is not None else ffi.NULL)
        out = ffi.new("uint64_t *")
        _check(lib.bfs_send(eng, conn, opcode, ino, offset, length,
                            body_c, len(body_c) if body is not None else 0,
                            recv_c, len(recv_c) if recv_into is not None else 0, out))
        req_id = int(out[0])
        # A from_buffer cdata keeps its Python object (and so the memory) alive.
        self._inflight[req_id] = (body_c, recv_c)
        return req_id

    def call(self, conn: int, opcode: int, ino: int, offset: int, length: int,
             body: BytesLike | None, recv_into: BytesLike | None,
             timeout_ms: int) -> tuple[int, Event | None]:
        """Send one request and wait for its reply in one C call (no event batch).

        Returns ``(req_id, the REPLY event)``, or ``(req_id, None)`` when
        ``timeout_ms`` passed or a signal arrived first: the request is then
        pending as if ``send`` had sent it, its REPLY coming through ``progress``.
        OSError when it could not be sent.
        """
        eng = self._handle()
        body_c = ffi.from_buffer(body) if body is not None else ffi.NULL
        recv_c = (ffi.from_buffer(recv_into, require_writable=True)
                  if recv_into is not None else ffi.NULL)
        out = self._call_out
        status = lib.bfs_call(eng, conn, opcode, ino, offset, length,
                              body_c, len(body_c) if body is not None else 0,
                              recv_c, len(recv_c) if recv_into is not None else 0,
                              timeout_ms, out)
        self.events_pending = out.events_pending
        if status in (-errno.ETIMEDOUT, -errno.EINTR):
            self._inflight[out.req_id] = (body_c, recv_c)
            return int(out.req_id), None
        _check(status)
        payload = self._reply_payload(out.data, out.data_len, recv_into is not None)
        return int(out.req_id), Event(EventKind.REPLY, out.status, out.req_id, conn, opcode,
                                      ino, offset, out.length, payload)

    def send_raw(self, conn: int, header: bytes, body: bytes = b"") -> None:
        """Send arbitrary header bytes (tests of malformed input). Copied."""
        _check(lib.bfs_send_raw(self._handle(), conn, header, len(header), body, len(body)))

    # -- server side ------------------------------------------------------------

    def reply(self, handle: int, status: int, body: BytesLike = b"") -> None:
        """Answer a REQUEST event (exactly once); the body is copied."""
        body_c = ffi.from_buffer(body)
        _check(lib.bfs_reply(self._handle(), handle, status, body_c, len(body_c)))

    def authenticate(self, conn: int) -> None:
        """The peer on ``conn`` proved the cluster secret: serve it everything."""
        _check(lib.bfs_conn_authenticate(self._handle(), conn))

    def chunk_truncate(self, ino: int, size: int) -> None:
        _check(lib.bfs_chunk_truncate(self._handle(), ino, size))

    def chunk_remove(self, ino: int) -> None:
        _check(lib.bfs_chunk_remove(self._handle(), ino))

    # -- the loop ---------------------------------------------------------------

    def progress(self, timeout_ms: int, max_events: int = 256) -> list[Event]:
        """Run the loop until there are events or ``timeout_ms`` passed (-1: no
        limit; 0: poll once). Returns early, maybe empty, when a signal arrives."""
        eng = self._handle()
        if max_events > len(self._events):
            self._events = ffi.new("bfs_event_t[]", max_events)
        n = _check(lib.bfs_progress(eng, timeout_ms, self._events, max_events))
        return [self._to_event(self._events[i]) for i in range(n)]

    def _to_event(self, ev: Any) -> Event:
        kind = EventKind(ev.kind)
        payload: bytes | None = None
        if kind == EventKind.REPLY:
            kept = self._inflight.pop(ev.req_id, None)
            received_in_place = kept is not None and kept[1] != ffi.NULL
            payload = self._reply_payload(ev.data, ev.data_len, received_in_place)
        elif ev.data != ffi.NULL:
            # REQUEST data stays with the engine until reply(); we hold a copy.
            payload = ffi.buffer(ev.data, ev.data_len)[:]
        elif kind == EventKind.REQUEST:
            payload = b""
        return Event(kind, ev.status, ev.req_id, ev.conn, ev.opcode, ev.ino, ev.offset,
                     ev.length, payload)

    def _reply_payload(self, data: Any, data_len: int, received_in_place: bool) -> bytes | None:
        """A reply's payload, copied out of engine memory (which is released), or None
        when it was received into the caller's buffer."""
        if data != ffi.NULL:
            payload: bytes = ffi.buffer(data, data_len)[:]
            lib.bfs_event_release(self._eng, data)
            return payload
        return None if received_in_place else b""  # b"": an empty reply

    def set_epoch(self, epoch: int) -> None:
        """The view epoch stamped on everything this engine sends; a server engine
        answers requests stamped with an older one ESTALE (bfs_set_epoch)."""
        lib.bfs_set_epoch(self._handle(), epoch)

    @property
    def peer_epoch(self) -> int:
        """The highest view epoch seen on a received frame."""
        return int(lib.bfs_peer_epoch(self._handle()))

    def stats(self) -> dict[str, int]:
        """The engine's counters (``bfs_stats_t`` but its per-op ``bulk`` part)."""
        return self.all_stats()[0]

    def all_stats(self) -> tuple[dict[str, int], dict[int, BulkOpStats]]:
        """The counters and, by opcode, the bulk ops served in C: one C call."""
        out = self._stats_out
        lib.bfs_get_stats(self._handle(), out)
        counters = {name: int(getattr(out, name)) for name in _SCALAR_STATS}
        bulk = {}
        for index, opcode in enumerate((OP_WRITE, OP_READ, OP_FSYNC)):
            op = out.bulk[index]
            errors = {slot: int(n) for slot, n in enumerate(op.errors) if n}
            bulk[opcode] = BulkOpStats(int(op.calls), int(op.bytes), int(op.sum_ns), errors,
                                       [int(n) for n in op.hist])
        return counters, bulk
