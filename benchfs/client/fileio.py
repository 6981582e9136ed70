"""Descriptors and their data: open, read, write and the calls that take an fd.

Data moves in chunk-sized requests sent all at once to every server involved;
write payloads are sent from the caller's buffer and reads land directly in the
``bytes`` object returned, so no payload is copied in Python.
"""

from __future__ import annotations

import errno
import operator
import os
import stat
import time
from collections.abc import Sequence
from typing import Any

from benchfs._native.engine import new_uninitialized_bytes
from benchfs.client.core import TRANSFER_PIECE, ClientCore
from benchfs.client.fdtable import OpenFile
from benchfs.client.namespace import Resolved
from benchfs.client.permissions import READ, WRITE
from benchfs.client.rpc import Request
from benchfs.core.chunks import split_range
from benchfs.core.errors import os_error
from benchfs.core.paths import had_trailing_slash
from benchfs.core.records import INLINE_MAX, Inode
from benchfs.core.wire import Op, decode_reply, encode_request

MAX_OFFSET = (1 << 63) - 1  # loff_t's range


def byte_view(data: object) -> memoryview:
    """A flat byte view of a bytes-like object, or the TypeError os.write raises."""
    if not isinstance(data, str):
        try:
            view = memoryview(data)  # type: ignore[arg-type]
        except TypeError:
            pass
        else:
            return view if view.format == "B" and view.ndim == 1 else view.cast("B")
    raise TypeError(f"a bytes-like object is required, not '{type(data).__name__}'")


