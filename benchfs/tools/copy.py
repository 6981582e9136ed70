"""Copying one entry of a plan: a file's data (holes kept, large blocks), a symlink, a
hard link, a directory, and the attributes ``cp -a`` keeps, set last.

Both ends are any ``FileSystem`` (``os`` or a ``benchfs.Client``), so the same code copies
in, out, and from benchfs to benchfs (benchfs has no server-side copy: bytes pass through
this process).
"""

from __future__ import annotations

import dataclasses
import errno
import hashlib
import os
import posixpath
import stat
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

from benchfs.client.core import current_umask
from benchfs.tools.diagnostics import Diagnostics
from benchfs.tools.paths import FileSystem, Location
from benchfs.tools.tree import Entry

MiB = 1 << 20
# Large enough that a benchfs transfer spans many chunk pieces in flight at once.
DEFAULT_BLOCK = 16 * MiB
# Smaller benchfs files are copied whole: asking for their holes costs two round trips,
# and what holes they could have are too small to matter.
PROBE_MIN = 64 << 10

# What makes an existing destination entry be left alone.
NEVER, EXISTING, OLDER, COMPLETE = "never", "existing", "older", "complete"

Progress = Callable[[int], object]


@dataclass(frozen=True)
class CopyOptions:
    recursive: bool = False
    dereference: bool = True  # copy what symlinks point to (cp without -r, -d, -a)
    preserve_mode: bool = False
    preserve_times: bool = False
    preserve_owner: bool = False
    preserve_links: bool = False  # hard links inside the copy stay links
    skip: str = NEVER  # -n: EXISTING, -u: OLDER, stage's resume: COMPLETE
    fsync: bool = False  # make the data durable before the times say "complete"
    verify: bool = False
    verbose: bool = False
    via_temporary: bool = False  # never write over an existing file in place (flush)


def archive_options(skip: str = NEVER, fsync: bool = False, verify: bool = False,
                    via_temporary: bool = False) -> CopyOptions:
    """cp -a's: the tree, symlinks as symlinks, hard links as links, every attribute."""
    return CopyOptions(recursive=True, dereference=False, preserve_mode=True,
                       preserve_times=True, preserve_owner=True, preserve_links=True,
                       skip=skip, fsync=fsync, verify=verify, via_temporary=via_temporary)


