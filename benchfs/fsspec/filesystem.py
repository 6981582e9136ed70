"""``benchfs://``: a benchfs cluster as an fsspec file system.

Every method is a call or two of the one client (``benchfs.Client``), not fsspec's
generic fallbacks: ``info`` is one stat, ``ls(detail=True)`` one listing round and
one round of lookups, ``mv`` a rename, ``pipe_file`` an exclusive or truncating
open and one write. Files opened are the real ``io`` classes over a benchfs
descriptor (``benchfs.fileobj``), seekable in every mode.

Errors are os's: FileNotFoundError only for a name that does not exist. A dead or
silent server raises its own OSError (ETIMEDOUT, ENOTCONN, ECONNRESET), so callers
that treat "not found" as "empty" (zarr fills in missing chunks) never mistake a
failure for absence.
"""

from __future__ import annotations

import dataclasses
import datetime
import hashlib
import os
import posixpath
import stat
import sys
from collections.abc import Callable, Iterator
from typing import Any, BinaryIO

from fsspec.spec import AbstractFileSystem
from fsspec.utils import stringify_path, tokenize

from benchfs.client.client import Client
from benchfs.core.errors import FAILURE_ERRNOS
from benchfs.fsspec.connections import client_for
from benchfs.settings import ClientSettings, registry_from_env

# Names an existence test may answer False for; anything else (a timeout, a dead
# server, a refused permission) is an answer the caller must see.
_ABSENT = (FileNotFoundError, NotADirectoryError)
_WRITE_MODES = frozenset("wxa")
# How much cp_file moves per read/write pair: whole default chunks, several servers
# busy at once, and a bounded amount of memory.
_COPY_PIECES = 4

Info = dict[str, Any]
WalkListing = tuple[dict[str, Info], dict[str, Info]]


