"""The FUSE request handlers (pyfuse3's low-level, inode-based interface) over one Client.

Each handler is one or two client calls: the rules (POSIX errors, permissions,
rename and unlink transactions, close-to-open sizes) are the client's. A request
that names a caller runs ``acting_for`` it, so the client checks permissions and
owns new files as that process would (the kernel has applied the umask to the
mode already). The kernel checks permissions too (``default_permissions``).

Errors: every OSError becomes its errno; anything else is a bug, logged and
answered EIO, so that one bad request never takes the mount down.

Open files are client descriptors: the file handle the kernel holds *is* the
client's fd, so an unlinked file stays readable until its last release, as
with the API. Directory handles are client descriptors too, plus the listing
taken at the first readdir, which later readdir calls page through.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

import pyfuse3
from loguru import logger
from pyfuse3 import FUSEError

from benchfs.client.client import Client
from benchfs.client.core import InodeRef
from benchfs.client.permissions import Credentials
from benchfs.fuse.inodes import InodeTable

# readdirplus fetches the attributes of this many entries in one pipelined round.
_ATTRIBUTE_BATCH = 128

# Requests that carry no caller (read, write, release, readdir…) act on files the
# kernel opened after its own checks: the client runs them unchecked, as root, so
# the mount works the same whoever runs it.
KERNEL_CHECKED = Credentials(0, 0)


class CallerCredentials(Credentials):
    """The ids of the process behind a FUSE request. Its supplementary groups are
    read from /proc only when a check needs them (most are decided by the uid)."""

    __slots__ = ("_pid",)

    def __init__(self, uid: int, gid: int, pid: int) -> None:
        super().__init__(uid, gid)
        self._pid = pid

    @property
    def groups(self) -> frozenset[int]:
        if self._groups is None:
            try:
                found = pyfuse3.get_sup_groups(self._pid) if self._pid else set()
            except OSError:
                found = set()  # the process is gone: only its primary group is known
            self._groups = frozenset(found) | {self.gid}
        return self._groups


def entry_attributes(result: os.stat_result, timeout: float) -> pyfuse3.EntryAttributes:
    entry = pyfuse3.EntryAttributes()
    entry.st_ino = result.st_ino
    entry.generation = 0  # benchfs never reuses an inode number
    entry.entry_timeout = timeout
    entry.attr_timeout = timeout
    entry.st_mode = result.st_mode
    entry.st_nlink = result.st_nlink
    entry.st_uid = result.st_uid
    entry.st_gid = result.st_gid
    entry.st_rdev = result.st_rdev
    entry.st_size = result.st_size
    entry.st_blksize = result.st_blksize
    entry.st_blocks = result.st_blocks
    entry.st_atime_ns = result.st_atime_ns
    entry.st_mtime_ns = result.st_mtime_ns
    entry.st_ctime_ns = result.st_ctime_ns
    return entry


@dataclass(slots=True)
class DirectoryHandle:
    path: str
    entries: list[tuple[str, int, int]] | None = None  # (name, ino, type), from offset 0
    attributes: dict[int, os.stat_result | None] = field(default_factory=dict)


class BenchfsOperations(pyfuse3.Operations):
    enable_writeback_cache = False  # see docs/fuse.md: other clients' sizes would be ignored

    def __init__(self, client: Client, timeout: float) -> None:
        super().__init__()
        self.client = client
        self.timeout = timeout  # entry and attribute timeouts: the client's metadata TTL
        self.inodes = InodeTable()
        self._directories: dict[int, DirectoryHandle] = {}

    # -- plumbing -------------------------------------------------------------------------

    @contextmanager
    def _serving(self, ctx: pyfuse3.RequestContext | None = None) -> Iterator[None]:
        """Run client calls for the request's caller (without one: as the kernel,
        which checked the request at open); errors become FUSE errors."""
        creds = KERNEL_CHECKED if ctx is None else CallerCredentials(ctx.uid, ctx.gid, ctx.pid)
        try:
            with self.client.acting_for(creds, 0):
                yield
        except FUSEError:
            raise
        except OSError as exc:
            raise FUSEError(exc.errno or errno.EIO) from None
        except NotImplementedError:
            raise FUSEError(errno.EOPNOTSUPP) from None
        except Exception:
            logger.exception("benchfs mount: request failed")
            raise FUSEError(errno.EIO) from None

    def _entry(self, path: str) -> pyfuse3.EntryAttributes:
        """The entry for an existing name, counted as handed to the kernel."""
        result = self.client.lstat(path)
        self.inodes.remember(result.st_ino, path, stat.S_ISDIR(result.st_mode))
        return entry_attributes(result, self.timeout)

    def _child(self, parent: int, name: bytes) -> str:
        return self.inodes.child_path(parent, os.fsdecode(name))

    # -- names ----------------------------------------------------------------------------

    async def lookup(self, parent_inode: pyfuse3.InodeT, name: pyfuse3.FileNameT,
                     ctx: pyfuse3.RequestContext) -> pyfuse3.EntryAttributes:
        with self._serving(ctx):
            return self._entry(self._child(parent_inode, name))

    async def forget(self, inode_list: Sequence[tuple[pyfuse3.InodeT, int]]) -> None:
        for ino, count in inode_list:
            self.inodes.forget(ino, count)

    async def mkdir(self, parent_inode: pyfuse3.InodeT, name: pyfuse3.FileNameT,
                    mode: int, ctx: pyfuse3.RequestContext) -> pyfuse3.EntryAttributes:
        with self._serving(ctx):
            path = self._child(parent_inode, name)
            self.client.mkdir(path, mode)
            return self._entry(path)

    async def mknod(self, parent_inode: pyfuse3.InodeT, name: pyfuse3.FileNameT,
                    mode: int, rdev: int,
                    ctx: pyfuse3.RequestContext) -> pyfuse3.EntryAttributes:
        with self._serving(ctx):
            path = self._child(parent_inode, name)
            if stat.S_ISREG(mode):
                self.client.close(self.client.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY,
                                                   mode))
            else:
                # FIFOs, sockets and devices: benchfs keeps the inode, the kernel
                # that opens one makes the object (a FIFO is local to its node).
                self.client.make_node(path, mode, rdev)
            return self._entry(path)

    async def symlink(self, parent_inode: pyfuse3.InodeT, name: pyfuse3.FileNameT,
                      target: pyfuse3.FileNameT,
                      ctx: pyfuse3.RequestContext) -> pyfuse3.EntryAttributes:
        with self._serving(ctx):
            path = self._child(parent_inode, name)
            self.client.symlink(os.fsdecode(target), path)
            return self._entry(path)

    async def link(self, inode: pyfuse3.InodeT, new_parent_inode: pyfuse3.InodeT,
                   new_name: pyfuse3.FileNameT,
                   ctx: pyfuse3.RequestContext) -> pyfuse3.EntryAttributes:
        with self._serving(ctx):
            path = self._child(new_parent_inode, new_name)
            self.client.link(InodeRef(inode), path)
            return self._entry(path)

    async def unlink(self, parent_inode: pyfuse3.InodeT, name: pyfuse3.FileNameT,
                     ctx: pyfuse3.RequestContext) -> None:
        with self._serving(ctx):
            self.client.unlink(self._child(parent_inode, name))

    async def rmdir(self, parent_inode: pyfuse3.InodeT, name: pyfuse3.FileNameT,
                    ctx: pyfuse3.RequestContext) -> None:
        with self._serving(ctx):
            path = self._child(parent_inode, name)
            self.client.rmdir(path)
            self.inodes.removed(path)

    async def rename(self, parent_inode_old: pyfuse3.InodeT, name_old: pyfuse3.FileNameT,
                     parent_inode_new: pyfuse3.InodeT, name_new: pyfuse3.FileNameT,
                     flags: pyfuse3.FlagT, ctx: pyfuse3.RequestContext) -> None:
        if flags & pyfuse3.RENAME_EXCHANGE:
            raise FUSEError(errno.EINVAL)  # no atomic exchange in benchfs
        with self._serving(ctx):
            old = self._child(parent_inode_old, name_old)
            new = self._child(parent_inode_new, name_new)
            if flags & pyfuse3.RENAME_NOREPLACE and self._exists(new):
                # Checked, then renamed: another client may create the name in
                # between (benchfs's rename has no no-replace mode).
                raise FUSEError(errno.EEXIST)
            self.client.rename(old, new)
            self.inodes.removed(new)
            self.inodes.moved(old, new)

    def _exists(self, path: str) -> bool:
        try:
            self.client.lstat(path)
        except FileNotFoundError:
            return False
        return True

    async def readlink(self, inode: pyfuse3.InodeT,
                       ctx: pyfuse3.RequestContext) -> pyfuse3.FileNameT:
        with self._serving(ctx):
            return os.fsencode(self.client.readlink(InodeRef(inode)))

    # -- attributes -----------------------------------------------------------------------

    async def getattr(self, inode: pyfuse3.InodeT,
                      ctx: pyfuse3.RequestContext) -> pyfuse3.EntryAttributes:
        with self._serving():
            return entry_attributes(self.client.lstat(InodeRef(inode)), self.timeout)

    async def setattr(self, inode: pyfuse3.InodeT, attr: pyfuse3.EntryAttributes,
                      fields: pyfuse3.SetattrFields, fh: pyfuse3.FileHandleT | None,
                      ctx: pyfuse3.RequestContext) -> pyfuse3.EntryAttributes:
        # The kernel checked the change for its caller (default_permissions) and
        # computed it: a mode with set-id bits dropped after a write, a truncate or a
        # chown by an unprivileged user, which the caller could not ask for itself.
        # So the client applies it as the kernel, unchecked.
        ref = InodeRef(inode)
        with self._serving():
            if fields.update_uid or fields.update_gid or not (
                    fields.update_mode or fields.update_size or fields.update_atime
                    or fields.update_mtime):
                # chown(f, -1, -1) comes as a change of nothing: the client's chown
                # with nothing to change moves ctime, as Linux does.
                self.client.chown(ref, attr.st_uid if fields.update_uid else -1,
                                  attr.st_gid if fields.update_gid else -1)
            if fields.update_mode:
                self.client.chmod(ref, stat.S_IMODE(attr.st_mode))
            if fields.update_size:
                if fh is not None:
                    self.client.ftruncate(fh, attr.st_size)
                else:
                    self.client.truncate(ref, attr.st_size)
            if fields.update_atime or fields.update_mtime:
                current = self.client.lstat(ref)
                self.client.utime(ref, ns=(
                    attr.st_atime_ns if fields.update_atime else current.st_atime_ns,
                    attr.st_mtime_ns if fields.update_mtime else current.st_mtime_ns))
            return entry_attributes(self.client.lstat(ref), self.timeout)

    async def statfs(self, ctx: pyfuse3.RequestContext) -> pyfuse3.StatvfsData:
        with self._serving(ctx):
            figures = self.client.statvfs("/")
        data = pyfuse3.StatvfsData()
        data.f_bsize = figures.f_bsize
        data.f_frsize = figures.f_frsize
        data.f_blocks = figures.f_blocks
        data.f_bfree = figures.f_bfree
        data.f_bavail = figures.f_bavail
        data.f_files = figures.f_files
        data.f_ffree = figures.f_ffree
        data.f_favail = figures.f_favail
        data.f_namemax = figures.f_namemax
        return data

    # Linux's answers on a file system without extended attributes.
    async def listxattr(self, inode: pyfuse3.InodeT,
                        ctx: pyfuse3.RequestContext) -> Sequence[pyfuse3.XAttrNameT]:
        return []

    async def getxattr(self, inode: pyfuse3.InodeT, name: pyfuse3.XAttrNameT,
                       ctx: pyfuse3.RequestContext) -> bytes:
        raise FUSEError(errno.EOPNOTSUPP)

    async def setxattr(self, inode: pyfuse3.InodeT, name: pyfuse3.XAttrNameT, value: bytes,
                       ctx: pyfuse3.RequestContext) -> None:
        raise FUSEError(errno.EOPNOTSUPP)

    async def removexattr(self, inode: pyfuse3.InodeT, name: pyfuse3.XAttrNameT,
                          ctx: pyfuse3.RequestContext) -> None:
        raise FUSEError(errno.EOPNOTSUPP)

    # -- files ----------------------------------------------------------------------------

    @staticmethod
    def _client_flags(flags: int) -> int:
        # The kernel computes every write's offset, O_APPEND ones included, and
        # keeps its page cache at those offsets: the client must write there.
        return flags & ~os.O_APPEND

    async def open(self, inode: pyfuse3.InodeT, flags: int,
                   ctx: pyfuse3.RequestContext) -> pyfuse3.FileInfo:
        with self._serving(ctx):
            fd = self.client.open(InodeRef(inode), self._client_flags(flags))
        # Close-to-open: the open sees what the last close (here or in another
        # client) left. keep_cache off makes the kernel drop the file's cached
        # pages; the attributes it holds (the size, for reads) may be younger than
        # the TTL, so they are dropped too and asked for again at the first read.
        pyfuse3.invalidate_inode(inode, attr_only=True)
        return pyfuse3.FileInfo(fh=fd)

    async def create(self, parent_inode: pyfuse3.InodeT, name: pyfuse3.FileNameT, mode: int,
                     flags: int, ctx: pyfuse3.RequestContext
                     ) -> tuple[pyfuse3.FileInfo, pyfuse3.EntryAttributes]:
        with self._serving(ctx):
            path = self._child(parent_inode, name)
            fd = self.client.open(path, self._client_flags(flags) | os.O_CREAT, mode)
            try:
                result = self.client.fstat(fd)
            except BaseException:
                self.client.close(fd)
                raise
        self.inodes.remember(result.st_ino, path, False)
        return (pyfuse3.FileInfo(fh=fd),
                entry_attributes(result, self.timeout))

    async def read(self, fh: pyfuse3.FileHandleT, off: int, size: int) -> bytes:
        with self._serving():
            return self.client.pread(fh, size, off)

    async def write(self, fh: pyfuse3.FileHandleT, off: int, buf: bytes) -> int:
        with self._serving():
            return self.client.pwrite(fh, buf, off)

    async def flush(self, fh: pyfuse3.FileHandleT) -> None:
        with self._serving():
            self.client.flush(fh)

    async def release(self, fh: pyfuse3.FileHandleT) -> None:
        with self._serving():
            self.client.close(fh)

    async def fsync(self, fh: pyfuse3.FileHandleT, datasync: bool) -> None:
        with self._serving():
            if datasync:
                self.client.fdatasync(fh)
            else:
                self.client.fsync(fh)

    # -- directories ----------------------------------------------------------------------

    async def opendir(self, inode: pyfuse3.InodeT,
                      ctx: pyfuse3.RequestContext) -> pyfuse3.FileHandleT:
        with self._serving(ctx):
            path = self.inodes.directory_path(inode)
            fd = self.client.open(InodeRef(inode, path), os.O_RDONLY | os.O_DIRECTORY)
        self._directories[fd] = DirectoryHandle(path)
        return fd

    async def readdir(self, fh: pyfuse3.FileHandleT, start_id: int,
                      token: pyfuse3.ReaddirToken) -> None:
        handle = self._directories[fh]
        with self._serving():
            if handle.entries is None or start_id == 0:
                # One listing per pass, taken when it starts (rewinddir starts anew).
                handle.entries = self.client.readdir(fh)
                handle.attributes.clear()
            for index in range(start_id, len(handle.entries)):
                name, ino, _ = handle.entries[index]
                result = self._listed_attributes(handle, index)
                if result is None:
                    continue  # removed since the listing
                if not pyfuse3.readdir_reply(token, os.fsencode(name),
                                             entry_attributes(result, self.timeout), index + 1):
                    return
                self.inodes.remember(ino, f"{handle.path.rstrip('/')}/{name}",
                                     stat.S_ISDIR(result.st_mode))

    def _listed_attributes(self, handle: DirectoryHandle, index: int) -> os.stat_result | None:
        """Attributes for readdirplus, fetched for a batch of entries at a time."""
        assert handle.entries is not None
        ino = handle.entries[index][1]
        if ino not in handle.attributes:
            batch = [entry[1] for entry in handle.entries[index:index + _ATTRIBUTE_BATCH]]
            handle.attributes.update(zip(batch, self.client.stat_inodes(batch), strict=True))
        return handle.attributes[ino]

    async def releasedir(self, fh: pyfuse3.FileHandleT) -> None:
        self._directories.pop(fh, None)
        with self._serving():
            self.client.close(fh)

    async def fsyncdir(self, fh: pyfuse3.FileHandleT, datasync: bool) -> None:
        with self._serving():
            self.client.fsync(fh)
