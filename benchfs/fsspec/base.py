"""What every part of BenchFileSystem shares: construction, the client, paths and
attributes (fsspec's info dicts from benchfs stats)."""

from __future__ import annotations

import dataclasses
import datetime
import hashlib
import os
import stat
from typing import Any

from fsspec.spec import AbstractFileSystem
from fsspec.utils import stringify_path, tokenize

from benchfs.client.client import Client
from benchfs.fsspec.connections import client_for
from benchfs.settings import ClientSettings, registry_from_env

# Names an existence test may answer False for; anything else (a timeout, a dead
# server, a refused permission) is an answer the caller must see.
ABSENT = (FileNotFoundError, NotADirectoryError)

Info = dict[str, Any]


def type_name(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "directory"
    return "file" if stat.S_ISREG(mode) else "other"


def _utc(seconds: float) -> datetime.datetime:
    return datetime.datetime.fromtimestamp(seconds, tz=datetime.timezone.utc)


class FileSystemBase(AbstractFileSystem):  # type: ignore[misc]  # fsspec is untyped
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
            except ABSENT:
                if not listed:
                    raise
                target = None
        shown = st if listed or target is None else target
        info: Info = {
            "name": path,
            "size": target.st_size if target is not None else 0,
            "type": type_name(shown.st_mode),
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
        except ABSENT:
            return False
        return True

    def lexists(self, path: Any, **kwargs: Any) -> bool:
        try:
            self.client.lstat(self._strip_protocol(path))
        except ABSENT:
            return False
        return True

    def _mode(self, path: Any) -> int | None:
        try:
            return self.client.stat(self._strip_protocol(path)).st_mode
        except ABSENT:
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
        except ABSENT:
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

    def _make_parent(self, path: str) -> None:
        self.client.makedirs(self._parent(path), exist_ok=True)
