"""The wire format: the fixed frame header (mirrored from C) and the msgpack codec for
metadata request and reply bodies (DESIGN.md D4).

The C engine parses the header and serves the bulk ops itself; Python-served ops carry
a msgpack array body whose fields are fixed per op by ``REQUEST_FIELDS``. The server
decodes bodies from the network, so ``decode_request`` and ``decode_reply`` turn every
malformed input into ``MalformedFrame`` and nothing else: a bad frame must become an
error reply, never a crashed handler or a request left without a reply.
"""

from __future__ import annotations

import enum
import struct
from dataclasses import dataclass
from typing import Any

import msgpack

from benchfs.core.paths import is_normalized

# -- the fixed header ---------------------------------------------------------

MAGIC = 0x42465331  # "BFS1", BFS_WIRE_MAGIC in csrc/bfs_engine.h
VERSION = 1
# magic, version, flags, opcode, req_id, status, epoch, ino, offset, length
HEADER = struct.Struct("<IBBHQiIQQQ")
HEADER_SIZE = HEADER.size  # 48, sizeof(bfs_wire_header_t)
FIRST_PYTHON_OP = 16  # BFS_OP_FIRST_PYTHON: opcodes below are served by the C engine
OP_MAX = 255  # BFS_OP_MAX

MAX_BODY = 1 << 20  # a metadata request is a few paths; anything bigger is an attack or a bug

_U64 = 1 << 64


class MalformedFrame(ValueError):
    """A frame or body that does not follow the wire format."""


@dataclass
class WireHeader:
    """A Python mirror of ``bfs_wire_header_t``, in the C field order."""

    magic: int = MAGIC
    version: int = VERSION
    flags: int = 0
    opcode: int = 0
    req_id: int = 0
    status: int = 0
    epoch: int = 0  # the sender's view epoch (benchfs.core.views)
    ino: int = 0
    offset: int = 0
    length: int = 0

    def pack(self) -> bytes:
        try:
            return HEADER.pack(
                self.magic, self.version, self.flags, self.opcode, self.req_id, self.status,
                self.epoch, self.ino, self.offset, self.length,
            )
        except struct.error as exc:
            raise ValueError(f"header field out of range: {exc}") from None

    @classmethod
    def unpack(cls, data: bytes) -> WireHeader:
        if len(data) != HEADER_SIZE:
            raise MalformedFrame(f"header is {len(data)} bytes, expected {HEADER_SIZE}")
        header = cls(*HEADER.unpack(data))
        if header.magic != MAGIC:
            raise MalformedFrame(f"bad magic {header.magic:#010x}")
        if header.version != VERSION:
            raise MalformedFrame(f"unsupported wire version {header.version}")
        return header


# -- opcodes and request schemas ----------------------------------------------


class Op(enum.IntEnum):
    # Bulk ops, served by the C engine without Python.
    REPLY = 0
    WRITE = 1
    READ = 2
    FSYNC = 3
    # Metadata ops, served by Python; numbers from FIRST_PYTHON_OP up to OP_MAX.
    LOOKUP = 16
    CREATE = 17
    MKDIR = 18  # retired: MKDIR_TX
    UNLINK = 19  # retired: UNLINK_TX
    READDIR = 21
    GETATTR = 22
    SET_SIZE = 23
    DATA_TRUNCATE = 24
    DATA_REMOVE = 25
    SETATTR = 26
    # Retired (kept for the numbering): rename and link add and drop names as steps
    # of a transaction (TX_STEP), which servers alone send.
    REMOVE_ENTRY = 27
    ADD_ENTRY = 28
    SYMLINK = 29
    STATFS = 30
    HELLO = 31
    ADJUST = 32  # link count change and time touch on an inode
    FENCE = 33  # block two subtrees and list what they hold (directory rename, rmdir)
    MOVE_INSERT = 34  # add the moved entries of a fenced rename
    UNFENCE = 35  # end a fence, removing the fenced source subtree or not
    DATA_SEEK = 36  # SEEK_DATA / SEEK_HOLE in one server's chunk file
    META_SYNC = 37  # make this server's metadata log durable (a client's fsync)
    INLINE_WRITE = 38  # write into a small file's data kept in its inode (D8)
    SPILL = 39  # a small file outgrew its inode: its chunks hold the data from now on
    # Operations spanning servers, run as one transaction by a coordinating server
    # (benchfs.server.transactions); the client waits for the whole of it.
    RENAME_TX = 40  # rename a non-directory, to the server of the source name
    LINK_TX = 41  # a hard link, to the server of the inode
    UNLINK_TX = 42  # remove a name and, with the last link, the file
    RENAME_DIR_TX = 43  # rename a directory with its subtree, to the server of the source
    RMDIR_TX = 44  # remove an empty directory, to the server of its name
    TX_STEP = 45  # server to server: one step of a transaction, applied once per key
    TX_FORGET = 46  # server to server: a transaction finished, drop its step results
    MKDIR_TX = 47  # a directory and its parent's link, to the server of the new name
    MKNOD = 48  # a FIFO, socket or device node: an inode only (the FUSE mount's mknod)
    # Operating it (benchfs.auth, benchfs.metrics); numbered apart from the rest.
    HELLO_PROVE = 64  # the connecting side's proof of the cluster secret (BFS_OP_HELLO_PROVE)
    STATS = 65  # this server's counters and histograms
    # Health and views (benchfs.server.health), server to server. Numbered apart from
    # the ops above so that other additions do not collide with them.
    PING = 60  # are you there? (any reply says yes)
    PROBE = 61  # ping this member for me: did it answer? (SWIM's indirect probe)
    VIEW_CHANGE = 62  # to the view's authority: commit a view with this member's new state


