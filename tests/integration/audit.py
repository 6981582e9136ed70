"""An audit of a cluster's metadata as its servers hold it, for the crash tests.

Each server's metadata log is copied (so running servers are not disturbed; a tail
torn by the copy is dropped by replay as after a crash) and replayed into a store,
whose snapshot records give the whole state. The checks are the promises the
multi-server operations make across crashes: every name has its inode, every
inode's link count matches its names, no chunk file outlives its inode, no entry
sits under a missing directory, and every transaction finished and was forgotten.
"""

from __future__ import annotations

import shutil
import stat
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgpack

from benchfs.cluster import LocalCluster
from benchfs.core.paths import split
from benchfs.core.records import ROOT_INO, Inode
from benchfs.registry import read_cluster_config
from benchfs.server.metadata import MetadataStore
from benchfs.server.plans import Placement
from benchfs.server.wal import WriteAheadLog
from benchfs.view_registry import current_view


@dataclass
class ClusterState:
    entries: dict[str, tuple[int, int]] = field(default_factory=dict)  # path -> (ino, type)
    inodes: dict[int, tuple[int, Inode]] = field(default_factory=dict)  # ino -> (rank, inode)
    chunk_files: dict[int, set[int]] = field(default_factory=dict)  # rank -> inos with chunks
    unfinished: list[str] = field(default_factory=list)  # intents, step results, fences


def _join(parent: str, name: str) -> str:
    return f"{parent.rstrip('/')}/{name}"


def read_state(cluster: LocalCluster) -> ClusterState:
    servers = read_cluster_config(cluster.registry).servers
    where = Placement(current_view(cluster.registry, servers).table)
    state = ClusterState()
    with tempfile.TemporaryDirectory() as scratch:
        for rank in range(servers):
            copy = Path(scratch) / str(rank)
            shutil.copytree(cluster.data_dir(rank) / "meta", copy,
                            ignore=shutil.ignore_patterns("LOCK"))
            store = MetadataStore(rank, where.of_path("/") == rank)
            with WriteAheadLog(copy) as wal:
                for record in wal.replay():
                    store.apply(record)
            for record in store.snapshot_records():
                _note(state, rank, *msgpack.unpackb(record, strict_map_key=False,
                                                    unicode_errors="surrogateescape")[:2])
            chunks = cluster.data_dir(rank) / "chunks"
            state.chunk_files[rank] = ({int(p.name, 16) for p in chunks.iterdir()}
                                       if chunks.is_dir() else set())
    return state


def _note(state: ClusterState, rank: int, name: str, args: list[Any]) -> None:
    if name == "_restore_entry":
        parent, base, ino, file_type = args
        state.entries[_join(parent, base)] = (ino, file_type)
    elif name == "_restore_inode":
        inode = Inode.from_wire(args[0])
        state.inodes[inode.ino] = (rank, inode)
    elif name != "_restore_counter":
        state.unfinished.append(f"server {rank}: {name}{args}")


def problems(state: ClusterState) -> list[str]:
    """What is wrong with the namespace; empty when every invariant holds."""
    found = list(state.unfinished)
    names = Counter(ino for ino, _ in state.entries.values())
    subdirs = Counter(split(path)[0] for path, (_, kind) in state.entries.items()
                      if kind == stat.S_IFDIR)
    dirs = {"/": ROOT_INO} | {path: ino for path, (ino, kind) in state.entries.items()
                              if kind == stat.S_IFDIR}
    ino_dirs = {ino: path for path, ino in dirs.items()}
    for path, (ino, _) in state.entries.items():
        if ino not in state.inodes:
            found.append(f"{path}: names missing inode {ino:#x}")
        if split(path)[0] not in dirs:
            found.append(f"{path}: its directory is gone")
    for ino, (rank, inode) in state.inodes.items():
        if stat.S_ISDIR(inode.mode):
            path = ino_dirs.get(ino)
            if path is None:
                found.append(f"directory inode {ino:#x} on server {rank} has no name")
            elif inode.nlink != 2 + subdirs[path]:
                found.append(f"{path}: nlink {inode.nlink}, {2 + subdirs[path]} expected")
        elif inode.nlink != names[ino]:
            found.append(f"inode {ino:#x} on server {rank}: nlink {inode.nlink}, "
                         f"{names[ino]} names")
    for rank, inos in state.chunk_files.items():
        for ino in sorted(inos - state.inodes.keys()):
            found.append(f"server {rank}: chunk file of removed inode {ino:#x}")
    return found


def wait_consistent(cluster: LocalCluster, timeout: float = 20.0) -> ClusterState:
    """The state once every invariant holds (transactions may still be finishing
    when this is called); AssertionError with what is wrong after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        state = read_state(cluster)
        wrong = problems(state)
        if not wrong:
            return state
        if time.monotonic() > deadline:
            raise AssertionError("namespace not consistent:\n" + "\n".join(wrong[:40]))
        time.sleep(0.2)
