"""Directory iteration and the tree functions of os: scandir, walk, makedirs, removedirs.

``scandir`` lists a directory in one pipelined round (every server answers for
the names it holds) and keeps the file type each server returns, so
``DirEntry.is_dir()`` and ``walk`` need no per-entry stat, as on Linux with
``d_type``. walk, makedirs, removedirs and renames are ports of CPython's own
implementations over benchfs primitives, so their semantics (pruning, onerror,
followlinks, exist_ok races) are os's by construction.
"""

from __future__ import annotations

import os
import posixpath
import stat
import warnings
from collections.abc import Callable, Iterator
from types import GenericAlias, TracebackType
from typing import Any, AnyStr, Generic

from benchfs.client.attrs import Attributes
from benchfs.client.fileio import FileIO
from benchfs.client.names import Names
from benchfs.client.permissions import EXECUTE
from benchfs.core.wire import Op

WalkResult = tuple[Any, list[Any], list[Any]]
FwalkResult = tuple[Any, list[Any], list[Any], int]
_FWALK_WALK, _FWALK_YIELD, _FWALK_CLOSE = 0, 1, 2  # fwalk's stack actions


class DirEntry(Generic[AnyStr]):
    """One entry yielded by ``scandir``, with os.DirEntry's attributes and methods.

    The file type comes from the listing; ``stat()`` asks the server once and
    caches the answer (one cache for following symlinks, one for not), as
    os.DirEntry does.
    """

    __slots__ = ("name", "path", "_client", "_ino", "_file_type", "_dir_fd", "_stat", "_lstat",
                 "_stat_path")
    __class_getitem__: Any = classmethod(GenericAlias)

    def __init__(self, client: Walking, name: AnyStr, path: AnyStr, ino: int, file_type: int,
                 dir_fd: int | None, stat_path: AnyStr | None = None) -> None:
        self.name: AnyStr = name
        self.path: AnyStr = path
        # The client's name for the entry, when ``path`` is spelled for someone else
        # (interposition shows its prefix).
        self._stat_path: AnyStr = path if stat_path is None else stat_path
        self._client = client
        self._ino = ino
        self._file_type = file_type
        self._dir_fd = dir_fd  # scandir(fd): stat by name relative to that descriptor
        self._stat: Any = None
        self._lstat: Any = None

    def _fetch_stat(self, follow_symlinks: bool) -> Any:
        if self._dir_fd is not None:
            return self._client.stat(self.name, dir_fd=self._dir_fd,
                                     follow_symlinks=follow_symlinks)
        try:
            return self._client.stat(self._stat_path, follow_symlinks=follow_symlinks)
        except OSError as exc:
            if self._stat_path is not self.path and exc.filename == self._stat_path:
                exc.filename = self.path  # the entry's own spelling, as os names it
            raise

    def stat(self, *, follow_symlinks: bool = True) -> Any:
        if not follow_symlinks or not self.is_symlink():
            if self._lstat is None:
                self._lstat = self._fetch_stat(False)
            return self._lstat
        if self._stat is None:
            self._stat = self._fetch_stat(True)
        return self._stat

    def inode(self) -> int:
        return self._ino

    def _test_mode(self, follow_symlinks: bool, file_type: int) -> bool:
        if follow_symlinks and self.is_symlink():
            try:
                result = self.stat()
            except FileNotFoundError:
                return False  # a dangling symlink is neither a file nor a directory
            return bool(stat.S_IFMT(result.st_mode) == file_type)
        return self._file_type == file_type

    def is_dir(self, *, follow_symlinks: bool = True) -> bool:
        return self._test_mode(follow_symlinks, stat.S_IFDIR)

    def is_file(self, *, follow_symlinks: bool = True) -> bool:
        return self._test_mode(follow_symlinks, stat.S_IFREG)

    def is_symlink(self) -> bool:
        return self._file_type == stat.S_IFLNK

    def is_junction(self) -> bool:
        return False  # Windows only, as on Linux

    def __fspath__(self) -> AnyStr:
        return self.path

    def __repr__(self) -> str:
        return f"<DirEntry {self.name!r}>"


class ScandirIterator(Generic[AnyStr]):
    """What ``scandir`` returns: an iterator of DirEntry that is also a context manager."""

    def __init__(self, entries: list[DirEntry[AnyStr]]) -> None:
        self._entries: Iterator[DirEntry[AnyStr]] | None = iter(entries)

    def __iter__(self) -> ScandirIterator[AnyStr]:
        return self

    def __next__(self) -> DirEntry[AnyStr]:
        if self._entries is None:
            raise StopIteration
        try:
            return next(self._entries)
        except StopIteration:
            self.close()
            raise

    def close(self) -> None:
        self._entries = None

    def __del__(self) -> None:
        if self._entries is not None:  # os's iterator warns when collected unclosed
            warnings.warn(f"unclosed scandir iterator {self!r}", ResourceWarning,
                          stacklevel=2, source=self)

    def __enter__(self) -> ScandirIterator[AnyStr]:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.close()


