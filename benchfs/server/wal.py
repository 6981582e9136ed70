"""A write-ahead log with snapshots for the metadata store (DESIGN.md D7).

The store applies a mutation in memory, encodes it (msgpack) and hands the bytes
to :meth:`WriteAheadLog.append`. Records are opaque here and come back from
:meth:`WriteAheadLog.replay` in the order they were appended.

Use, from a single-threaded event loop::

    wal = WriteAheadLog(data_dir / "meta")
    for record in wal.replay():        # snapshot records, then log records
        store.apply(record)
    ...
    wal.append(encode(mutation))       # per mutation, in memory only
    wal.flush()                        # once per batch, BEFORE sending its replies
    wal.sync()                         # instead of flush() when the batch has a client fsync
    if wal.should_compact():
        wal.compact(store.snapshot_records())
    wal.close()

Guarantees:

- after ``flush()`` returns, the batch survives a crash of the process (kill -9):
  it is in the page cache, which the kernel writes out on its own;
- after ``sync()`` returns, it survives a power loss (one ``fdatasync``, shared by
  every record and every fsync request of the batch);
- after ``compact()`` returns, the whole state is on stable storage;
- a full disk does not stop the log at once: it keeps ``reserve_bytes`` allocated
  past its end (``fallocate`` with ``FALLOC_FL_KEEP_SIZE``), topped up after each
  flush, so the file system's blocks filling up with other files (chunk data) leaves
  room for that many more bytes of records, deletions among them, which free space;
- a record is replayed whole or not at all; replay stops at the first record that
  is torn or fails its checksum and cuts the log there.

On-disk format (all integers little-endian):

- A frame is a 12-byte header ``magic (4 bytes) | length (u32) | crc (u32)`` and
  ``length`` payload bytes. ``crc`` is ``zlib.crc32`` of the first 8 header bytes
  (magic and length) followed by the payload. Log and snapshot records use the
  magic ``BFW1``; a different format version gets a different magic.
- ``wal.<gen>``: the log of generation ``gen``, a plain sequence of frames.
- ``snapshot.<gen>``: the full state at the start of generation ``gen``, as
  frames, ended by one trailer frame of magic ``BFS1`` whose 20-byte payload is
  ``record count (u64) | body length (u64) | crc32 of the body (u32)`` (the body is
  every byte before the trailer). A snapshot counts only when the trailer is the
  last frame of the file and the body checks. Generation 0 has no snapshot.
- ``snapshot.<gen>.tmp``: a snapshot being written; never read.
- ``LOCK``: held with ``flock`` while a WriteAheadLog has the directory open.

Compaction from generation ``g``: flush ``wal.g``; write ``snapshot.<g+1>.tmp``
and fsync it; create an empty ``wal.<g+1>``; rename the temp file to
``snapshot.<g+1>`` (the commit point); fsync the directory; then remove
``wal.g`` and ``snapshot.g``. Recovery picks the newest snapshot that checks
(generation 0 if none) and replays it and its log; it removes temp files and
every other generation. A crash at any point therefore leaves either the old
generation (``snapshot.g`` + ``wal.g``, whatever else exists) or the new one.
"""

from __future__ import annotations

import contextlib
import ctypes
import enum
import fcntl
import mmap
import os
import re
import struct
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from loguru import logger

RECORD_MAGIC = b"BFW1"
SNAPSHOT_END_MAGIC = b"BFS1"
HEADER = struct.Struct("<4sII")  # magic, payload length, crc32
HEADER_SIZE = HEADER.size
_PREFIX = struct.Struct("<4sI")  # the checksummed part of the header
_CRC = struct.Struct("<I")
TRAILER = struct.Struct("<QQI")  # record count, body length, crc32 of the body
MAX_RECORD_BYTES = 1 << 30
DEFAULT_COMPACT_BYTES = 64 << 20
DEFAULT_RESERVE_BYTES = 1 << 20  # thousands of records: room to delete files on a full disk
LOCK_NAME = "LOCK"

_NAME = re.compile(r"(snapshot|wal)\.(\d+)(\.tmp)?")
_WRITE_CHUNK = 1 << 20  # snapshot writes and checksum passes go this many bytes at a time

_libc = ctypes.CDLL(None, use_errno=True)
_libc.fallocate.argtypes = (ctypes.c_int, ctypes.c_int, ctypes.c_int64, ctypes.c_int64)
_FALLOC_FL_KEEP_SIZE = 1