class SignedInt(int):
    """Field-type marker: a signed 64-bit int (a delta, not a size)."""


class EntryList(list):  # type: ignore[type-arg]
    """Field-type marker: a list of directory entries ``[path, ino, file_type]``."""


FieldType = type | tuple[type, ...]

# The ordered fields of each Python-served request. Every int field is unsigned
# (0 <= v < 2**64); every field named in PATH_FIELDS must be an absolute, normalised path.
REQUEST_FIELDS: dict[Op, tuple[tuple[str, FieldType], ...]] = {
    Op.LOOKUP: (("path", str),),
    Op.CREATE: (("path", str), ("mode", int), ("exclusive", bool), ("uid", int), ("gid", int),
                ("parent_ino", int)),
    Op.MKDIR: (("path", str), ("mode", int), ("uid", int), ("gid", int)),
    Op.UNLINK: (("path", str), ("keep_inode", bool), ("parent_ino", int)),
    Op.READDIR: (("path", str),),
    Op.GETATTR: (("ino", int),),
    Op.SET_SIZE: (("ino", int), ("size", int), ("grow_only", bool)),
    Op.DATA_TRUNCATE: (("ino", int), ("size", int)),
    Op.DATA_REMOVE: (("ino", int),),
    Op.SETATTR: (("ino", int), ("changes", dict)),
    Op.REMOVE_ENTRY: (("path", str), ("ino", int)),
    Op.ADD_ENTRY: (("path", str), ("ino", int), ("file_type", int), ("replace", bool)),
    Op.SYMLINK: (("target", str), ("path", str), ("uid", int), ("gid", int)),
    Op.STATFS: (),
    # The connecting side's nonce and who it is (for the log); see benchfs.auth.proofs.
    Op.HELLO: (("nonce", bytes), ("client", str)),
    Op.ADJUST: (("ino", int), ("nlink_delta", SignedInt), ("touch_mtime", bool),
                ("keep_inode", bool)),
    Op.FENCE: (("txid", int), ("src", str), ("dst", str)),
    Op.MOVE_INSERT: (("txid", int), ("entries", EntryList)),
    Op.UNFENCE: (("txid", int), ("remove_src", bool)),
    Op.DATA_SEEK: (("ino", int), ("offset", int), ("data", bool)),
    Op.META_SYNC: (),
    Op.INLINE_WRITE: (("ino", int), ("offset", int), ("data", bytes)),
    Op.SPILL: (("ino", int),),
    # wait_ms: how long the client waits; a transaction not finished by then is
    # answered ETIMEDOUT and completes (or rolls back) on its own.
    Op.RENAME_TX: (("src", str), ("dst", str), ("ino", int), ("file_type", int),
                   ("keep_replaced", bool), ("wait_ms", int)),
    Op.LINK_TX: (("path", str), ("ino", int), ("file_type", int), ("wait_ms", int)),
    Op.UNLINK_TX: (("path", str), ("keep_inode", bool), ("parent_ino", int), ("chunked", bool),
                   ("wait_ms", int)),
    Op.RENAME_DIR_TX: (("src", str), ("dst", str), ("target_ino", int), ("target_nlink", int),
                       ("keep_target", bool), ("src_parent_ino", int), ("dst_parent_ino", int),
                       ("wait_ms", int)),
    Op.RMDIR_TX: (("path", str), ("ino", int), ("nlink", int), ("keep_inode", bool),
                  ("parent_ino", int), ("wait_ms", int)),
    Op.TX_STEP: (("txid", int), ("key", int), ("method", str), ("args", bytes)),
    Op.TX_FORGET: (("txid", int),),
    Op.MKDIR_TX: (("path", str), ("mode", int), ("uid", int), ("gid", int), ("parent_ino", int),
                  ("wait_ms", int)),
    Op.MKNOD: (("path", str), ("mode", int), ("rdev", int), ("uid", int), ("gid", int)),
    Op.HELLO_PROVE: (("proof", bytes),),
    Op.STATS: (),
    Op.PING: (),
    Op.PROBE: (("rank", int),),
    # host, port: for a member declared down, the instance found dead ("", 0: unknown)
    Op.VIEW_CHANGE: (("rank", int), ("state", str), ("host", str), ("port", int)),
}