class FileIO(ClientCore):
    def open(self, path: Any, flags: int, mode: int = 0o777, *,
             dir_fd: int | None = None) -> int:
        flags = operator.index(flags)
        mode = operator.index(mode)
        creating = bool(flags & os.O_CREAT)
        exclusive = creating and bool(flags & os.O_EXCL)
        access = flags & os.O_ACCMODE
        writable = access in (os.O_WRONLY, os.O_RDWR)
        if flags & os.O_PATH:
            raise NotImplementedError("benchfs does not implement O_PATH descriptors")
        if flags & os.O_TMPFILE == os.O_TMPFILE and not writable:
            raise os_error(errno.EINVAL, path)  # Linux checks the flags before the path
        with self._lock:
            direct = (self._create_directly(path, flags, mode, dir_fd)
                      if creating and not flags & (os.O_DIRECTORY | os.O_TMPFILE) else None)
            if direct is not None:
                return self._fds.add(self._open_file_for(*direct, flags, path))
            text, resolved = self._resolve(
                path, "open", dir_fd=dir_fd, must_exist=False,
                follow=not (flags & os.O_NOFOLLOW or exclusive),
            )
            if flags & os.O_TMPFILE == os.O_TMPFILE:
                # What Linux answers on a file system without unnamed files.
                self._existing_directory(resolved, path)
                raise os_error(errno.EOPNOTSUPP, path)
            if creating and flags & os.O_DIRECTORY:
                raise os_error(errno.EINVAL, path)
            inode = resolved.inode
            trailing = had_trailing_slash(text)
            if creating and trailing and (inode is None or not stat.S_ISDIR(inode.mode)):
                raise os_error(errno.EISDIR, path)
            if inode is None:
                if not creating:
                    raise os_error(errno.ENOENT, path)
                inode = self._create_file(resolved.path, resolved.parent, mode, path)
                created = True
            else:
                if trailing and not stat.S_ISDIR(inode.mode):
                    raise os_error(errno.ENOTDIR, path)
                created = False
            return self._fds.add(self._open_file_for(resolved.path, inode, created, flags, path))

    def _open_file_for(self, canonical: str, inode: Inode, created: bool, flags: int,
                       path: object) -> OpenFile:
        """The open description of ``inode``, after the checks an existing file needs."""
        access = flags & os.O_ACCMODE
        if not created:
            self._check_existing(inode, flags, path)
            if flags & os.O_TRUNC and stat.S_ISREG(inode.mode):
                # Linux truncates even for O_RDONLY, and moves mtime/ctime even
                # when the file is empty already.
                if inode.size:
                    self._truncate_ino(inode.ino, 0)
                else:
                    self._rpc.call(self._ns.rank_of_inode(inode.ino), Op.SET_SIZE,
                                   inode.ino, 0, False)
                inode.size = 0
                inode.inline = b"" if inode.inline is not None else None
        return OpenFile(
            path=canonical, ino=inode.ino, file_type=stat.S_IFMT(inode.mode),
            readable=access in (os.O_RDONLY, os.O_RDWR),
            writable=access in (os.O_WRONLY, os.O_RDWR),
            append=bool(flags & os.O_APPEND), size_hint=inode.size,
            size_seen_at=time.monotonic(), inline=inode.inline,
            sync=bool(flags & (os.O_SYNC | os.O_DSYNC)),
        )

    def _create_directly(self, path: object, flags: int, mode: int,
                         dir_fd: int | None) -> tuple[str, Inode, bool] | None:
        """O_CREAT of a plain name in a writable directory: ask for the file at once
        (the server creates it or answers with what is there), saving the lookup of
        the name. None sends the caller down the general path, which also finds
        every error the way Linux does."""
        target = self._writable_parent(path, "open", dir_fd)
        if target is None:
            return None
        canonical, parent = target
        exclusive = bool(flags & os.O_EXCL)
        ino, wire, created, parent_touched = self._rpc.call(
            self._ns.rank_of_path(canonical), Op.CREATE, canonical,
            mode & ~self._umask() & 0o7777, exclusive, self._creds().uid,
            self._new_file_gid(parent), parent.ino, filename=path,
        )
        inode = Inode.from_wire(wire) if wire is not None else self._ns.getattr(ino, path)
        if created and not parent_touched:
            self._touch_dir(parent)
        elif stat.S_ISLNK(inode.mode):
            return None  # follow it (or refuse it) on the general path
        return canonical, inode, created

    @staticmethod
    def _existing_directory(resolved: Resolved, path: object) -> None:
        if resolved.inode is None:
            raise os_error(errno.ENOENT, path)
        if not stat.S_ISDIR(resolved.inode.mode):
            raise os_error(errno.ENOTDIR, path)

    def _check_existing(self, inode: Inode, flags: int, path: object) -> None:
        access = flags & os.O_ACCMODE
        if flags & os.O_CREAT and flags & os.O_EXCL:
            raise os_error(errno.EEXIST, path)
        if stat.S_ISLNK(inode.mode):  # only reached with O_NOFOLLOW
            # Linux checks O_DIRECTORY before it refuses the symlink.
            raise os_error(errno.ENOTDIR if flags & os.O_DIRECTORY else errno.ELOOP, path)
        if stat.S_ISDIR(inode.mode):
            if access != os.O_RDONLY or flags & os.O_CREAT:
                raise os_error(errno.EISDIR, path)
        elif flags & os.O_DIRECTORY:
            raise os_error(errno.ENOTDIR, path)
        want = (READ if access in (os.O_RDONLY, os.O_RDWR) else 0) | (
            WRITE if access in (os.O_WRONLY, os.O_RDWR) or flags & os.O_TRUNC else 0)
        self._require(inode, want, path)

    def _create_file(self, path: str, parent: Inode, mode: int, filename: object) -> Inode:
        self._require(parent, WRITE | 1, filename)
        ino, wire, created, parent_touched = self._rpc.call(
            self._ns.rank_of_path(path), Op.CREATE, path, mode & ~self._umask() & 0o7777,
            False, self._creds().uid, self._new_file_gid(parent), parent.ino, filename=filename,
        )
        if created and not parent_touched:
            self._touch_dir(parent)
        return Inode.from_wire(wire) if wire is not None else self._ns.getattr(ino, filename)

    def _new_file_gid(self, parent: Inode) -> int:
        # A setgid directory hands its group down, as on Linux.
        return parent.gid if parent.mode & stat.S_ISGID else self._creds().gid

    def close(self, fd: int) -> None:
        fd = operator.index(fd)
        with self._lock:
            self._close_locked(fd)

    def flush(self, fd: int) -> None:
        """Publish the size and mtime this client's writes gave (as close does)
        without closing: a FUSE flush, sent at each close(2) of a descriptor whose
        open file may live on in a dup or a mapping."""
        with self._lock:
            self._open_file(fd)
            self._publish_sizes()

    def _close_locked(self, fd: int) -> None:
        self._publish_sizes()
        closed = self._fds.remove(fd)
        if closed.orphaned and not any(f.ino == closed.ino for f in self._fds.open_files()):
            self._remove_data(closed.ino, chunked=closed.inline is None)

    def dup(self, fd: int) -> int:
        with self._lock:
            return self._fds.dup(operator.index(fd))

    # -- reading -----------------------------------------------------------------------

    def _readable(self, fd: int) -> OpenFile:
        open_file = self._fds.get(operator.index(fd))
        if not open_file.readable:
            raise os_error(errno.EBADF)
        if stat.S_ISDIR(open_file.file_type):
            raise os_error(errno.EISDIR)
        return open_file

    def read(self, fd: int, length: int) -> bytes:
        length = operator.index(length)
        with self._lock:
            open_file = self._readable(fd)
            if length < 0:
                raise os_error(errno.EINVAL)
            data = self._read_at(open_file, length, open_file.position)
            open_file.position += len(data)
            return data

    def pread(self, fd: int, length: int, offset: int) -> bytes:
        length = operator.index(length)
        offset = operator.index(offset)
        with self._lock:
            open_file = self._readable(fd)
            if length < 0 or offset < 0:
                raise os_error(errno.EINVAL)
            return self._read_at(open_file, length, offset)

    def readv(self, fd: int, buffers: Sequence[Any]) -> int:
        with self._lock:
            open_file = self._readable(fd)
            views = [memoryview(buffer).cast("B") for buffer in buffers]
            data = self._read_at(open_file, sum(len(v) for v in views), open_file.position)
            done = 0
            for view in views:
                piece = data[done:done + len(view)]
                view[:len(piece)] = piece
                done += len(piece)
            open_file.position += done
            return done

    def _file_size(self, open_file: OpenFile) -> int:
        """Ask the inode's server for the size (and a small file's data)."""
        inode = self._ns.getattr(open_file.ino)
        open_file.size_hint = inode.size
        open_file.size_seen_at = time.monotonic()
        open_file.inline = inode.inline
        return open_file.size_hint

    def _size_may_have_grown(self, open_file: OpenFile) -> bool:
        """Whether a read past the size this descriptor knows must ask the server:
        the size is older than the metadata TTL (another client may have written
        since), or another descriptor of ours writes the file."""
        if time.monotonic() - open_file.size_seen_at >= self.settings.metadata_ttl:
            return True
        return any(other.writable and other.ino == open_file.ino and other is not open_file
                   for other in self._fds.open_files())

    def readinto(self, fd: int, buffer: Any) -> int:
        """os.readinto (Python 3.14): read into a writable buffer; the data is
        received in place, with no copy in Python."""
        view = memoryview(buffer)
        if view.readonly:
            raise TypeError("readinto() argument 2 must be read-write bytes-like object, "
                            f"not {type(buffer).__name__}")
        view = view.cast("B") if view.format != "B" or view.ndim != 1 else view
        with self._lock:
            open_file = self._readable(fd)
            done = self._read_into(open_file, view, open_file.position)
            open_file.position += done
            return done

    def fd_type(self, fd: int) -> int:
        """The S_IFMT bits of an open descriptor's file, as known since its open
        (no round trip)."""
        return self._fds.get(operator.index(fd)).file_type

    def _length_to_read(self, open_file: OpenFile, length: int, offset: int) -> int:
        size = open_file.size_hint
        if offset + length > size and self._size_may_have_grown(open_file):
            size = self._file_size(open_file)
        return max(0, min(length, size - offset))

    def _read_at(self, open_file: OpenFile, length: int, offset: int) -> bytes:
        length = self._length_to_read(open_file, length, offset)
        if length == 0:
            return b""
        if open_file.inline is not None:
            # A small file's data came with its attributes (close-to-open).
            return open_file.inline[offset:offset + length]
        out, target = new_uninitialized_bytes(length)
        self._receive(open_file, target, offset)
        return out

    def _read_into(self, open_file: OpenFile, view: memoryview, offset: int) -> int:
        length = self._length_to_read(open_file, len(view), offset)
        if length and open_file.inline is not None:
            data = open_file.inline[offset:offset + length]
            view[:len(data)] = data
            return len(data)
        if length:
            self._receive(open_file, view[:length], offset)
        return length

    def _receive(self, open_file: OpenFile, target: memoryview, offset: int) -> None:
        """Read [offset, offset + len(target)) of a chunked file into ``target``."""
        requests = [
            Request(
                self._ns.rank_of_chunk(open_file.ino, piece.index), Op.READ, open_file.ino,
                piece.file_offset, piece.length,
                recv_into=target[piece.buf_offset:piece.buf_offset + piece.length],
            )
            for piece in split_range(offset, len(target), self.chunk_size, TRANSFER_PIECE)
        ]
        for reply in self._rpc.run(requests):
            if reply.status:
                raise os_error(reply.status)

    # -- writing -----------------------------------------------------------------------

    def _writable(self, fd: int) -> OpenFile:
        open_file = self._fds.get(operator.index(fd))
        if not open_file.writable:
            raise os_error(errno.EBADF)
        return open_file

    def write(self, fd: int, data: Any) -> int:
        with self._lock:
            open_file = self._writable(fd)
            view = byte_view(data)
            offset = self._file_size(open_file) if open_file.append else open_file.position
            written = self._write_at(open_file, view, offset)
            open_file.position = offset + written
            return written

    def pwrite(self, fd: int, data: Any, offset: int) -> int:
        offset = operator.index(offset)
        with self._lock:
            open_file = self._writable(fd)
            view = byte_view(data)
            if offset < 0:
                raise os_error(errno.EINVAL)
            if open_file.append:
                # Linux appends on pwrite to an O_APPEND descriptor, ignoring offset.
                offset = self._file_size(open_file)
            return self._write_at(open_file, view, offset)

    def writev(self, fd: int, buffers: Sequence[Any]) -> int:
        return self.write(fd, b"".join(byte_view(buffer) for buffer in buffers))

    def _write_at(self, open_file: OpenFile, view: memoryview, offset: int) -> int:
        if not len(view):
            return 0
        end = offset + len(view)
        if end > MAX_OFFSET:
            raise os_error(errno.EFBIG)
        owner = self._ns.rank_of_inode(open_file.ino)
        if open_file.inline is None or not self._write_inline(open_file, view, offset, owner):
            open_file.dirty_ranks |= self._write_chunks(open_file.ino, view, offset)
            # Noted only once the data is on the servers, so a failed write (ENOSPC)
            # never leaves a file longer than what it holds.
            self._note_write(open_file, end)
        if open_file.sync:
            self._sync(open_file, datasync=False)
        return len(view)

    def _write_inline(self, open_file: OpenFile, view: memoryview, offset: int,
                      owner: int) -> bool:
        """Write a small file in its inode record: one round trip, no chunk file.
        False when it does not fit (any more); the file has then moved to chunks."""
        end = offset + len(view)
        if end <= INLINE_MAX:
            data = bytes(view)
            try:
                open_file.size_hint = self._rpc.call(owner, Op.INLINE_WRITE, open_file.ino,
                                                     offset, data)
            except OSError as exc:
                if exc.errno != errno.EMSGSIZE:
                    raise
            else:
                current = (open_file.inline or b"").ljust(open_file.size_hint, b"\0")
                open_file.inline = current[:offset] + data + current[end:]
                return True
        open_file.dirty_ranks |= self._spill(open_file.ino)
        return False

    # -- positions, sync, truncate ---------------------------------------------------------

    def lseek(self, fd: int, position: int, whence: int) -> int:
        position = operator.index(position)
        whence = operator.index(whence)
        with self._lock:
            open_file = self._fds.get(operator.index(fd))
            is_dir = stat.S_ISDIR(open_file.file_type)
            if whence == os.SEEK_SET:
                target = position
            elif whence == os.SEEK_CUR:
                target = open_file.position + position
            elif whence == os.SEEK_END:
                # ext4 reports the end of a directory as the largest hash cookie.
                target = (MAX_OFFSET if is_dir else self._file_size(open_file)) + position
            elif whence in (os.SEEK_DATA, os.SEEK_HOLE) and is_dir:
                # ext4: a directory is all data up to its end cookie.
                if not 0 <= position < MAX_OFFSET:
                    raise os_error(errno.ENXIO)
                target = position if whence == os.SEEK_DATA else MAX_OFFSET
            elif whence in (os.SEEK_DATA, os.SEEK_HOLE):
                target = self._seek_data(open_file, position, whence)
            else:
                raise os_error(errno.EINVAL)
            if not 0 <= target <= MAX_OFFSET:
                raise os_error(errno.EINVAL)
            open_file.position = target
            return target

    def _seek_data(self, open_file: OpenFile, position: int, whence: int) -> int:
        """SEEK_DATA/SEEK_HOLE: each chunk's server answers for its range of its chunk
        file (data sits at its file offsets there, so its holes are the file's)."""
        size = self._file_size(open_file)
        if not 0 <= position < size:
            raise os_error(errno.ENXIO)
        want_data = whence == os.SEEK_DATA
        if open_file.inline is not None:  # a small file is data from end to end
            return position if want_data else size
        pieces = split_range(position, size - position, self.chunk_size)
        replies = self._rpc.run_retrying([
            Request(self._ns.rank_of_chunk(open_file.ino, piece.index), Op.DATA_SEEK,
                    body=encode_request(Op.DATA_SEEK, open_file.ino, piece.file_offset,
                                        want_data))
            for piece in pieces
        ])
        for piece, reply in zip(pieces, replies, strict=True):
            if reply.status:
                raise os_error(reply.status)
            answer = decode_reply(reply.payload or b"")
            end = piece.file_offset + piece.length
            if want_data and answer is not None and answer < end:
                return int(answer)
            if not want_data:
                hole = piece.file_offset if answer is None else int(answer)
                if hole < end:
                    return hole
        if want_data:
            raise os_error(errno.ENXIO)
        return size

    def fsync(self, fd: Any) -> None:
        with self._lock:
            self._sync(self._open_file(fd), datasync=False)

    def fdatasync(self, fd: Any) -> None:
        with self._lock:
            self._sync(self._open_file(fd), datasync=True)

    def _sync(self, open_file: OpenFile, datasync: bool) -> None:
        self._publish_sizes()
        ranks = sorted(open_file.dirty_ranks)
        requests = [Request(rank, Op.FSYNC, open_file.ino, int(datasync)) for rank in ranks]
        # Names and attributes may live on any server: every metadata log syncs.
        requests += [Request(rank, Op.META_SYNC, body=encode_request(Op.META_SYNC))
                     for rank in self._ns.all_ranks]
        for reply in self._rpc.run(requests):
            if reply.status:
                raise os_error(reply.status)
        open_file.dirty_ranks.clear()