def _split_tail(name: Any) -> tuple[Any, Any]:
    """os.makedirs's split: a trailing slash names the last component, not ''."""
    head, tail = posixpath.split(name)
    if not tail:
        head, tail = posixpath.split(head)
    return head, tail


class Walking(FileIO, Names, Attributes):
    """scandir and the os functions that walk or build trees from the primitives."""

    def readdir(self, path: Any = None) -> list[tuple[str, int, int]]:
        """``(name, inode number, S_IFMT file type)`` of every entry of a directory
        (a path, a descriptor or, with None, the working directory)."""
        with self._lock:
            directory, _, filename = self._listable(path, "scandir")
            listings = self._rpc.call_all(self._ns.all_ranks, Op.READDIR, directory.path,
                                          filename=filename)
        return [(name, ino, file_type) for listing in listings
                for name, ino, file_type in listing]

    def listdir_stat(self, path: Any) -> list[tuple[str, os.stat_result]]:
        """``(name, lstat result)`` of every entry of a directory in two pipelined
        rounds, the listing and then every entry's lookup, where scandir and a stat
        per entry take a round trip each (fsspec's ``ls(detail=True)``). Entries
        removed between the two rounds are left out, as a racing scandir would."""
        with self._lock:
            directory, _, filename = self._listable(path, "scandir")
            self._require(self._existing(directory), EXECUTE, filename)  # stat needs search
            listings = self._rpc.call_all(self._ns.all_ranks, Op.READDIR, directory.path,
                                          filename=filename)
            base = directory.path.rstrip("/")
            found = self._ns._fetch(f"{base}/{name}" for listing in listings
                                    for name, _, _ in listing)
            return [(entry.rsplit("/", 1)[1], self._stat_result(inode))
                    for entry, inode in found.items() if inode is not None]

    def scandir(self, path: Any = None, *, shown_as: Any = None) -> ScandirIterator[Any]:
        """os.scandir; ``shown_as`` is the directory the entries' ``path`` starts with
        when the caller spells ``path`` differently (interposition's prefix)."""
        dir_fd: int | None = None
        prefix: Any = ""
        if isinstance(path, int) and not isinstance(path, bool):
            dir_fd = path
        listing = self.readdir(path)  # first: os's errors for bad arguments
        if dir_fd is None:
            given = "." if path is None else path
            # bytearray paths (deprecated before 3.12) list as bytes, like os.
            prefix = bytes(given) if isinstance(given, (bytearray, memoryview)) else (
                os.fspath(given))
        as_bytes = isinstance(prefix, bytes)
        entries: list[DirEntry[Any]] = []
        for text, ino, file_type in listing:
            name: Any = os.fsencode(text) if as_bytes else text
            entry_path = name if dir_fd is not None else posixpath.join(prefix, name)
            shown = entry_path if shown_as is None else posixpath.join(shown_as, name)
            entries.append(DirEntry(self, name, shown, ino, file_type, dir_fd, entry_path))
        return ScandirIterator(entries)

    def _islink(self, path: Any) -> bool:
        try:
            return stat.S_ISLNK(self.lstat(path).st_mode)
        except (OSError, ValueError):
            return False

    def walk(self, top: Any, topdown: bool = True,
             onerror: Callable[[OSError], object] | None = None,
             followlinks: bool = False) -> Iterator[WalkResult]:
        """os.walk (CPython 3.12's stack-based version; same order as older ones)."""
        stack: list[Any] = [os.fspath(top)]
        while stack:
            top = stack.pop()
            if isinstance(top, tuple):
                yield top
                continue
            dirs: list[Any] = []
            nondirs: list[Any] = []
            walk_dirs: list[Any] = []
            try:
                scandir_it = self.scandir(top)
            except OSError as error:
                if onerror is not None:
                    onerror(error)
                continue
            with scandir_it:
                for entry in scandir_it:
                    try:
                        is_dir = entry.is_dir()
                    except OSError:
                        is_dir = False
                    (dirs if is_dir else nondirs).append(entry.name)
                    if not topdown and is_dir and (followlinks or not entry.is_symlink()):
                        walk_dirs.append(entry.path)
            if topdown:
                yield top, dirs, nondirs
                # dirs is read only now: the caller may have pruned it.
                for dirname in reversed(dirs):
                    new_path = posixpath.join(top, dirname)
                    if followlinks or not self._islink(new_path):
                        stack.append(new_path)
            else:
                stack.append((top, dirs, nondirs))
                stack.extend(reversed(walk_dirs))

    def fwalk(self, top: Any = ".", topdown: bool = True,
              onerror: Callable[[OSError], object] | None = None, *,
              follow_symlinks: bool = False,
              dir_fd: int | None = None) -> Iterator[FwalkResult]:
        """os.fwalk (CPython 3.13's stack-based version): walk yielding a descriptor
        of each directory, which benchfs calls take as dir_fd."""
        top = os.fspath(top)
        stack: list[tuple[int, Any]] = [(_FWALK_WALK, (True, dir_fd, top, top, None))]
        try:
            while stack:
                yield from self._fwalk(stack, isinstance(top, bytes), topdown, onerror,
                                       follow_symlinks)
        finally:
            while stack:  # descriptors of an abandoned walk
                action, value = stack.pop()
                if action == _FWALK_CLOSE:
                    self.close(value)

    def _fwalk(self, stack: list[tuple[int, Any]], isbytes: bool, topdown: bool,
               onerror: Callable[[OSError], object] | None,
               follow_symlinks: bool) -> Iterator[FwalkResult]:
        action, value = stack.pop()
        if action == _FWALK_CLOSE:
            self.close(value)
            return
        if action == _FWALK_YIELD:
            yield value
            return
        isroot, dirfd, toppath, topname, entry = value
        try:
            if not follow_symlinks:
                # lstat, open, fstat: a directory swapped for a symlink is not entered.
                orig_st = (self.stat(topname, follow_symlinks=False, dir_fd=dirfd)
                           if entry is None else entry.stat(follow_symlinks=False))
            topfd = self.open(topname, os.O_RDONLY | os.O_NONBLOCK, dir_fd=dirfd)
        except OSError as err:
            if isroot:
                raise
            if onerror is not None:
                onerror(err)
            return
        stack.append((_FWALK_CLOSE, topfd))
        if not follow_symlinks:
            if isroot and not stat.S_ISDIR(orig_st.st_mode):
                return
            if not posixpath.samestat(orig_st, self.stat(topfd)):
                return
        dirs: list[Any] = []
        nondirs: list[Any] = []
        entries: list[DirEntry[Any]] | None = None if topdown or follow_symlinks else []
        for entry in self.scandir(topfd):
            name: Any = os.fsencode(entry.name) if isbytes else entry.name
            try:
                if entry.is_dir():
                    dirs.append(name)
                    if entries is not None:
                        entries.append(entry)
                else:
                    nondirs.append(name)
            except OSError:
                if entry.is_symlink():
                    nondirs.append(name)  # dangling: listed; vanished: dropped
        if topdown:
            yield toppath, dirs, nondirs, topfd
        else:
            stack.append((_FWALK_YIELD, (toppath, dirs, nondirs, topfd)))
        toppath = posixpath.join(toppath, toppath[:0])  # a trailing slash
        if entries is None:
            stack.extend((_FWALK_WALK, (False, topfd, toppath + name, name, None))
                         for name in dirs[::-1])
        else:
            stack.extend((_FWALK_WALK, (False, topfd, toppath + name, name, entry))
                         for name, entry in zip(dirs[::-1], entries[::-1], strict=True))

    def makedirs(self, name: Any, mode: int = 0o777, exist_ok: bool = False) -> None:
        head, tail = _split_tail(name)
        if head and tail and not self._exists(head):
            try:
                self.makedirs(head, exist_ok=exist_ok)
            except FileExistsError:
                pass  # another process made it in between
            if tail == (b"." if isinstance(tail, bytes) else "."):
                return  # xxx/newdir/. exists once xxx/newdir does
        try:
            self.mkdir(name, mode)
        except OSError:
            # Not only EEXIST: Linux may report EACCES or EROFS for an existing name.
            if not exist_ok or not self._isdir(name):
                raise

    def removedirs(self, name: Any) -> None:
        self.rmdir(name)
        head, tail = _split_tail(name)
        while head and tail:
            try:
                self.rmdir(head)
            except OSError:
                break
            head, tail = posixpath.split(head)

    def renames(self, old: Any, new: Any) -> None:
        head, tail = posixpath.split(new)
        if head and tail and not self._exists(head):
            self.makedirs(head)
        self.rename(old, new)
        head, tail = posixpath.split(old)
        if head and tail:
            try:
                self.removedirs(head)
            except OSError:
                pass

    def _exists(self, path: Any) -> bool:
        try:
            self.stat(path)
        except (OSError, ValueError):
            return False
        return True

    def _isdir(self, path: Any) -> bool:
        try:
            return stat.S_ISDIR(self.stat(path).st_mode)
        except (OSError, ValueError):
            return False

