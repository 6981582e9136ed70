"""A cache in front of a directory (CHFS/Cache's idea): ``cluster up --backend DIR``.

The backend is recorded in ``cluster.json`` (``"backend": DIR``); every client made by
``benchfs.connect`` then reads DIR through. Before a call resolves a path, each directory
on the way to it that benchfs has not taken from DIR yet is *filled*: its entries that
benchfs lacks are copied in as ``cp -a`` would (files with their data, symlinks, and
subdirectories, empty until they are filled in turn), and a marker in the registry
(``backend-filled/<hash of the path>``) tells every client it was done. Listing, removing
or entering a directory fills it too, and renaming one fills its whole tree first.

``benchfs flush`` (benchfs.tools.flush; also ``cluster down --flush``) copies back every
file whose size or modification time differs from DIR's copy, or that DIR lacks, each
through a temporary name renamed over the old file: DIR is never written in place, so a
crash at any time loses nothing it held. Not written back: deletions (a file removed from
benchfs stays in DIR), renames (the new name is written, the old one stays), and hard
links between files that came from DIR (each name is its own copy).
"""

from __future__ import annotations

import hashlib
import json
import os
import posixpath
import stat
from pathlib import Path

from benchfs.client.client import Client
from benchfs.registry import CLUSTER_FILE, atomic_write_json, read_cluster_config
from benchfs.tools.copy import COMPLETE, Copier, archive_options
from benchfs.tools.diagnostics import Diagnostics
from benchfs.tools.paths import Location
from benchfs.tools.tree import DIR, FILE, SYMLINK, Entry

BACKEND_KEY = "backend"
# Set by flush for its own processes: they read what benchfs holds, nothing else.
NO_READ_THROUGH = "BENCHFS_NO_READ_THROUGH"
MARKERS = "backend-filled"
FILLS_ITSELF = frozenset({"listdir", "scandir", "rmdir", "chdir"})
FILLS_TREE = frozenset({"rename"})


def record_backend(registry: Path, directory: Path) -> None:
    """``cluster up --backend``: name DIR in cluster.json (the one place clients read)."""
    raw = json.loads((registry / CLUSTER_FILE).read_text())
    raw[BACKEND_KEY] = str(directory.resolve())
    atomic_write_json(registry / CLUSTER_FILE, raw)
    (registry / MARKERS).mkdir(exist_ok=True)


def backend_of(registry: Path) -> Path | None:
    backend = read_cluster_config(registry).backend
    return None if backend is None else Path(backend)


class ReadThrough:
    """The client's read-through hook for one backend directory."""

    def __init__(self, client: Client, backend: Path) -> None:
        self._client = client
        self._markers = client.registry / MARKERS
        self._known: set[str] = set()  # directories this process has filled or checked
        root = os.fsencode(backend)
        self._copier = Copier(Location(os, root, False, root),
                              Location(client, b"/", True, b"bfs:/"),
                              archive_options(skip=COMPLETE), Diagnostics("benchfs backend"),
                              client.chunk_size * max(1, (16 << 20) // client.chunk_size))
        self._backend = root

    def __call__(self, absolute: str, func: str) -> None:
        parts = [part for part in posixpath.normpath(absolute).split("/") if part]
        if absolute.endswith("/"):  # "the directory itself" (a create's parent)
            parts.append("")
        directories = ["/" + "/".join(parts[:depth]) for depth in range(len(parts))]
        if func in FILLS_ITSELF or func in FILLS_TREE:
            directories.append("/" + "/".join(parts))
        for directory in dict.fromkeys(directories):
            self._fill(directory.rstrip("/") or "/")
        if func in FILLS_TREE and parts:
            self._fill_tree("/" + "/".join(parts))

    def _fill_tree(self, directory: str) -> None:
        local = self._local(directory)
        if not os.path.isdir(local) or os.path.islink(local):
            return
        self._fill(directory)
        for name in sorted(os.listdir(local)):
            child = posixpath.join(directory, os.fsdecode(name))
            if os.path.isdir(os.path.join(local, name)):
                self._fill_tree(child)

    def _local(self, directory: str) -> bytes:
        return self._backend + os.fsencode(directory).rstrip(b"/")

    def _marker(self, directory: str) -> Path:
        return self._markers / hashlib.sha1(os.fsencode(directory)).hexdigest()

    def _fill(self, directory: str) -> None:
        if directory in self._known:
            return
        self._known.add(directory)  # before copying: the copy's own calls come back here
        marker = self._marker(directory)
        local = self._local(directory)
        if marker.exists() or not os.path.isdir(local) or os.path.islink(local):
            return
        rel_dir = os.fsencode(directory).strip(b"/")
        for name in sorted(os.listdir(local)):
            rel = posixpath.join(rel_dir, name) if rel_dir else name
            self._copy_entry(rel, os.lstat(os.path.join(local, name)))
        if rel_dir:  # adding the entries moved its times: the backend's again
            st = os.stat(local)
            self._copier.finish_dir(Entry.of(rel_dir, DIR, st))
        marker.touch()

    def _copy_entry(self, rel: bytes, st: os.stat_result) -> None:
        """One entry of a directory being filled, unless benchfs has that name already
        (then benchfs's is the newer one: created or changed here, or deleted and made
        again)."""
        try:
            self._client.lstat(b"/" + rel)
            return
        except FileNotFoundError:
            pass
        if stat.S_ISDIR(st.st_mode):
            entry = Entry.of(rel, DIR, st)
            if self._copier.make_dir(entry):
                self._copier.finish_dir(entry)
        elif stat.S_ISLNK(st.st_mode):
            target = os.readlink(os.path.join(self._backend, rel))
            self._copier.make_symlink(Entry.of(rel, SYMLINK, st, target))
        elif stat.S_ISREG(st.st_mode):
            self._copier.copy_file(Entry.of(rel, FILE, st))


def install_read_through(client: Client) -> None:
    """Called by benchfs.connect for every new client."""
    backend = backend_of(client.registry)
    if backend is not None and not os.environ.get(NO_READ_THROUGH):
        client.read_through = ReadThrough(client, backend)