class WALError(Exception):
    """Base class of the log's own errors (I/O errors come through as OSError)."""


class WALStateError(WALError):
    """A call out of order: before replay finished, after close, or after a failed write."""


class WALCorruptError(WALError):
    """The directory holds no state that can be recovered without losing logged records."""


@dataclass(frozen=True, slots=True)
class WALStats:
    """Counters since this WriteAheadLog was opened, and the current file sizes."""

    records: int  # records appended
    bytes_written: int  # framed bytes written to log files by flush()
    flushes: int  # flushes that wrote something (one write each)
    syncs: int  # fdatasync calls made by sync()
    compactions: int
    replayed: int  # records yielded by replay(), snapshot and log
    dropped_bytes: int  # torn or corrupt bytes cut from the log by replay()
    generation: int
    log_bytes: int  # size of the current log file
    pending_bytes: int  # framed bytes appended but not flushed yet
    snapshot_bytes: int  # size of the current snapshot file (0 for none)


class _State(enum.Enum):
    """The life of a WriteAheadLog; each value says why a call is refused in it."""

    NEW = "replay() has not been called and run to its end"
    REPLAYING = "replay() has not run to its end"
    READY = "replay() was called already"
    BROKEN = "it is broken by a failed write or fsync; close it and open it again"
    CLOSED = "it is closed"


@dataclass(frozen=True, slots=True)
class _Snapshot:
    path: str
    generation: int
    records: int
    body_bytes: int
    size: int


# -- framing -------------------------------------------------------------------------


def _frame_into(buf: bytearray, payload: bytes, magic: bytes = RECORD_MAGIC) -> None:
    if len(payload) > MAX_RECORD_BYTES:
        raise ValueError(f"a record holds at most {MAX_RECORD_BYTES} bytes, got {len(payload)}")
    prefix = _PREFIX.pack(magic, len(payload))
    buf += prefix
    buf += _CRC.pack(zlib.crc32(payload, zlib.crc32(prefix)))
    buf += payload


def _frame_at(data: mmap.mmap, pos: int, end: int, magic: bytes) -> tuple[bytes, int] | None:
    """The payload of the frame at ``pos`` and the offset past it, or None when it
    is torn (runs past ``end``), has another magic or fails its checksum."""
    if end - pos < HEADER_SIZE:
        return None
    found, length, crc = HEADER.unpack_from(data, pos)
    stop = pos + HEADER_SIZE + length
    if found != magic or stop > end:
        return None
    payload = data[pos + HEADER_SIZE:stop]
    if zlib.crc32(payload, zlib.crc32(data[pos:pos + _PREFIX.size])) != crc:
        return None
    return payload, stop


def _frames(path: str, end: int | None = None) -> Iterator[tuple[bytes, int]]:
    """(payload, offset past its frame) for each record frame from the start of
    ``path`` (up to ``end``), stopping at the first one that is torn or corrupt."""
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        limit = size if end is None else min(end, size)
        if limit == 0:
            return
        with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as data:
            pos = 0
            while (found := _frame_at(data, pos, limit, RECORD_MAGIC)) is not None:
                payload, pos = found
                yield payload, pos


def _crc_of(data: mmap.mmap, length: int) -> int:
    crc = 0
    for start in range(0, length, _WRITE_CHUNK):
        crc = zlib.crc32(data[start:min(start + _WRITE_CHUNK, length)], crc)
    return crc


def _check_snapshot(path: str, generation: int) -> _Snapshot | None:
    """The snapshot at ``path`` when its trailer and body check, else None."""
    trailer_frame = HEADER_SIZE + TRAILER.size
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        if size < trailer_frame:
            return None
        body = size - trailer_frame
        with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as data:
            found = _frame_at(data, body, size, SNAPSHOT_END_MAGIC)
            if found is None:
                return None
            records, body_bytes, body_crc = TRAILER.unpack(found[0])
            if body_bytes != body or _crc_of(data, body) != body_crc:
                return None
    return _Snapshot(path, generation, records, body, size)


# -- files ---------------------------------------------------------------------------


def _write_all(fd: int, data: bytes | bytearray) -> None:
    """One write, or more when the kernel takes part of it."""
    written = os.write(fd, data)
    while written < len(data):
        # A copy, not a memoryview: a view kept alive by a traceback would stop
        # the caller's bytearray from being resized ever after.
        written += os.write(fd, data[written:])


