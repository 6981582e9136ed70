"""The state every part of the client shares, and the helpers they all use.

``Client`` is assembled from small mixins (file I/O, names, attributes) over
this core, so each module stays about one concern.
"""

from __future__ import annotations

import errno
import operator
import os
import stat
import threading
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchfs._native.engine import Engine, EngineConfig
from benchfs.auth import load_secret
from benchfs.client import forking
from benchfs.client.fdtable import FdTable, OpenFile
from benchfs.client.namespace import Namespace, Resolved
from benchfs.client.permissions import EXECUTE, WRITE, Credentials, permitted
from benchfs.client.rpc import Request, Rpc
from benchfs.client.views import ClientView
from benchfs.core.chunks import split_range
from benchfs.core.errors import os_error
from benchfs.core.paths import check_name_lengths, fspath_of, had_trailing_slash
from benchfs.core.records import Inode
from benchfs.core.wire import Op
from benchfs.registry import read_cluster_config
from benchfs.settings import ClientSettings

# Large transfers go out as pieces of at most this size, all at once: the server
# writes (or reads) one piece while the next is still crossing the network, and
# the disk sees several requests in flight instead of one large one at a time.
TRANSFER_PIECE = 1 << 20


def current_umask() -> int:
    # There is no read-only umask call; set and restore is the standard idiom.
    mask = os.umask(0)
    os.umask(mask)
    return mask


def fd_number(fd: object) -> int:
    """Accept ints and objects with fileno(), like os.fsync."""
    if not isinstance(fd, int) and hasattr(fd, "fileno"):
        fd = fd.fileno()
    return operator.index(fd)  # type: ignore[arg-type]


def wants_bytes(path: object) -> bool:
    """Whether os would answer this path argument with bytes names."""
    return isinstance(path, bytes) or (
        isinstance(path, os.PathLike) and isinstance(os.fspath(path), bytes)
    )


def parent_of(path: str) -> str:
    return path.rsplit("/", 1)[0] or "/"


@dataclass(frozen=True, slots=True)
class InodeRef:
    """An inode named by its number, accepted wherever a call takes an existing
    path (stat, open, the attribute setters, readlink, link's source): for front
    ends that address inodes, as the FUSE mount does, so that a rename elsewhere
    cannot make the call act on another file. ``path`` is what the caller knows it
    by; only a directory's matters (a descriptor opened on it lists that path)."""

    ino: int
    path: str = ""