def _type_name(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "directory"
    return "file" if stat.S_ISREG(mode) else "other"


def _utc(seconds: float) -> datetime.datetime:
    return datetime.datetime.fromtimestamp(seconds, tz=datetime.timezone.utc)


class BenchFileSystem(AbstractFileSystem):  # type: ignore[misc]  # fsspec is untyped
    """A benchfs cluster as fsspec's ``benchfs://`` protocol.

    ``registry``: the cluster's registry directory (default: ``BENCHFS_REGISTRY``).
    ``timeout``, ``metadata_ttl``, ``spin_us``: the client settings
    (``BENCHFS_TIMEOUT``, ``BENCHFS_MD_CACHE_TTL``, ``BENCHFS_SPIN_US`` by default).

    Making one is cheap: it connects on first use, shares one client per cluster
    with every other instance of the process, and pickles to its options alone,
    so a copy in another process (a dask worker, a forked child) connects there.
    """

    protocol = "benchfs"
    root_marker = "/"

    def __init__(self, registry: str | os.PathLike[str] | None = None, *,
                 timeout: float | None = None, metadata_ttl: float | None = None,
                 spin_us: int | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        # Resolved now, so that a copy in a process with another cwd or environment
        # reaches the same cluster.
        self.registry = os.path.abspath(registry if registry is not None
                                        else registry_from_env())
        given: dict[str, Any] = {"timeout": timeout, "metadata_ttl": metadata_ttl,
                                 "spin_us": spin_us}
        self.settings = dataclasses.replace(
            ClientSettings.from_env(), **{k: v for k, v in given.items() if v is not None})

    def __reduce__(self) -> tuple[Any, ...]:
        from fsspec.spec import make_instance

        options = {**self.storage_options, "registry": self.registry,
                   **dataclasses.asdict(self.settings)}
        return make_instance, (type(self), self.storage_args, options)

    @property
    def _fs_token(self) -> str:
        # Equal (and hashing, and dask-tokenizing alike) for every instance that
        # reaches the same cluster with the same settings, however it was spelled:
        # a pickled copy is equal to its original.
        return tokenize(type(self).__qualname__, self.registry, self.settings)  # type: ignore[no-any-return]

    def __repr__(self) -> str:
        options = ", ".join(f"{k}={v!r}" for k, v in dataclasses.asdict(self.settings).items())
        return f"{type(self).__name__}(registry={self.registry!r}, {options})"

    @property
    def client(self) -> Client:
        """This process's client of the cluster (connected on first use)."""
        return client_for(self.registry, self.settings)

    @property
    def fsid(self) -> str:
        return f"benchfs-{hashlib.sha256(self.registry.encode()).hexdigest()[:16]}"

    @classmethod
    def _strip_protocol(cls, path: Any) -> Any:
        """``benchfs:///a/b/`` and ``a/b`` name ``/a/b``: benchfs paths are absolute
        and there is no host part."""
        if isinstance(path, list):
            return [cls._strip_protocol(p) for p in path]
        text = stringify_path(path)
        for prefix in ("benchfs://", "benchfs::"):
            if text.startswith(prefix):
                text = text[len(prefix):]
                break
        return "/" + text.strip("/") if text.strip("/") else cls.root_marker

    def _isfilestore(self) -> bool:
        return True  # posix-like: directories are real, renames are atomic

    # -- attributes ----------------------------------------------------------------------

    def _info(self, path: str, st: os.stat_result, listed: bool = False) -> Info:
        """fsspec's info dict with LocalFileSystem's fields and its rules for a symlink:
        ``info`` describes the target (FileNotFoundError when it dangles), a listing
        the link itself with its target's size (0 when it dangles), so walks never
        follow links."""
        link = stat.S_ISLNK(st.st_mode)
        target: os.stat_result | None = st
        if link:
            try:
                target = self.client.stat(path)
            except _ABSENT:
                if not listed:
                    raise
                target = None
        shown = st if listed or target is None else target
        info: Info = {
            "name": path,
            "size": target.st_size if target is not None else 0,
            "type": _type_name(shown.st_mode),
            "created": shown.st_ctime,  # benchfs keeps no birth time; ctime, as on Linux
            "islink": link,
            "mode": shown.st_mode, "uid": shown.st_uid, "gid": shown.st_gid,
            "mtime": shown.st_mtime, "ino": shown.st_ino, "nlink": shown.st_nlink,
        }
        if link:
            info["destination"] = self.client.readlink(path)
        return info

    def info(self, path: Any, **kwargs: Any) -> Info:
        path = self._strip_protocol(path)
        return self._info(path, self.client.lstat(path))

    def exists(self, path: Any, **kwargs: Any) -> bool:
        try:
            self.client.stat(self._strip_protocol(path))
        except _ABSENT:
            return False
        return True

    def lexists(self, path: Any, **kwargs: Any) -> bool:
        try:
            self.client.lstat(self._strip_protocol(path))
        except _ABSENT:
            return False
        return True

    def _mode(self, path: Any) -> int | None:
        try:
            return self.client.stat(self._strip_protocol(path)).st_mode
        except _ABSENT:
            return None

    def isdir(self, path: Any) -> bool:
        mode = self._mode(path)
        return mode is not None and stat.S_ISDIR(mode)

    def isfile(self, path: Any) -> bool:
        mode = self._mode(path)
        return mode is not None and stat.S_ISREG(mode)

    def islink(self, path: Any) -> bool:
        try:
            return stat.S_ISLNK(self.client.lstat(self._strip_protocol(path)).st_mode)
        except _ABSENT:
            return False

    def created(self, path: Any) -> datetime.datetime:
        return _utc(self.info(path)["created"])

    def modified(self, path: Any) -> datetime.datetime:
        return _utc(self.info(path)["mtime"])

    def ukey(self, path: Any) -> str:
        """Changes whenever the file's contents may have: another inode, size or time."""
        st = self.client.stat(self._strip_protocol(path))
        key = f"{st.st_ino}:{st.st_size}:{st.st_mtime_ns}:{st.st_ctime_ns}"
        return hashlib.sha256(key.encode()).hexdigest()

    def checksum(self, path: Any) -> int:
        return int(self.ukey(path), 16)

    # -- listing and walking --------------------------------------------------------------

    def ls(self, path: Any, detail: bool = True, **kwargs: Any) -> list[Any]:
        path = self._strip_protocol(path)
        base = path.rstrip("/")
        try:
            if detail:
                return [self._info(f"{base}/{name}", st, listed=True)
                        for name, st in self.client.listdir_stat(path)]
            return [f"{base}/{name}" for name in self.client.listdir(path)]
        except NotADirectoryError:
            info = self.info(path)  # a file lists as itself
            return [info] if detail else [info["name"]]

    def _listing(self, path: str, full: bool) -> WalkListing:
        """(directories, other entries) of ``path`` by name. ``full`` False: only
        ``name`` and ``type`` in each info, taken from the listing itself."""
        base = path.rstrip("/")
        dirs: dict[str, Info] = {}
        files: dict[str, Info] = {}
        try:
            if full:
                infos = [self._info(f"{base}/{name}", st, listed=True)
                         for name, st in self.client.listdir_stat(path)]
            else:
                infos = [{"name": f"{base}/{name}", "type": _type_name(file_type)}
                         for name, _, file_type in self.client.readdir(path)]
        except NotADirectoryError:
            return {}, {"": self.info(path)}
        for info in infos:
            name = info["name"].rsplit("/", 1)[1]
            (dirs if info["type"] == "directory" else files)[name] = info
        return dirs, files

    def _walk(self, path: str, maxdepth: int | None, topdown: bool, on_error: Any,
              full: bool) -> Iterator[tuple[str, dict[str, Info], dict[str, Info]]]:
        try:
            dirs, files = self._listing(path, full)
        except OSError as error:
            # on_error covers what a walk meets in the tree (a directory gone or
            # refused), never an unreachable cluster: that would look like an empty tree.
            if on_error == "raise" or error.errno in FAILURE_ERRNOS:
                raise
            if callable(on_error):
                on_error(error)
            return
        if topdown:
            yield path, dirs, files
        if maxdepth is None or maxdepth > 1:
            deeper = None if maxdepth is None else maxdepth - 1
            # Read only now: a topdown caller may have pruned ``dirs``.
            for info in list(dirs.values()):
                yield from self._walk(info["name"], deeper, topdown, on_error, full)
        if not topdown:
            yield path, dirs, files

    def walk(self, path: Any, maxdepth: int | None = None, topdown: bool = True,
             on_error: str | Callable[[OSError], object] = "omit",
             **kwargs: Any) -> Iterator[tuple[str, Any, Any]]:
        """fsspec's walk, from listings: file types come with the names, so only
        ``detail=True`` asks for every entry's attributes."""
        if maxdepth is not None and maxdepth < 1:
            raise ValueError("maxdepth must be at least 1")
        detail = kwargs.pop("detail", False)
        for top, dirs, files in self._walk(self._strip_protocol(path), maxdepth, topdown,
                                           on_error, full=detail):
            if detail:
                yield top, dirs, files
            else:
                names = list(dirs)
                yield top, names, list(files)
                if topdown:  # honour pruning of the name list
                    for name in set(dirs) - set(names):
                        del dirs[name]

    def find(self, path: Any, maxdepth: int | None = None, withdirs: bool = False,
             detail: bool = False, **kwargs: Any) -> Any:
        """``_types_only=True`` (glob's): infos hold only name and type, which the
        listings give without a lookup per entry."""
        path = self._strip_protocol(path)
        full = detail and not kwargs.pop("_types_only", False)
        found: dict[str, Info] = {}
        if withdirs and self.isdir(path):
            found[path] = self.info(path) if full else {"name": path, "type": "directory"}
        for _, dirs, files in self._walk(path, maxdepth, True, kwargs.get("on_error", "omit"),
                                         full):
            for info in (*files.values(), *(dirs.values() if withdirs else ())):
                found[info["name"]] = info
        names = sorted(found)
        return {name: found[name] for name in names} if detail else names

    def glob(self, path: Any, maxdepth: int | None = None, **kwargs: Any) -> Any:
        if not kwargs.get("detail"):
            kwargs["_types_only"] = True
        return super().glob(path, maxdepth, **kwargs)

    def du(self, path: Any, total: bool = True, maxdepth: int | None = None,
           withdirs: bool = False, **kwargs: Any) -> Any:
        sizes = {name: info["size"] for name, info in
                 self.find(path, maxdepth, withdirs, detail=True, **kwargs).items()}
        return sum(sizes.values()) if total else sizes

    # -- names ------------------------------------------------------------------------------

    def mkdir(self, path: Any, create_parents: bool = True, **kwargs: Any) -> None:
        path = self._strip_protocol(path)
        mode = kwargs.get("mode", 0o777)
        if create_parents:
            self.client.makedirs(path, mode, exist_ok=False)
        else:
            self.client.mkdir(path, mode)

    def makedirs(self, path: Any, exist_ok: bool = False) -> None:
        self.client.makedirs(self._strip_protocol(path), exist_ok=exist_ok)

    def _make_parent(self, path: str) -> None:
        self.client.makedirs(self._parent(path), exist_ok=True)

    def rmdir(self, path: Any) -> None:
        self.client.rmdir(self._strip_protocol(path))

    def rm_file(self, path: Any) -> None:
        self.client.unlink(self._strip_protocol(path))

    def rm(self, path: Any, recursive: bool = False, maxdepth: int | None = None) -> None:
        """LocalFileSystem's rm: a directory needs ``recursive``; ``maxdepth`` stops
        the descent, leaving deeper directories (and so their parents) in place."""
        if maxdepth is not None:
            for name in reversed(self.expand_path(path, recursive, maxdepth)):
                (self.rmdir if self.isdir(name) else self.rm_file)(name)
            return
        for name in self._strip_protocol(path if isinstance(path, list) else [path]):
            if not stat.S_ISDIR(self.client.lstat(name).st_mode):
                self.client.unlink(name)
            elif not recursive:
                raise ValueError("Cannot delete directory, set recursive=True")
            else:
                self._remove_tree(name)

    def _remove_tree(self, path: str) -> None:
        for top, _, files in self._walk(path, None, False, "raise", full=False):
            for info in files.values():  # a link to a directory is one of them
                self.client.unlink(info["name"])
            self.client.rmdir(top)

    def mv(self, path1: Any, path2: Any, recursive: bool = True, maxdepth: int | None = None,
           **kwargs: Any) -> None:
        """A rename, moving no data (shutil.move's rules: into an existing directory,
        over an existing file). Lists move pairwise, or into ``path2``."""
        sources = path1 if isinstance(path1, list) else [path1]
        targets = path2 if isinstance(path2, list) else [path2] * len(sources)
        if len(sources) != len(targets):
            raise ValueError("path1 and path2 lists differ in length")
        for source, target in zip(self._strip_protocol(sources),
                                  self._strip_protocol(targets), strict=True):
            if source == target:
                continue
            if self.isdir(target):
                target = posixpath.join(target, posixpath.basename(source))
            else:
                self._make_parent(target)
            self.client.rename(source, target)

    def link(self, src: Any, dst: Any, **kwargs: Any) -> None:
        self.client.link(self._strip_protocol(src), self._strip_protocol(dst))

    def symlink(self, src: Any, dst: Any, **kwargs: Any) -> None:
        self.client.symlink(self._strip_protocol(src), self._strip_protocol(dst))

    # -- data ------------------------------------------------------------------------------

    def _open_fd(self, path: str, flags: int) -> int:
        """open(2) on the cluster; a creating open makes the missing parents first."""
        try:
            return self.client.open(path, flags, 0o666)
        except FileNotFoundError:
            if not flags & os.O_CREAT:
                raise
            self._make_parent(path)
            return self.client.open(path, flags, 0o666)

    def cat_file(self, path: Any, start: int | None = None, end: int | None = None,
                 **kwargs: Any) -> bytes:
        """Bytes [start, end) like a slice: negative values count from the end."""
        client = self.client
        fd = client.open(self._strip_protocol(path), os.O_RDONLY)
        try:
            return self._read_range(fd, start, end)
        finally:
            client.close(fd)

    def cat_ranges(self, paths: list[Any], starts: Any, ends: Any, max_gap: int | None = None,
                   on_error: str = "return", **kwargs: Any) -> list[Any]:
        """Each file opened once for all its ranges."""
        if max_gap is not None:
            raise NotImplementedError("max_gap")
        if not isinstance(paths, list):
            raise TypeError("paths must be a list")
        starts = starts if isinstance(starts, list) else [starts] * len(paths)
        ends = ends if isinstance(ends, list) else [ends] * len(paths)
        if len(starts) != len(paths) or len(ends) != len(paths):
            raise ValueError("paths, starts and ends differ in length")
        client = self.client
        out: list[Any] = [None] * len(paths)
        by_path: dict[str, list[int]] = {}
        for index, path in enumerate(self._strip_protocol(paths)):
            by_path.setdefault(path, []).append(index)
        for path, indexes in by_path.items():
            try:
                fd = client.open(path, os.O_RDONLY)
            except OSError as error:
                if on_error != "return":
                    raise
                for index in indexes:
                    out[index] = error
                continue
            try:
                for index in indexes:
                    try:
                        out[index] = self._read_range(fd, starts[index], ends[index])
                    except OSError as error:
                        if on_error != "return":
                            raise
                        out[index] = error
            finally:
                client.close(fd)
        return out

    def _read_range(self, fd: int, start: int | None, end: int | None) -> bytes:
        client = self.client
        first = start or 0
        if first < 0 or (end is not None and end < 0):
            size = client.fstat(fd).st_size
            first = max(0, size + first) if first < 0 else first
            end = size + end if end is not None and end < 0 else end
        # A read stops at the end of the file: reading to it needs no size.
        length = sys.maxsize if end is None else max(0, end - first)
        return client.pread(fd, length, first) if length else b""

    def pipe_file(self, path: Any, value: Any, mode: str = "overwrite", **kwargs: Any) -> None:
        """``mode="create"`` is an exclusive open: FileExistsError, atomically."""
        if mode not in ("overwrite", "create"):
            raise ValueError(f"mode must be 'overwrite' or 'create', not {mode!r}")
        flags = os.O_WRONLY | os.O_CREAT | (os.O_EXCL if mode == "create" else os.O_TRUNC)
        client = self.client
        fd = self._open_fd(self._strip_protocol(path), flags)
        try:
            client.write(fd, value)
        finally:
            client.close(fd)

    def touch(self, path: Any, truncate: bool = True, **kwargs: Any) -> None:
        """Create the file, or move its times (and with ``truncate`` empty it)."""
        path = self._strip_protocol(path)
        if truncate:
            self.client.close(self._open_fd(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC))
            return
        try:
            self.client.utime(path)
        except FileNotFoundError:
            self.client.close(self._open_fd(path, os.O_WRONLY | os.O_CREAT))

    def cp_file(self, path1: Any, path2: Any, **kwargs: Any) -> None:
        """Copied through this client, a few chunks at a time: each piece is read
        into one ``bytes`` and written from it (benchfs has no server-side copy)."""
        source, target = self._strip_protocol(path1), self._strip_protocol(path2)
        client = self.client
        if stat.S_ISDIR(client.stat(source).st_mode):
            client.makedirs(target, exist_ok=True)
            return
        piece = client.chunk_size * _COPY_PIECES
        src = client.open(source, os.O_RDONLY)
        try:
            dst = self._open_fd(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
            try:
                for offset in range(0, client.fstat(src).st_size, piece):
                    client.pwrite(dst, client.pread(src, piece, offset), offset)
            finally:
                client.close(dst)
        finally:
            client.close(src)

    def _open(self, path: Any, mode: str = "rb", block_size: int | None = None,
              autocommit: bool = True, cache_options: Any = None, **kwargs: Any) -> BinaryIO:
        """The io classes builtins.open returns, over a benchfs descriptor;
        ``block_size`` is their buffer size. Writing modes create missing parents."""
        if not autocommit:
            raise NotImplementedError("benchfs:// has no transactions (autocommit=False)")
        path = self._strip_protocol(path)
        buffering = block_size if block_size else -1
        try:
            return self.client.open_file(path, mode, buffering)  # type: ignore[no-any-return]
        except FileNotFoundError:
            if not _WRITE_MODES & set(mode):
                raise
            self._make_parent(path)
            return self.client.open_file(path, mode, buffering)  # type: ignore[no-any-return]
