"""Operations on names: mkdir, rmdir, unlink, rename, link, symlink, readlink, listdir.

File renames and links touch only directory entries and link counts: data is
keyed by inode number (D5). A directory rename moves the entries of its whole
subtree (they are hashed by full path) under a fence that every server holds
until the move is complete, so other clients see it before or after, never half.

The POSIX checks run here; every operation that changes more than one server
(mkdir, rename, link, unlink, rmdir) is one request to a coordinating server, which runs
it as a crash-atomic transaction (benchfs.server.transactions). A transaction
still waiting on a server that is down past our deadline answers ETIMEDOUT: it
has not happened *yet*, and completes or rolls back on its own once the server
is back.
"""

from __future__ import annotations

import errno
import os
import stat
from typing import Any

from benchfs.client.core import ClientCore, parent_of, wants_bytes
from benchfs.client.namespace import Resolved
from benchfs.client.permissions import EXECUTE, READ, WRITE, may_delete_from, permitted
from benchfs.core.errors import os_error
from benchfs.core.paths import fspath_of, had_trailing_slash, is_ancestor
from benchfs.core.records import Inode
from benchfs.core.wire import Op

# The share of our deadline a coordinating server may spend on a transaction
# before it answers ETIMEDOUT: the rest carries the answer back in time.
_TRANSACTION_SHARE = 0.8


def _last_component(text: str) -> str:
    return text.rstrip("/").rsplit("/", 1)[-1]