def _preallocate(fd: int, offset: int, length: int) -> None:
    """Allocate blocks for [offset, offset + length) without changing the file's
    size, so appends there need no free space (os.posix_fallocate moves the size)."""
    if _libc.fallocate(fd, _FALLOC_FL_KEEP_SIZE, offset, length) != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))


def _fsync_dir(path: str) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def _plan(directory: str) -> tuple[int, _Snapshot | None]:
    """Pick the generation to recover and remove every file no recovery needs."""
    snapshots: dict[int, str] = {}
    logs: dict[int, str] = {}
    junk: list[str] = []
    for entry in os.scandir(directory):
        match = _NAME.fullmatch(entry.name)
        if match is None:
            continue
        kind, generation, temp = match.groups()
        if temp:
            junk.append(entry.path)
        else:
            (snapshots if kind == "snapshot" else logs)[int(generation)] = entry.path
    chosen: _Snapshot | None = None
    for generation in sorted(snapshots, reverse=True):
        chosen = _check_snapshot(snapshots[generation], generation)
        if chosen is not None:
            break
        logger.warning("snapshot {} is incomplete or corrupt; skipping it",
                       snapshots[generation])
    current = chosen.generation if chosen is not None else 0
    for generation, path in logs.items():
        if generation > current and os.stat(path).st_size > 0:
            raise WALCorruptError(
                f"{path} holds records but snapshot.{generation} is missing or corrupt")
    if any(generation > current for generation in snapshots) and current not in logs:
        raise WALCorruptError(
            f"{directory}: the newest snapshot is corrupt and wal.{current}, which it "
            "replaced, is gone")
    junk += [path for generation, path in logs.items() if generation != current]
    junk += [path for generation, path in snapshots.items() if generation != current]
    for path in junk:
        _unlink(path)
    return current, chosen


# -- the log -------------------------------------------------------------------------


