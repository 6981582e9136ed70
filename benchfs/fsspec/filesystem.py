"""``benchfs://``: a benchfs cluster as an fsspec file system.

Every method is a call or two of the one client (``benchfs.Client``), not fsspec's
generic fallbacks: ``info`` is one stat, ``ls(detail=True)`` one listing round and
one round of lookups, ``mv`` a rename, ``pipe_file`` an exclusive or truncating
open and one write. Files opened are the real ``io`` classes over a benchfs
descriptor (``benchfs.fileobj``), seekable in every mode. The methods live in
``base`` (construction, attributes), ``listing`` and ``data``; names are here.

Errors are os's: FileNotFoundError only for a name that does not exist. A dead or
silent server raises its own OSError (ETIMEDOUT, ENOTCONN, ECONNRESET), so callers
that treat "not found" as "empty" (zarr fills in missing chunks) never mistake a
failure for absence.
"""

from __future__ import annotations

import posixpath
import stat
from typing import Any

from benchfs.fsspec.data import Data
from benchfs.fsspec.listing import Listing


class BenchFileSystem(Listing, Data):
    """A benchfs cluster as fsspec's ``benchfs://`` protocol.

    ``registry``: the cluster's registry directory (default: ``BENCHFS_REGISTRY``).
    ``timeout``, ``metadata_ttl``, ``spin_us``: the client settings
    (``BENCHFS_TIMEOUT``, ``BENCHFS_MD_CACHE_TTL``, ``BENCHFS_SPIN_US`` by default).

    Making one is cheap: it connects on first use, shares one client per cluster
    with every other instance of the process, and pickles to its options alone,
    so a copy in another process (a dask worker, a forked child) connects there.
    """

    def mkdir(self, path: Any, create_parents: bool = True, **kwargs: Any) -> None:
        path = self._strip_protocol(path)
        mode = kwargs.get("mode", 0o777)
        if create_parents:
            self.client.makedirs(path, mode, exist_ok=False)
        else:
            self.client.mkdir(path, mode)

    def makedirs(self, path: Any, exist_ok: bool = False) -> None:
        self.client.makedirs(self._strip_protocol(path), exist_ok=exist_ok)

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
