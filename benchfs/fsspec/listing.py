"""Listing and walking: ls, walk, find, glob, du, from the listings' file types,
asking for every entry's attributes only when details are wanted."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from benchfs.core.errors import FAILURE_ERRNOS
from benchfs.fsspec.base import FileSystemBase, Info, type_name

WalkListing = tuple[dict[str, Info], dict[str, Info]]


class Listing(FileSystemBase):
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
                infos = [{"name": f"{base}/{name}", "type": type_name(file_type)}
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