class WriteAheadLog:
    """A write-ahead log with group commit and snapshots in one directory.

    Not thread-safe: meant for one event loop. See the module docstring for the
    call order and the file format.
    """

    def __init__(self, directory: str | os.PathLike[str], *,
                 compact_bytes: int = DEFAULT_COMPACT_BYTES,
                 compact_ratio: float = 1.0,
                 reserve_bytes: int = DEFAULT_RESERVE_BYTES) -> None:
        """Open (creating it if needed) and lock ``directory``, and pick what to replay.

        ``should_compact()`` turns true once the log holds at least
        ``max(compact_bytes, compact_ratio * snapshot size)`` bytes, which keeps the
        rewrite cost of compaction proportional to the log written.
        ``reserve_bytes`` stay allocated past the log's end (0: none).
        Raises WALError when another WriteAheadLog holds the directory and
        WALCorruptError when no state can be recovered without losing records.
        """
        if compact_bytes <= 0 or compact_ratio < 0 or reserve_bytes < 0:
            raise ValueError("compact_bytes must be positive, compact_ratio and "
                             "reserve_bytes not negative")
        self._dir = os.fspath(directory)
        self._compact_bytes = compact_bytes
        self._compact_ratio = compact_ratio
        self._reserve_bytes = reserve_bytes
        self._reserved_to = 0  # the log's blocks are allocated up to this offset
        self._reserve_failing = False
        self._state = _State.NEW
        self._fd = -1
        self._buf = bytearray()
        self._log_bytes = 0
        self._synced_bytes = 0
        self._records = self._bytes_written = self._flushes = self._syncs = 0
        self._compactions = self._replayed = self._dropped = 0
        if not os.path.isdir(self._dir):
            os.makedirs(self._dir, exist_ok=True)
            _fsync_dir(os.path.dirname(os.path.abspath(self._dir)))
        self._lock_fd = os.open(os.path.join(self._dir, LOCK_NAME),
                                os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            try:
                fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise WALError(f"{self._dir} is open in another WriteAheadLog") from None
            self._generation, self._snapshot = _plan(self._dir)
        except BaseException:
            os.close(self._lock_fd)
            self._state = _State.CLOSED
            raise

    # -- properties ------------------------------------------------------------------

    @property
    def directory(self) -> str:
        return self._dir

    @property
    def generation(self) -> int:
        return self._generation

    @property
    def short_of_space(self) -> bool:
        """The reserve could not be topped up: the disk is full and the log is
        living on what is left of its reserve (at least half of it)."""
        return self._reserve_failing

    @property
    def stats(self) -> WALStats:
        return WALStats(
            records=self._records, bytes_written=self._bytes_written, flushes=self._flushes,
            syncs=self._syncs, compactions=self._compactions, replayed=self._replayed,
            dropped_bytes=self._dropped, generation=self._generation,
            log_bytes=self._log_bytes, pending_bytes=len(self._buf),
            snapshot_bytes=self._snapshot.size if self._snapshot is not None else 0,
        )

    def _path(self, kind: str, generation: int) -> str:
        return os.path.join(self._dir, f"{kind}.{generation}")

    def _require(self, state: _State) -> None:
        if self._state is not state:
            raise WALStateError(f"write-ahead log {self._dir}: not now, {self._state.value}")

    # -- replay ----------------------------------------------------------------------

    def replay(self) -> Iterator[bytes]:
        """The state's records in order: the snapshot's, then the log's.

        Call once, and run the iterator to its end before anything else; appends
        go after the last complete record. A torn or corrupt record ends the log:
        it and everything after it are cut off (see docs/architecture.md,
        "Metadata durability").
        """
        self._require(_State.NEW)
        self._state = _State.REPLAYING
        return self._replay()

    def _replay(self) -> Iterator[bytes]:
        snapshot = self._snapshot
        if snapshot is not None:
            count = end = 0
            for payload, stop in _frames(snapshot.path, snapshot.body_bytes):
                yield payload
                self._require(_State.REPLAYING)
                count, end = count + 1, stop
                self._replayed += 1
            if count != snapshot.records or end != snapshot.body_bytes:
                raise WALCorruptError(f"{snapshot.path} changed while it was replayed")
        log = self._path("wal", self._generation)
        valid = 0
        if os.path.exists(log):
            for payload, stop in _frames(log):
                yield payload
                self._require(_State.REPLAYING)
                valid = stop
                self._replayed += 1
        self._open_log(log, valid)
        self._state = _State.READY

    def _open_log(self, log: str, valid: int) -> None:
        """Open the log for appends after its last complete record, made durable."""
        existed = os.path.exists(log)
        fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o644)
        try:
            size = os.fstat(fd).st_size
            if size > valid:
                logger.warning("{}: cut {} bytes of torn or corrupt records after offset {}",
                               log, size - valid, valid)
                os.ftruncate(fd, valid)
                self._dropped = size - valid
            if size:
                # What a crashed process flushed may still be only in the page cache.
                os.fsync(fd)
            if not existed:
                _fsync_dir(self._dir)
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd
        self._log_bytes = self._synced_bytes = self._reserved_to = valid
        self._reserve()

    # -- appending -------------------------------------------------------------------

    def append(self, record: bytes) -> None:
        """Buffer one record in memory; nothing reaches the file before flush()."""
        self._require(_State.READY)
        _frame_into(self._buf, record)
        self._records += 1

    def flush(self) -> None:
        """Write every buffered record to the log with one write (no fsync).

        On an error (ENOSPC, EIO) the file is cut back to its last complete record
        and the records stay buffered, so a later flush() may write them; when the
        cut fails too, the log turns broken and every later call raises.
        """
        self._require(_State.READY)
        if not self._buf:
            return
        try:
            _write_all(self._fd, self._buf)
        except OSError:
            try:
                os.ftruncate(self._fd, self._log_bytes)
            except OSError:
                self._state = _State.BROKEN
            else:
                self._reserved_to = self._log_bytes  # the cut freed the blocks past it
            raise
        self._log_bytes += len(self._buf)
        self._bytes_written += len(self._buf)
        self._flushes += 1
        self._buf.clear()
        self._reserve()

    def _reserve(self) -> None:
        """Top the allocation past the log's end up to ``reserve_bytes`` once half of
        it is used. On a full disk the log goes on with what is left and tries
        again after the next flush."""
        end = self._log_bytes + self._reserve_bytes
        if not self._reserve_bytes or end - self._reserve_bytes // 2 < self._reserved_to:
            return
        try:
            _preallocate(self._fd, self._log_bytes, self._reserve_bytes)
        except OSError as err:
            if not self._reserve_failing:  # said once until a top-up works again
                logger.warning("{}: cannot keep space reserved for the metadata log: {}",
                               self._dir, err)
            self._reserve_failing = True
            return
        if self._reserve_failing:
            logger.info("{}: space reserved for the metadata log again", self._dir)
        self._reserve_failing = False
        self._reserved_to = end

    def sync(self) -> None:
        """flush(), then one fdatasync when anything is not on stable storage yet.

        A failed fdatasync leaves the page cache in an unknown state, so the log
        turns broken: reopen the directory (restart) to recover.
        """
        self.flush()
        if self._synced_bytes == self._log_bytes:
            return
        try:
            os.fdatasync(self._fd)
        except OSError:
            self._state = _State.BROKEN
            raise
        self._synced_bytes = self._log_bytes
        self._syncs += 1

    # -- compaction ------------------------------------------------------------------

    def should_compact(self) -> bool:
        """Whether the log (flushed and buffered) has outgrown its threshold."""
        self._require(_State.READY)
        snapshot = self._snapshot.size if self._snapshot is not None else 0
        limit = max(self._compact_bytes, int(self._compact_ratio * snapshot))
        return self._log_bytes + len(self._buf) >= limit

    def compact(self, snapshot_records: Iterable[bytes]) -> None:
        """Replace snapshot and log with a snapshot of ``snapshot_records``.

        ``snapshot_records`` is the full current state, every appended record
        included (buffered ones too: they are flushed first, then superseded). It
        is consumed once, before anything else happens to the log. When this
        raises before the new snapshot is committed, the old generation stays in
        use and nothing is lost.
        """
        self._require(_State.READY)
        self.flush()
        generation = self._generation + 1
        temp = self._path("snapshot", generation) + ".tmp"
        snapshot_path = self._path("snapshot", generation)
        log = self._path("wal", generation)
        fd = -1
        try:
            records, body = self._write_snapshot(temp, snapshot_records)
            fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_APPEND
                         | os.O_CLOEXEC, 0o644)
            os.rename(temp, snapshot_path)
        except BaseException:
            with contextlib.suppress(OSError):
                if fd >= 0:
                    os.close(fd)
                _unlink(temp)
                _unlink(log)
            raise
        # Committed: from here on recovery picks the new generation.
        old_fd, self._fd = self._fd, fd
        old_generation, self._generation = self._generation, generation
        self._snapshot = _Snapshot(snapshot_path, generation, records, body,
                                   body + HEADER_SIZE + TRAILER.size)
        self._log_bytes = self._synced_bytes = self._reserved_to = 0
        self._compactions += 1
        with contextlib.suppress(OSError):
            os.close(old_fd)
        self._reserve()
        try:
            # The rename and the new log's name must be durable before records
            # synced into the new log count on them, and before the old files go.
            _fsync_dir(self._dir)
        except OSError:
            self._state = _State.BROKEN
            raise
        for stale in (self._path("wal", old_generation),
                      self._path("snapshot", old_generation)):
            try:
                _unlink(stale)
            except OSError as err:  # recovery removes it later
                logger.warning("could not remove {}: {}", stale, err)

    @staticmethod
    def _write_snapshot(path: str, records: Iterable[bytes]) -> tuple[int, int]:
        """Write and fsync a snapshot of ``records``; their count and the body size."""
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)
        try:
            buf = bytearray()
            count = body = crc = 0
            for record in records:
                _frame_into(buf, record)
                count += 1
                if len(buf) >= _WRITE_CHUNK:
                    crc = zlib.crc32(buf, crc)
                    body += len(buf)
                    _write_all(fd, buf)
                    buf.clear()
            crc = zlib.crc32(buf, crc)
            body += len(buf)
            _frame_into(buf, TRAILER.pack(count, body, crc), SNAPSHOT_END_MAGIC)
            _write_all(fd, buf)
            os.fsync(fd)
        finally:
            os.close(fd)
        return count, body

    # -- closing ---------------------------------------------------------------------

    def close(self) -> None:
        """sync() what is buffered, then close the files and release the directory.

        Closing twice is allowed. A broken log closes without writing.
        """
        if self._state is _State.CLOSED:
            return
        try:
            if self._state is _State.READY:
                self.sync()
        finally:
            self._state = _State.CLOSED
            if self._fd >= 0:
                os.close(self._fd)
                self._fd = -1
            os.close(self._lock_fd)

    def __enter__(self) -> WriteAheadLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