class ClientCore:
    """A connection to one cluster: engine, RPC, namespace, descriptors, identity."""

    def __init__(self, registry: str | os.PathLike[str],
                 settings: ClientSettings | None = None) -> None:
        self.settings = settings or ClientSettings.from_env()
        self.registry = Path(registry)
        self.cluster = read_cluster_config(self.registry)
        secret = load_secret(self.registry, self.cluster.cluster_id, self.settings.insecure)
        for key, value in self.cluster.ucx_env.items():
            # UCX reads its environment once, when the engine starts.
            os.environ.setdefault(key, value)
        self._engine = self._new_engine()
        views = ClientView(self._engine, self.registry, self.cluster.servers)
        self._rpc = Rpc(self._engine, self.registry, self.settings.timeout, secret, views,
                        self.settings.metrics)
        self._ns = Namespace(self._rpc, self.settings.metadata_ttl,
                             self.cluster.permissions, before_reading=self._publish_sizes)
        # Open files whose writes grew the file or moved its mtime without telling
        # the inode's server yet; see _publish_sizes.
        self._unpublished: dict[int, OpenFile] = {}
        self._fds = FdTable()
        self._lock = threading.RLock()  # one engine, one loop: calls take turns
        self.cwd = "/"
        # Whom the calls act for, when not this process (see acting_for).
        self._caller: tuple[Credentials, int] | None = None
        self.st_dev = zlib.crc32(str(self.registry.resolve()).encode())
        self.chunk_size = self.cluster.chunk_size
        # A cluster with a backend directory: called with every absolute path and the
        # call's name before it is resolved, to copy in what it needs first
        # (benchfs.tools.backend installs it; None: no backend).
        self.read_through: Callable[[str, str], None] | None = None
        forking.track(self)

    def _new_engine(self) -> Engine:
        return Engine(EngineConfig(spin_us=self.settings.spin_us,
                                   err_mode_peer=self.cluster.peer_errors))

    def suspend_engine(self) -> bool:
        """Before a fork: close the engine, keeping the lock until ``resume_engine``.
        False (and nothing held) for a closed client."""
        self._lock.acquire()
        if self._engine.closed:
            self._lock.release()
            return False
        self._rpc.close()
        self._engine.close()
        return True

    def resume_engine(self) -> None:
        """After a fork, in the parent and in the child: a new engine, no connections."""
        try:
            self._engine = self._new_engine()
            self._rpc.replace_engine(self._engine)
        finally:
            self._lock.release()

    # -- identity and results ----------------------------------------------------------

    def _creds(self) -> Credentials:
        if self._caller is not None:
            return self._caller[0]
        # Read each call: a process may change its ids (setuid) or groups.
        return Credentials.effective()

    def _umask(self) -> int:
        return self._caller[1] if self._caller is not None else current_umask()

    @contextmanager
    def acting_for(self, creds: Credentials, umask: int) -> Iterator[None]:
        """Run the calls inside as another process would make them: permission
        checks and new files' owners use ``creds``, new modes lose ``umask``. For
        front ends serving other processes (the FUSE mount serves each request
        for the process that made it). Their paths are built from names, not given
        by the caller: only components are held to NAME_MAX, not the whole path to
        PATH_MAX (the kernel held the caller's own path to it; a tree may be deeper
        than PATH_MAX, reached by relative paths)."""
        with self._lock:
            previous, self._caller = self._caller, (creds, umask)
            try:
                yield
            finally:
                self._caller = previous

    def _stat_result(self, inode: Inode) -> os.stat_result:
        return inode.to_stat_result(self.st_dev, self.chunk_size)

    def _require(self, inode: Inode, want: int, filename: object = None,
                 creds: Credentials | None = None) -> None:
        if self._ns.enforce_permissions and not permitted(inode, creds or self._creds(), want):
            raise os_error(errno.EACCES, filename)

    def _is_owner(self, inode: Inode, creds: Credentials) -> bool:
        return creds.is_root or not self._ns.enforce_permissions or creds.uid == inode.uid

    # -- paths -------------------------------------------------------------------------

    def _base_dir(self, dir_fd: int | None, filename: object = None) -> str:
        """Where a relative path starts; os names the path in a dir_fd's errors."""
        if dir_fd is None:
            return self.cwd
        dir_fd = operator.index(dir_fd)
        if dir_fd not in self._fds:
            raise os_error(errno.EBADF, filename)
        open_file = self._fds.get(dir_fd)
        if not stat.S_ISDIR(open_file.file_type):
            raise os_error(errno.ENOTDIR, filename)
        return open_file.path

    def _resolve(self, path: object, func: str, *, follow: bool = True,
                 dir_fd: int | None = None, allow_fd: bool = False,
                 must_exist: bool = True, slash_follows: bool = True) -> tuple[str, Resolved]:
        """(the path as text, where it leads) with Linux's errors for every failure.

        A trailing slash follows a final symlink, except for the calls that act on
        the name itself (rmdir, unlink, rename: ``slash_follows=False``), where
        Linux answers ENOTDIR for ``link/``."""
        if isinstance(path, InodeRef):
            inode = self._ns.getattr(path.ino, path)
            # No parent is known by number; the calls that take an InodeRef (see
            # there) never use it.
            return path.path, Resolved(path.path, inode, inode)
        text = fspath_of(path, func, allow_fd)
        if text == "":
            raise os_error(errno.ENOENT, path)
        too_long = check_name_lengths(text, self._caller is None)
        if too_long is not None:
            raise os_error(too_long, path)
        absolute = text if text.startswith("/") else f"{self._base_dir(dir_fd, path)}/{text}"
        if self.read_through is not None:
            self.read_through(absolute, func)
        trailing = had_trailing_slash(text)
        resolved = self._ns.resolve(absolute, self._creds(), follow, path,
                                    trailing and slash_follows)
        if must_exist:
            # Callers that may create the name judge a trailing slash themselves.
            if resolved.inode is None:
                raise os_error(errno.ENOENT, path)
            if trailing and not stat.S_ISDIR(resolved.inode.mode):
                raise os_error(errno.ENOTDIR, path)
        return text, resolved

    def _writable_parent(self, path: object, func: str,
                         dir_fd: int | None) -> tuple[str, Inode] | None:
        """(canonical path, parent directory) for a call that adds or removes a plain
        name in a directory the caller may write and search, the directory taken from
        the cache like any ancestor. Such calls go straight to the name's server,
        skipping the lookup of the name. None: anything else (``.``/``..``, a
        trailing slash, no permission, a missing or non-directory parent), for the
        general path, which finds every error the way Linux does."""
        text = fspath_of(path, func)
        parent_text, _, name = text.rpartition("/")
        if not name or name in (".", "..") or check_name_lengths(
                text, self._caller is None) is not None:
            return None
        if text.startswith("/"):
            parent_abs = parent_text or "/"
        else:
            base = self._base_dir(dir_fd, path)
            parent_abs = f"{base}/{parent_text}" if parent_text else base
        if self.read_through is not None:
            self.read_through(parent_abs + "/", func)
        creds = self._creds()
        where = self._ns.resolve(parent_abs, creds, True, path, fresh_final=False)
        parent = where.inode
        if (parent is None or not stat.S_ISDIR(parent.mode) or (
                self._ns.enforce_permissions and not permitted(parent, creds, WRITE | EXECUTE))):
            return None
        return f"{where.path.rstrip('/')}/{name}", parent

    @staticmethod
    @contextmanager
    def _naming_both(src: object, dst: object) -> Iterator[None]:
        """Two-path calls (rename, link, symlink) name both paths in every error."""
        try:
            yield
        except OSError as exc:
            if exc.filename2 is None:
                raise os_error(exc.errno or errno.EIO, src, dst) from None
            raise

    def _existing(self, resolved: Resolved) -> Inode:
        assert resolved.inode is not None  # _resolve(must_exist=True) guarantees it
        return resolved.inode

    # -- shared mutations ------------------------------------------------------------------

    def _touch_dir(self, directory: Inode, nlink_delta: int = 0) -> None:
        """A name was added or removed: the directory's mtime and ctime move."""
        self._rpc.call(self._ns.rank_of_inode(directory.ino), Op.ADJUST, directory.ino,
                       nlink_delta, True, False)

    def _remove_data(self, ino: int, chunked: bool) -> None:
        ranks = self._ns.all_ranks if chunked else [self._ns.rank_of_inode(ino)]
        self._rpc.call_all(ranks, Op.DATA_REMOVE, ino)

    def _write_chunks(self, ino: int, view: memoryview, offset: int) -> set[int]:
        """Send ``view`` to the chunk servers of [offset, offset+len); their ranks."""
        requests = [
            Request(self._ns.rank_of_chunk(ino, piece.index), Op.WRITE, ino, piece.file_offset,
                    piece.length, body=view[piece.buf_offset:piece.buf_offset + piece.length])
            for piece in split_range(offset, len(view), self.chunk_size, TRANSFER_PIECE)
        ]
        for reply in self._rpc.run(requests):
            if reply.status:
                raise os_error(reply.status)
        return {self._rpc.rank_of(request.rank) for request in requests}

    def _spill(self, ino: int) -> set[int]:
        """Move a small file's data from its inode record to chunks. The chunks are
        written first: until the record lets go, the record's copy is the file."""
        inode = self._ns.getattr(ino)
        ranks = set()
        if inode.inline is not None:
            if inode.inline:
                ranks = self._write_chunks(ino, memoryview(inode.inline), 0)
            self._rpc.call(self._ns.rank_of_inode(ino), Op.SPILL, ino)
        for open_file in self._fds.open_files():
            if open_file.ino == ino:
                open_file.inline = None
        return ranks

    def _publish_sizes(self) -> None:
        """Tell the inodes' servers the size and mtime our writes gave them.

        A write sends only its data; the size and mtime it implies go to the
        inode's server here, before anything of ours reads attributes (stat,
        open, lseek to the end…) and at fsync and close. Other clients see them
        after our close or fsync: close-to-open, at one round trip per write.
        """
        while self._unpublished:
            key, open_file = self._unpublished.popitem()
            try:
                open_file.size_hint = self._rpc.call(
                    self._ns.rank_of_inode(open_file.ino), Op.SET_SIZE, open_file.ino,
                    open_file.written_end, True)
            except FileNotFoundError:
                pass  # the file is gone: nothing left to describe
            except OSError:
                self._unpublished[key] = open_file  # try again at the next chance
                raise

    def _note_write(self, open_file: OpenFile, end: int) -> None:
        open_file.written_end = max(open_file.written_end, end)
        open_file.size_hint = max(open_file.size_hint, end)
        self._unpublished[id(open_file)] = open_file

    def _truncate_ino(self, ino: int, size: int) -> None:
        self._publish_sizes()  # an older write must not regrow the file afterwards
        owner = self._ns.rank_of_inode(ino)
        try:
            self._rpc.call(owner, Op.SET_SIZE, ino, size, False)
        except OSError as exc:
            if exc.errno != errno.EMSGSIZE:
                raise
            self._spill(ino)  # grown past what an inode record holds
            self._rpc.call(owner, Op.SET_SIZE, ino, size, False)
        # Even a file inline now may have chunks from an earlier life (another
        # client may have spilled it meanwhile): cut them all.
        self._rpc.call_all(self._ns.all_ranks, Op.DATA_TRUNCATE, ino, size)
        for open_file in self._fds.open_files():
            if open_file.ino == ino:
                open_file.size_hint = size
                # Writes before the truncate no longer say how long the file is.
                open_file.written_end = min(open_file.written_end, size)
                if open_file.inline is not None:
                    open_file.inline = open_file.inline[:size].ljust(size, b"\0")

    def _open_file(self, fd: Any) -> OpenFile:
        return self._fds.get(fd_number(fd))

    def _path_fd(self, fd: int) -> OpenFile:
        """A descriptor passed where a path may go (os.stat(fd), os.chmod(fd, …)):
        there os names the descriptor in its EBADF, unlike in fstat(fd)."""
        if fd not in self._fds:
            raise os_error(errno.EBADF, fd)
        return self._fds.get(fd)