class Names(ClientCore):
    # -- directories -----------------------------------------------------------------

    def mkdir(self, path: Any, mode: int = 0o777, *, dir_fd: int | None = None) -> None:
        mode = int(mode)
        with self._lock:
            _, resolved = self._resolve(path, "mkdir", follow=False, dir_fd=dir_fd,
                                        must_exist=False, slash_follows=False)
            if resolved.inode is not None:
                raise os_error(errno.EEXIST, path)
            self._require(resolved.parent, WRITE | EXECUTE, path)
            self._transaction(
                self._ns.rank_of_path(resolved.path), Op.MKDIR_TX, resolved.path,
                mode & ~self._umask() & 0o7777, self._creds().uid, self._new_gid(resolved.parent),
                resolved.parent.ino, filename=path,
            )

    def _new_gid(self, parent: Inode) -> int:
        return parent.gid if parent.mode & stat.S_ISGID else self._creds().gid

    def rmdir(self, path: Any, *, dir_fd: int | None = None) -> None:
        with self._lock:
            text, resolved = self._resolve(path, "rmdir", follow=False, dir_fd=dir_fd,
                                        slash_follows=False)
            inode = self._existing(resolved)
            if not stat.S_ISDIR(inode.mode):
                raise os_error(errno.ENOTDIR, path)
            last = _last_component(text)
            if last == ".":
                raise os_error(errno.EINVAL, path)
            if resolved.path == "/" or last == "..":
                raise os_error(errno.EBUSY if resolved.path == "/" else errno.ENOTEMPTY, path)
            self._check_delete(resolved, inode, path)
            keep = self._is_open(inode.ino)
            self._transaction(self._ns.rank_of_path(resolved.path), Op.RMDIR_TX, resolved.path,
                              inode.ino, inode.nlink, keep, resolved.parent.ino, filename=path)
            self._ns.forget(resolved.path)
            if keep:
                self._orphan(inode.ino)

    def _transaction(self, rank: int, op: Op, *args: object, filename: object = None,
                     filename2: object = None) -> Any:
        wait_ms = int(self._rpc.timeout * _TRANSACTION_SHARE * 1000)
        return self._rpc.call(rank, op, *args, wait_ms, filename=filename, filename2=filename2)

    def _is_open(self, ino: int) -> bool:
        return any(f.ino == ino for f in self._fds.open_files())

    def _orphan(self, ino: int) -> None:
        """A file or directory lost its last name while we hold it open: it lives on,
        with no links, until our last close (fstat of it works, as on Linux), which
        frees it."""
        for open_file in self._fds.open_files():
            if open_file.ino == ino:
                open_file.orphaned = True

    def _check_delete(self, resolved: Resolved, victim: Inode, path: object) -> None:
        creds = self._creds()
        self._require(resolved.parent, WRITE | EXECUTE, path, creds)
        if self._ns.enforce_permissions and not may_delete_from(resolved.parent, victim, creds):
            raise os_error(errno.EPERM, path)

    # -- files ---------------------------------------------------------------------------

    def unlink(self, path: Any, *, dir_fd: int | None = None) -> None:
        with self._lock:
            if not self._unlinked_directly(path, dir_fd):
                self._unlink_resolved(path, dir_fd)

    def _unlinked_directly(self, path: Any, dir_fd: int | None) -> bool:
        """The unlink of a plain name in a writable, non-sticky directory while we
        hold no file open: sent at once, saving the lookup of the name (the server
        answers EISDIR or ENOENT itself). False: take the general path."""
        if self._fds.open_files():
            return False  # the victim might be one of them: its last close frees it
        target = self._writable_parent(path, "unlink", dir_fd)
        if target is None:
            return False
        canonical, parent = target
        if self._ns.enforce_permissions and parent.mode & stat.S_ISVTX:
            return False  # the sticky rule needs the victim's owner
        _, _, parent_touched = self._transaction(
            self._ns.rank_of_path(canonical), Op.UNLINK_TX, canonical, False, parent.ino,
            True, filename=path)
        if not parent_touched:
            self._touch_dir(parent)
        return True

    def _unlink_resolved(self, path: Any, dir_fd: int | None) -> None:
        _, resolved = self._resolve(path, "unlink", follow=False, dir_fd=dir_fd,
                                    slash_follows=False)
        inode = self._existing(resolved)
        if stat.S_ISDIR(inode.mode):
            raise os_error(errno.EISDIR, path)
        self._check_delete(resolved, inode, path)
        keep = self._is_open(inode.ino)
        ino, links_left, parent_touched = self._transaction(
            self._ns.rank_of_path(resolved.path), Op.UNLINK_TX, resolved.path, keep,
            resolved.parent.ino, inode.inline is None, filename=path,
        )
        if keep and links_left <= 0:
            self._orphan(ino)
        if not parent_touched:
            self._touch_dir(resolved.parent)

    remove = unlink

    def symlink(self, src: Any, dst: Any, target_is_directory: bool = False, *,
                dir_fd: int | None = None) -> None:
        target = fspath_of(src, "symlink")
        with self._lock, self._naming_both(src, dst):
            dst_text, resolved = self._resolve(dst, "symlink", follow=False, dir_fd=dir_fd,
                                               must_exist=False, slash_follows=False)
            if resolved.inode is not None:
                raise os_error(errno.EEXIST, src, dst)
            if target == "" or had_trailing_slash(dst_text):
                raise os_error(errno.ENOENT, src, dst)
            self._require(resolved.parent, WRITE | EXECUTE, dst)
            self._rpc.call(self._ns.rank_of_path(resolved.path), Op.SYMLINK, target,
                           resolved.path, self._creds().uid, self._new_gid(resolved.parent),
                           filename=src, filename2=dst)
            self._touch_dir(resolved.parent)

    def make_node(self, path: Any, mode: int, device: int = 0) -> None:
        """A FIFO, socket or device node (``mode`` holds the type): an inode only,
        for the FUSE mount, where the kernel of the node that opens one makes the
        object. The os-like API has no mknod or mkfifo (see benchfs.__init__)."""
        with self._lock:
            _, resolved = self._resolve(path, "mknod", follow=False, must_exist=False,
                                        slash_follows=False)
            if resolved.inode is not None:
                raise os_error(errno.EEXIST, path)
            self._require(resolved.parent, WRITE | EXECUTE, path)
            self._rpc.call(self._ns.rank_of_path(resolved.path), Op.MKNOD, resolved.path,
                           stat.S_IFMT(mode) | (mode & ~self._umask() & 0o7777), device,
                           self._creds().uid, self._new_gid(resolved.parent), filename=path)
            self._touch_dir(resolved.parent)

    def readlink(self, path: Any, *, dir_fd: int | None = None) -> Any:
        with self._lock:
            _, resolved = self._resolve(path, "readlink", follow=False, dir_fd=dir_fd)
            inode = self._existing(resolved)
        if not stat.S_ISLNK(inode.mode):
            raise os_error(errno.EINVAL, path)
        target = inode.target or ""
        return os.fsencode(target) if wants_bytes(path) else target

    def link(self, src: Any, dst: Any, *, src_dir_fd: int | None = None,
             dst_dir_fd: int | None = None, follow_symlinks: bool = True) -> None:
        with self._lock, self._naming_both(src, dst):
            # CPython calls link(2), which never follows, unless a dir_fd forces
            # linkat(2), where follow_symlinks asks for AT_SYMLINK_FOLLOW.
            follow = follow_symlinks and (src_dir_fd, dst_dir_fd) != (None, None)
            _, source = self._resolve(src, "link", follow=follow, dir_fd=src_dir_fd)
            inode = self._existing(source)
            dst_text, target = self._resolve(dst, "link", follow=False, dir_fd=dst_dir_fd,
                                             must_exist=False)
            if target.inode is not None:
                raise os_error(errno.EEXIST, src, dst)
            if had_trailing_slash(dst_text):
                raise os_error(errno.ENOENT, src, dst)  # a new name is never a directory
            if stat.S_ISDIR(inode.mode):
                raise os_error(errno.EPERM, src, dst)
            self._require(target.parent, WRITE | EXECUTE, src)
            self._check_hardlink_protection(inode, src, dst)
            self._transaction(self._ns.rank_of_inode(inode.ino), Op.LINK_TX, target.path,
                              inode.ino, stat.S_IFMT(inode.mode), filename=src, filename2=dst)
            self._touch_dir(target.parent)

    def _check_hardlink_protection(self, inode: Inode, src: object, dst: object) -> None:
        """Linux's fs.protected_hardlinks (on by default): only the owner links a file
        they cannot read and write, or a set-id executable."""
        creds = self._creds()
        if self._is_owner(inode, creds):
            return
        setid_exec = inode.mode & stat.S_ISUID or (
            inode.mode & stat.S_ISGID and inode.mode & stat.S_IXGRP)
        if (not stat.S_ISREG(inode.mode) or setid_exec
                or not permitted(inode, creds, READ | WRITE)):
            raise os_error(errno.EPERM, src, dst)

    # -- rename ----------------------------------------------------------------------------

    def rename(self, src: Any, dst: Any, *, src_dir_fd: int | None = None,
               dst_dir_fd: int | None = None) -> None:
        with self._lock, self._naming_both(src, dst):
            # Linux resolves both parents before it looks for the source itself.
            src_text, source = self._resolve(src, "rename", follow=False, dir_fd=src_dir_fd,
                                             must_exist=False, slash_follows=False)
            dst_text, target = self._resolve(dst, "rename", follow=False, dir_fd=dst_dir_fd,
                                             must_exist=False)
            if source.inode is None:
                raise os_error(errno.ENOENT, src, dst)
            self._check_rename(src, dst, src_text, dst_text, source, target)
            moving = self._existing(source)
            if target.inode is not None and target.inode.ino == moving.ino:
                return  # the same file under both names: POSIX says do nothing
            if stat.S_ISDIR(moving.mode):
                self._rename_directory(source, target, moving, src, dst)
            else:
                self._rename_file(source, target, moving, src, dst)
            self._rpc.call(self._ns.rank_of_inode(moving.ino), Op.ADJUST, moving.ino, 0,
                           False, False)  # ctime moves, as on Linux
            for open_file in self._fds.open_files():
                if open_file.path == source.path or is_ancestor(source.path, open_file.path):
                    open_file.path = target.path + open_file.path[len(source.path):]
            if self.cwd == source.path or is_ancestor(source.path, self.cwd):
                self.cwd = target.path + self.cwd[len(source.path):]

    replace = rename

    def _check_rename(self, src: object, dst: object, src_text: str, dst_text: str,
                      source: Resolved, target: Resolved) -> None:
        moving = self._existing(source)
        if source.path == "/" or _last_component(src_text) in (".", ".."):
            raise os_error(errno.EBUSY, src, dst)
        if _last_component(dst_text) in (".", ".."):
            raise os_error(errno.EBUSY, src, dst)
        is_dir = stat.S_ISDIR(moving.mode)
        if not is_dir and (src_text.endswith("/") or dst_text.endswith("/")):
            raise os_error(errno.ENOTDIR, src, dst)
        if target.inode is not None and target.inode.ino == moving.ino:
            return
        if is_dir and is_ancestor(source.path, target.path):
            raise os_error(errno.EINVAL, src, dst)
        if target.inode is not None:
            if is_ancestor(target.path, source.path):  # Linux's rename trap comes first
                raise os_error(errno.ENOTEMPTY, src, dst)
            if is_dir and not stat.S_ISDIR(target.inode.mode):
                raise os_error(errno.ENOTDIR, src, dst)
            if not is_dir and stat.S_ISDIR(target.inode.mode):
                raise os_error(errno.EISDIR, src, dst)
        creds = self._creds()
        for side, victim in ((source, moving), (target, target.inode)):
            self._require(side.parent, WRITE | EXECUTE, src, creds)
            if (victim is not None and self._ns.enforce_permissions
                    and not may_delete_from(side.parent, victim, creds)):
                raise os_error(errno.EPERM, src, dst)
        if is_dir and parent_of(source.path) != parent_of(target.path):
            self._require(moving, WRITE, src, creds)  # its ".." entry changes

    def _rename_file(self, source: Resolved, target: Resolved, moving: Inode,
                     src: object, dst: object) -> None:
        keep = target.inode is not None and self._is_open(target.inode.ino)
        replaced, links_left = self._transaction(
            self._ns.rank_of_path(source.path), Op.RENAME_TX, source.path, target.path,
            moving.ino, stat.S_IFMT(moving.mode), keep, filename=src, filename2=dst,
        )
        if replaced is not None and keep and links_left <= 0:
            self._orphan(replaced)
        self._touch_dir(source.parent)
        if target.parent.ino != source.parent.ino:
            self._touch_dir(target.parent)

    def _rename_directory(self, source: Resolved, target: Resolved, moving: Inode,
                          src: object, dst: object) -> None:
        # The coordinator moves the parents' link counts and drops a replaced (empty)
        # directory's, in the same transaction.
        replaced = target.inode
        keep = replaced is not None and self._is_open(replaced.ino)
        self._transaction(
            self._ns.rank_of_path(source.path), Op.RENAME_DIR_TX, source.path, target.path,
            replaced.ino if replaced else 0, replaced.nlink if replaced else 0, keep,
            source.parent.ino, target.parent.ino, filename=src, filename2=dst,
        )
        self._ns.forget(source.path)
        self._ns.forget(target.path)
        if replaced is not None and keep:
            self._orphan(replaced.ino)

    # -- listing and the working directory -----------------------------------------------

    def listdir(self, path: Any = None) -> list[Any]:
        with self._lock:
            directory, as_bytes, filename = self._listable(path, "listdir")
            listings = self._rpc.call_all(self._ns.all_ranks, Op.READDIR, directory.path,
                                          filename=filename)
        names = [entry[0] for listing in listings for entry in listing]
        return [os.fsencode(name) for name in names] if as_bytes else names

    def _listable(self, path: Any, func: str) -> tuple[Resolved, bool, object]:
        """The directory a listing call names: a path, a descriptor or the cwd."""
        if isinstance(path, int) and not isinstance(path, bool):
            open_file = self._fds.get(path)
            if not stat.S_ISDIR(open_file.file_type):
                raise os_error(errno.ENOTDIR, path)  # os names the fd here (not for EBADF)
            path_arg: Any = open_file.path
            filename: object = None
        else:
            path_arg = "." if path is None else path
            filename = path_arg
        _, resolved = self._resolve(path_arg, func, allow_fd=True)
        inode = self._existing(resolved)
        if not stat.S_ISDIR(inode.mode):
            raise os_error(errno.ENOTDIR, filename)
        self._require(inode, READ, filename)
        return resolved, wants_bytes(path), filename

    def chdir(self, path: Any) -> None:
        with self._lock:
            if isinstance(path, int) and not isinstance(path, bool):
                path = self._path_fd(path).path
            _, resolved = self._resolve(path, "chdir", allow_fd=True)
            inode = self._existing(resolved)
            if not stat.S_ISDIR(inode.mode):
                raise os_error(errno.ENOTDIR, path)
            self._require(inode, EXECUTE, path)
            self.cwd = resolved.path

    def fchdir(self, fd: int) -> None:
        self._open_file(fd)  # EBADF names no file here, unlike chdir(fd)
        self.chdir(fd)

    def getcwd(self) -> str:
        return self.cwd

    def getcwdb(self) -> bytes:
        return os.fsencode(self.cwd)