PATH_FIELDS = frozenset({"path", "src", "dst"})

# Opcode number -> Op, without the enum call's cost on every request.
_OPS: dict[int, Op] = {int(op): op for op in Op}

# SETATTR's changes map: attribute name -> new value. Only these keys may appear.
# mode/uid/gid are unsigned; times are signed nanoseconds (files may predate 1970),
# or nil for "the server's current time" (UTIME_NOW).
SETATTR_KEYS = frozenset({"mode", "uid", "gid", "atime_ns", "mtime_ns"})
_SETATTR_TIMES = frozenset({"atime_ns", "mtime_ns"})
_I64_MIN = -(1 << 63)

_PACK_OPTIONS: dict[str, Any] = {"use_bin_type": True, "unicode_errors": "surrogateescape"}


# unpackb bounds every container and string length by the body's own size, so a
# frame claiming 4 G elements fails at once instead of allocating.
_UNPACK_OPTIONS: dict[str, Any] = {
    "raw": False,
    "strict_map_key": False,
    # Non-UTF-8 names (os.fsdecode surrogates) must survive the round trip.
    "unicode_errors": "surrogateescape",
}


Problem = tuple[type[Exception], str]


def _field_problem(op: Op, name: str, kind: FieldType, value: object) -> Problem | None:
    """Why ``value`` is not valid for field ``name`` of ``op``: (exception type, message)."""
    # Valid values of the exact type are by far the common case: settled first.
    if kind is int and type(value) is int:
        if 0 <= value < _U64:
            return None
    elif kind is str and type(value) is str:
        if name not in PATH_FIELDS or ("\0" not in value and is_normalized(value)):
            return None
    elif type(value) is kind and (kind is bool or kind is bytes):
        return None
    if kind is bool:
        if not isinstance(value, bool):
            return TypeError, f"{op.name}.{name} must be bool, not {type(value).__name__}"
        return None
    if kind is SignedInt:
        if not isinstance(value, int) or isinstance(value, bool):
            return TypeError, f"{op.name}.{name} must be int, not {type(value).__name__}"
        if not _I64_MIN <= value < -_I64_MIN:
            return ValueError, f"{op.name}.{name} must be a signed 64-bit int, not {value}"
        return None
    if kind is EntryList:
        return _entries_problem(op, name, value)
    if kind is int:
        # bool is an int subclass; a bool where a number belongs is a bug, not a 0 or 1.
        if not isinstance(value, int) or isinstance(value, bool):
            return TypeError, f"{op.name}.{name} must be int, not {type(value).__name__}"
        if not 0 <= value < _U64:
            return ValueError, f"{op.name}.{name} must be an unsigned 64-bit int, not {value}"
        return None
    if kind is bytes:
        if not isinstance(value, bytes):
            return TypeError, f"{op.name}.{name} must be bytes, not {type(value).__name__}"
        return None
    if kind is str:
        if not isinstance(value, str):
            return TypeError, f"{op.name}.{name} must be str, not {type(value).__name__}"
        if name in PATH_FIELDS and ("\0" in value or not is_normalized(value)):
            return ValueError, f"{op.name}.{name} must be a normalised absolute path: {value!r:.80}"
        return None
    if kind is dict:
        if not isinstance(value, dict):
            return TypeError, f"{op.name}.{name} must be dict, not {type(value).__name__}"
        return _changes_problem(value)
    raise AssertionError(f"no validation for field type {kind!r}")