def block_size(chunk_size: int, at_least: int = DEFAULT_BLOCK) -> int:
    """The smallest multiple of the chunk size that is at least ``at_least``."""
    return -(-at_least // chunk_size) * chunk_size


def data_extents(fs: FileSystem, fd: int, start: int, end: int) -> Iterator[tuple[int, int]]:
    """The data ranges of [start, end) by SEEK_DATA/SEEK_HOLE (all of it when the file
    system cannot tell)."""
    position = start
    while position < end:
        try:
            begin = fs.lseek(fd, position, os.SEEK_DATA)
        except OSError as error:
            if error.errno == errno.ENXIO:  # nothing but a hole up to the end
                return
            if error.errno not in (errno.EINVAL, errno.EOPNOTSUPP):
                raise
            yield position, end
            return
        if begin >= end:
            return
        stop = min(fs.lseek(fd, begin, os.SEEK_HOLE), end)
        yield begin, stop
        position = stop


class ReadError(OSError):
    """The source side of a transfer failed (the message says 'error reading')."""


def _pieces(extents: Iterator[tuple[int, int]], block: int) -> Iterator[tuple[int, int]]:
    """(offset, length) of each transfer: the extents cut at multiples of ``block``."""
    for begin, stop in extents:
        offset = begin
        while offset < stop:
            boundary = min(stop, (offset // block + 1) * block)
            yield offset, boundary - offset
            offset = boundary


def copy_range(src: FileSystem, src_fd: int, dst: FileSystem, dst_fd: int, start: int,
               end: int, block: int, sparse: bool, progress: Progress | None,
               read_ahead: bool = False) -> int:
    """Copy bytes [start, end) at the same offsets, skipping the source's holes when
    ``sparse``; transfers end on multiples of ``block``. ``read_ahead``: read the next
    block on a thread while this one is written (for a local source: os.pread leaves
    the GIL). Returns the end of the last data written (the caller extends the file
    over a trailing hole)."""

    def read(offset: int, length: int) -> bytes:
        try:
            return src.pread(src_fd, length, offset)
        except OSError as error:
            raise ReadError(error.errno, error.strerror) from error

    extents = data_extents(src, src_fd, start, end) if sparse else iter([(start, end)])
    pieces = _pieces(extents, block)
    if not read_ahead:
        return _store(dst, dst_fd, ((o, read(o, n)) for o, n in pieces), progress, start)
    with ThreadPoolExecutor(1) as pool:
        return _store(dst, dst_fd, _ahead(pool, read, pieces), progress, start)


def _ahead(pool: ThreadPoolExecutor, read: Callable[[int, int], bytes],
           pieces: Iterator[tuple[int, int]]) -> Iterator[tuple[int, bytes]]:
    """Each block read while the one before it is being written."""
    pending: tuple[int, Future[bytes]] | None = None
    for offset, length in pieces:
        future = pool.submit(read, offset, length)
        if pending is not None:
            yield pending[0], pending[1].result()
        pending = offset, future
    if pending is not None:
        yield pending[0], pending[1].result()


def _store(dst: FileSystem, fd: int, blocks: Iterator[tuple[int, bytes]],
           progress: Progress | None, written_end: int) -> int:
    for offset, data in blocks:
        if not data:  # the source shrank under us: copy what there is, as cp does
            break
        _write_all(dst, fd, data, offset)
        written_end = offset + len(data)
        if progress is not None:
            progress(len(data))
    return written_end


def _write_all(fs: FileSystem, fd: int, data: bytes, offset: int) -> None:
    view = memoryview(data)
    while view:
        written = fs.pwrite(fd, view, offset)
        view, offset = view[written:], offset + written


def digest(fs: FileSystem, path: bytes, start: int, end: int, block: int) -> bytes:
    fd = fs.open(path, os.O_RDONLY)
    try:
        hasher = hashlib.blake2b()
        for offset in range(start, end, block):
            hasher.update(fs.pread(fd, min(block, end - offset), offset))
        return hasher.digest()
    finally:
        fs.close(fd)


def _temporary(location: Location) -> Location:
    head, name = posixpath.split(location.path)
    return Location(location.fs, posixpath.join(head, b".%s.benchfs-tmp" % name),
                    location.remote, location.shown + b".benchfs-tmp")


def _lstat_or_none(location: Location) -> os.stat_result | None:
    try:
        return location.fs.lstat(location.path)
    except FileNotFoundError:
        return None


class Copier:
    """Copies entries of one plan from ``src_root`` to ``dst_root``, reporting each failure
    and carrying on."""

    def __init__(self, src_root: Location, dst_root: Location, options: CopyOptions,
                 diagnostics: Diagnostics, block: int, progress: Progress | None = None
                 ) -> None:
        self.src_root, self.dst_root = src_root, dst_root
        self.options = options
        self.diagnostics = diagnostics
        self.block = block
        self.progress = progress
        self.copied_bytes = 0
        self.new_dirs: set[bytes] = set()  # rels of the directories this copy created
        self._umask = current_umask()

    def locations(self, entry: Entry) -> tuple[Location, Location]:
        if not entry.rel:
            return self.src_root, self.dst_root
        return self.src_root.join(entry.rel), self.dst_root.join(entry.rel)

    # -- when to leave a destination alone -----------------------------------------------

    def _skip(self, entry: Entry, existing: os.stat_result | None) -> bool:
        policy = self.options.skip
        if existing is None or policy == NEVER:
            return False
        if policy == EXISTING:
            return True
        if policy == OLDER:
            return existing.st_mtime_ns >= entry.mtime_ns
        return self.is_complete(entry, existing)

    def is_complete(self, entry: Entry, existing: os.stat_result) -> bool:
        """A copy is complete when its times say so: they are set last, after its data
        (and, with fsync, after the data is durable), so a copy cut short anywhere
        before has the time of its creation, not the source's."""
        if stat.S_IFMT(existing.st_mode) != stat.S_IFMT(entry.mode):
            return False
        if stat.S_ISLNK(entry.mode):
            return True  # compared by target in make_symlink
        return (existing.st_size == entry.size and existing.st_mtime_ns == entry.mtime_ns
                and (not self.options.preserve_mode
                     or stat.S_IMODE(existing.st_mode) == stat.S_IMODE(entry.mode)))

    def _clear(self, dst: Location, existing: os.stat_result, src: Location) -> bool:
        """Make room for a non-directory at ``dst``; False (reported) if it is a directory."""
        if stat.S_ISDIR(existing.st_mode):
            self.diagnostics.fail(f"cannot overwrite directory '{dst.text}' with "
                                  f"non-directory '{src.text}'")
            return False
        dst.fs.unlink(dst.path)
        return True

    # -- directories ---------------------------------------------------------------------

    def make_dir(self, entry: Entry) -> bool:
        """Create the directory (owner-writable until finish_dir); False: its contents
        cannot be copied (reported)."""
        src, dst = self.locations(entry)
        try:
            dst.fs.mkdir(dst.path, 0o700)
            self.new_dirs.add(entry.rel)
        except FileExistsError:
            existing = dst.fs.lstat(dst.path)
            if not stat.S_ISDIR(existing.st_mode):
                self.diagnostics.fail(f"cannot overwrite non-directory '{dst.text}' with "
                                      f"directory '{src.text}'")
                return False
            if existing.st_mode & 0o700 != 0o700 and os.geteuid() != 0:
                dst.fs.chmod(dst.path, existing.st_mode | 0o700)
        except OSError as error:
            self.diagnostics.os_error("cannot create directory", dst, error)
            return False
        self._verbose(src, dst)
        return True

    def finish_dir(self, entry: Entry) -> None:
        _, dst = self.locations(entry)
        mode = entry.mode if self.options.preserve_mode else entry.mode & ~self._umask
        self._attributes(entry, dst, stat.S_IMODE(mode), follow=True)

    # -- regular files -------------------------------------------------------------------

    def copy_file(self, entry: Entry) -> None:
        """The whole file, then its attributes."""
        written = self.write_file(entry)
        if written is not None:
            self.complete([written])

    def write_file(self, entry: Entry) -> Written | None:
        """Copy the data, leaving the copy open for complete(). None: skipped, or
        failed (reported)."""
        src, dst = self.locations(entry)
        try:
            # A directory this copy created holds nothing it did not put there.
            existing = (None if posixpath.dirname(entry.rel) in self.new_dirs and entry.rel
                        else _lstat_or_none(dst))
            if self._skip(entry, existing):
                return None
            if existing is not None and not stat.S_ISREG(existing.st_mode):
                if not self._clear(dst, existing, src):
                    return None
                existing = None
            # With via_temporary the data goes to a temporary name renamed over the old
            # file at the end: the old one stays whole until the new one is.
            target = _temporary(dst) if self.options.via_temporary else dst
            src_fd = self._open_source(src)
            # Created with the source's permissions (the descriptor writes whatever they
            # are), so that a mode the umask leaves alone needs no chmod afterwards.
            create_mode = stat.S_IMODE(entry.mode) & 0o777
            try:
                dst_fd = target.fs.open(target.path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC,
                                        create_mode)
            except OSError as error:
                src.fs.close(src_fd)
                self.diagnostics.os_error("cannot create regular file", target, error)
                return None
            try:
                end = self._transfer(src, src_fd, target, dst_fd, 0, entry.size)
                if end < entry.size:
                    target.fs.ftruncate(dst_fd, entry.size)  # a trailing hole
            except BaseException:
                target.fs.close(dst_fd)
                raise
            finally:
                src.fs.close(src_fd)
            created = existing is None or target is not dst
            fresh = (os.geteuid(), os.getegid(), create_mode & ~self._umask)
            return Written(entry, target, dst_fd, fresh if created else None, created)
        except ReadError as error:
            self.diagnostics.os_error("error reading", src, error)
        except OSError as error:
            self.diagnostics.os_error("error writing", dst, error)
        return None

    def complete(self, batch: list[Written]) -> None:
        """fsync (with the fsync option), close, then attributes, for a batch of copies.
        fsync'ing a batch together costs one log flush on each server (or one journal
        commit on a local disk): the first fsync makes the names and the small files'
        data of the whole batch durable, the later ones find little left to do."""
        failed: set[int] = set()  # fds
        for written in batch:
            try:
                if self.options.fsync:
                    written.at.fs.fsync(written.fd)
            except OSError as error:
                self.diagnostics.os_error("error writing", written.at, error)
                failed.add(written.fd)
        for written in batch:
            try:
                written.at.fs.close(written.fd)
            except OSError as error:
                if written.fd not in failed:
                    self.diagnostics.os_error("error writing", written.at, error)
                failed.add(written.fd)
        for written in batch:
            if written.fd in failed:
                continue
            src, dst = self.locations(written.entry)
            try:
                if self.options.verify and not self._verified(src, written.at, 0,
                                                              written.entry.size):
                    continue
                self.finish_file(written.entry, created=written.created, fresh=written.fresh,
                                 at=written.at)
                if written.at is not dst:
                    dst.fs.rename(written.at.path, dst.path)
                self._verbose(src, dst)
            except ReadError as error:
                self.diagnostics.os_error("error reading", src, error)
            except OSError as error:
                self.diagnostics.os_error("error writing", dst, error)

    def _open_source(self, src: Location) -> int:
        try:
            return src.fs.open(src.path, os.O_RDONLY)
        except OSError as error:
            raise ReadError(error.errno, error.strerror) from error

    def _transfer(self, src: Location, src_fd: int, dst: Location, dst_fd: int, start: int,
                  end: int) -> int:
        written = copy_range(src.fs, src_fd, dst.fs, dst_fd, start, end, self.block,
                             self._may_have_holes(src, src_fd, end - start), self.progress,
                             read_ahead=not src.remote and end - start > self.block)
        self.copied_bytes += end - start
        return written

    def _may_have_holes(self, src: Location, src_fd: int, length: int) -> bool:
        """Whether to ask SEEK_DATA: locally only when fewer blocks are allocated than
        the size needs (what GNU cp checks); benchfs reports no allocation, so ask
        for every file of PROBE_MIN or more."""
        if src.remote:
            return length >= PROBE_MIN
        st = src.fs.fstat(src_fd)
        return st.st_blocks * 512 < st.st_size

    def _verified(self, src: Location, dst: Location, start: int, end: int) -> bool:
        if digest(src.fs, src.path, start, end, self.block) == digest(
                dst.fs, dst.path, start, end, self.block):
            return True
        self.diagnostics.fail(f"verification failed: '{dst.text}' differs from "
                              f"'{src.text}' in bytes {start}-{end}")
        return False

    def prepare_pieces(self, entry: Entry) -> bool:
        """Before several processes write pieces of one file: create it empty at its
        full size. False: it is already complete (or failed, reported)."""
        src, dst = self.locations(entry)
        try:
            existing = _lstat_or_none(dst)
            if self._skip(entry, existing):
                return False
            if existing is not None and not stat.S_ISREG(existing.st_mode):
                if not self._clear(dst, existing, src):
                    return False
            fd = dst.fs.open(dst.path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            try:
                dst.fs.ftruncate(fd, entry.size)
            finally:
                dst.fs.close(fd)
        except OSError as error:
            self.diagnostics.os_error("cannot create regular file", dst, error)
            return False
        return True

    def copy_piece(self, entry: Entry, start: int, end: int) -> None:
        src, dst = self.locations(entry)
        try:
            src_fd = self._open_source(src)
            try:
                dst_fd = dst.fs.open(dst.path, os.O_WRONLY)
                try:
                    self._transfer(src, src_fd, dst, dst_fd, start, end)
                    if self.options.fsync:
                        dst.fs.fsync(dst_fd)
                finally:
                    dst.fs.close(dst_fd)
            finally:
                src.fs.close(src_fd)
            if self.options.verify:
                self._verified(src, dst, start, end)
        except ReadError as error:
            self.diagnostics.os_error("error reading", src, error)
        except OSError as error:
            self.diagnostics.os_error("error writing", dst, error)

    def finish_file(self, entry: Entry, created: bool = True,
                    fresh: tuple[int, int, int] | None = None,
                    at: Location | None = None) -> None:
        """Owner, mode, then times: the times last, since they mark the copy complete.
        ``fresh``: (uid, gid, mode) the file was just created with, whose setting can
        be skipped (a destination directory with the setgid bit gives its own group
        instead of this process's: such a copy keeps that group). ``at``: where the
        copy is, if not yet at its name."""
        dst = at or self.locations(entry)[1]
        if self.options.preserve_mode:
            mode: int | None = stat.S_IMODE(entry.mode)
        else:  # cp: a new file gets the source's mode less the umask; an old one keeps its
            mode = stat.S_IMODE(entry.mode) & ~self._umask & 0o777 if created else None
        self._attributes(entry, dst, mode, follow=True, fresh=fresh)

    # -- links ---------------------------------------------------------------------------

    def make_symlink(self, entry: Entry) -> None:
        src, dst = self.locations(entry)
        try:
            existing = _lstat_or_none(dst)
            if existing is not None and stat.S_ISLNK(existing.st_mode) and \
                    self.options.skip == COMPLETE and \
                    os.fsencode(dst.fs.readlink(dst.path)) == entry.target:
                return
            if self._skip(entry, existing):
                return
            if existing is not None and not self._clear(dst, existing, src):
                return
            dst.fs.symlink(entry.target, dst.path)
        except OSError as error:
            self.diagnostics.os_error("cannot create symbolic link", dst, error)
            return
        self._attributes(entry, dst, None, follow=False)
        self._verbose(src, dst)

    def make_hardlink(self, entry: Entry) -> None:
        src, dst = self.locations(entry)
        first = self.dst_root.join(entry.target)
        try:
            existing = _lstat_or_none(dst)
            if existing is not None:
                if existing.st_ino == first.fs.lstat(first.path).st_ino:
                    return  # already that link
                if self.options.skip == EXISTING:
                    return
                if not self._clear(dst, existing, src):
                    return
            dst.fs.link(first.path, dst.path)
        except OSError as error:
            self.diagnostics.os_error("cannot create hard link", dst, error)
            return
        self._verbose(src, dst)

    # -- attributes ----------------------------------------------------------------------

    def _attributes(self, entry: Entry, dst: Location, mode: int | None, follow: bool,
                    fresh: tuple[int, int, int] | None = None) -> None:
        options = self.options
        if fresh is not None:  # each setting is a round trip on benchfs: only what differs
            if (entry.uid, entry.gid) == fresh[:2]:
                options = dataclasses.replace(options, preserve_owner=False)
            if mode == fresh[2]:
                mode = None
        try:
            if options.preserve_owner:
                try:
                    dst.fs.chown(dst.path, entry.uid, entry.gid, follow_symlinks=follow)
                except PermissionError:
                    pass  # cp -a as a user: the copy is the user's, as GNU cp leaves it
            if mode is not None and follow:
                dst.fs.chmod(dst.path, mode)
            if options.preserve_times:
                dst.fs.utime(dst.path, ns=(entry.atime_ns, entry.mtime_ns),
                             follow_symlinks=follow)
        except OSError as error:
            self.diagnostics.os_error("failed to preserve attributes of", dst, error)

    def _verbose(self, src: Location, dst: Location) -> None:
        if self.options.verbose:
            print(f"'{src.text}' -> '{dst.text}'", flush=True)


@dataclass(frozen=True)
class Written:
    """A file whose data is copied, still open, waiting for complete()."""

    entry: Entry
    at: Location  # where the data is: its name, or a temporary one renamed there at the end
    fd: int
    fresh: tuple[int, int, int] | None  # (uid, gid, mode) it was created with
    created: bool