def _entries_problem(op: Op, name: str, value: object) -> Problem | None:
    if not isinstance(value, list):
        return TypeError, f"{op.name}.{name} must be a list, not {type(value).__name__}"
    for entry in value:
        if not isinstance(entry, list) or len(entry) != 3:
            return TypeError, f"{op.name}.{name} entries must be [path, ino, file_type]"
        for field_name, kind, item in zip(("path", "ino", "file_type"), (str, int, int), entry,
                                          strict=True):
            problem = _field_problem(op, field_name, kind, item)
            if problem is not None:
                return problem
    return None


def _changes_problem(changes: dict[Any, Any]) -> Problem | None:
    for key, value in changes.items():
        if key not in SETATTR_KEYS or not isinstance(key, str):
            return ValueError, f"SETATTR key must be one of {sorted(SETATTR_KEYS)}, not {key!r:.40}"
        if value is None and key in _SETATTR_TIMES:
            continue
        if not isinstance(value, int) or isinstance(value, bool):
            return TypeError, f"SETATTR {key} must be int, not {type(value).__name__}"
        low = _I64_MIN if key in _SETATTR_TIMES else 0
        if not low <= value < _U64:
            return ValueError, f"SETATTR {key} out of range: {value}"
    return None


def encode_request(op: Op, *args: object) -> bytes:
    """The body of a request ``op`` with ``args`` in ``REQUEST_FIELDS`` order.

    TypeError for a wrong argument count or type, ValueError for a value the server
    would reject (negative number, non-normalised path) or an op without a body schema.
    """
    fields = REQUEST_FIELDS.get(op)
    if fields is None:
        raise ValueError(f"{op!r} has no metadata request body")
    if len(args) != len(fields):
        raise TypeError(f"{Op(op).name} takes {len(fields)} fields, got {len(args)}")
    known = _OPS[op]
    for (name, kind), value in zip(fields, args, strict=True):
        problem = _field_problem(known, name, kind, value)
        if problem is not None:
            exc_type, message = problem
            raise exc_type(message)
    try:
        body: bytes = msgpack.packb(list(args), **_PACK_OPTIONS)
    except UnicodeEncodeError as exc:  # a lone high surrogate cannot be a file name
        raise ValueError(f"{Op(op).name}: unencodable string: {exc}") from None
    if len(body) > MAX_BODY:
        raise ValueError(f"{Op(op).name} body is {len(body)} bytes, over {MAX_BODY}")
    return body


def decode_request(op: int, body: bytes) -> tuple[Any, ...]:
    """The fields of request ``op`` from ``body``; MalformedFrame on any invalid input."""
    known = _OPS.get(op)
    if known is None:
        raise MalformedFrame(f"unknown opcode {op!r:.40}")
    fields = REQUEST_FIELDS.get(known)
    if fields is None:
        raise MalformedFrame(f"{known.name} is not a metadata request")
    if len(body) > MAX_BODY:
        raise MalformedFrame(f"{known.name} body is {len(body)} bytes, over {MAX_BODY}")
    values = _unpack(body)
    if not isinstance(values, list):
        raise MalformedFrame(f"{known.name} body must be an array")
    if len(values) != len(fields):
        raise MalformedFrame(f"{known.name} takes {len(fields)} fields, got {len(values)}")
    for (name, kind), value in zip(fields, values, strict=True):
        problem = _field_problem(known, name, kind, value)
        if problem is not None:
            raise MalformedFrame(problem[1])
    return tuple(values)


def _unpack(body: bytes) -> Any:
    try:
        return msgpack.unpackb(body, **_UNPACK_OPTIONS)
    except Exception as exc:
        # msgpack signals bad input with ValueError, TypeError (unhashable map keys),
        # its own UnpackException family and more; to the caller they are all one thing.
        raise MalformedFrame(f"undecodable body: {type(exc).__name__}: {exc}") from None


# -- replies ------------------------------------------------------------------


def encode_reply(value: object) -> bytes:
    """The body of a successful reply carrying ``value`` (any msgpack-able object)."""
    body: bytes = msgpack.packb(value, **_PACK_OPTIONS)
    return body


def decode_reply(body: bytes) -> Any:
    """The value of a reply body; MalformedFrame when it is not one msgpack object."""
    return _unpack(body)
