"""The phases, shaped as IO500 runs IOR and mdtest, over any os-like file system.

Every phase runs unchanged on benchfs (a ``Client``) and on the ``os`` module, which is what
makes the os baseline the same workload. Reads are shifted by one client (IOR ``-C``,
mdtest ``-N 1``): client r reads what client r+1 wrote, so no client is served from
what it just wrote itself.
"""

from __future__ import annotations

import functools
import os
import posixpath
import random
import stat
from collections.abc import Sequence
from dataclasses import dataclass
from time import perf_counter
from typing import Protocol

from benchfs.bench.measure import UNIT_BANDWIDTH, UNIT_OPS, BenchError, Recorder
from benchfs.bench.options import BenchOptions, KiB, MiB, size_text


class FileSystem(Protocol):
    """The os calls the phases make; both ``os`` and ``benchfs.Client`` provide them."""

    def open(self, path: str, flags: int, mode: int = 0o777, /) -> int: ...
    def close(self, fd: int, /) -> None: ...
    def read(self, fd: int, length: int, /) -> bytes: ...
    def write(self, fd: int, data: bytes, /) -> int: ...
    def pread(self, fd: int, length: int, offset: int, /) -> bytes: ...
    def pwrite(self, fd: int, data: bytes, offset: int, /) -> int: ...
    def fsync(self, fd: int, /) -> None: ...
    def stat(self, path: str, /) -> os.stat_result: ...
    def unlink(self, path: str, /) -> None: ...
    def mkdir(self, path: str, mode: int = 0o777, /) -> None: ...
    def rmdir(self, path: str, /) -> None: ...
    def listdir(self, path: str, /) -> list[str]: ...


@dataclass(frozen=True)
class Workspace:
    """One client's view of one target: the file system, the run's directory on it."""

    fs: FileSystem
    target: str
    root: str
    rank: int
    size: int
    # The same client's benchfs workspace, for the os side of phases whose reference
    # is benchfs itself (the fsspec family).
    benchfs_space: Workspace | None = None

    def path(self, *parts: str) -> str:
        return posixpath.join(self.root, *parts)

    @property
    def neighbour(self) -> int:
        return (self.rank + 1) % self.size


# Distinct contents, cycled: a transfer that lands at the wrong offset, or in another
# client's file, reads back as the wrong pattern. Seeded by length, so every client
# process generates the same ones without sending them around.
_PATTERNS = 8


@functools.cache
def patterns(length: int) -> tuple[bytes, ...]:
    rng = random.Random(length)
    return tuple(rng.randbytes(length) for _ in range(_PATTERNS))


def _write_all(fs: FileSystem, fd: int, data: bytes, where: str) -> None:
    written = fs.write(fd, data)
    if written != len(data):
        raise BenchError(f"{where}: short write ({written} of {len(data)} bytes)")


class Phase:
    """One timed step. ``shared_setup`` runs on client 0 and ``setup`` on every client,
    both untimed and each followed by a barrier; then every client runs ``run``."""

    name: str
    family: str
    unit: str

    def shared_setup(self, ws: Workspace) -> None:
        """Client 0 prepares what all clients share; nothing by default."""

    def setup(self, ws: Workspace) -> None:
        """Each client prepares its own files, untimed; nothing by default."""

    def expected_items(self, size: int) -> int:
        """Transfers, files or entries all ``size`` clients handle together."""
        raise NotImplementedError

    def run(self, ws: Workspace, rec: Recorder) -> None:
        raise NotImplementedError


# -- IOR: ior-easy (a file per client, large transfers) and ior-hard (one shared file) -------

IOR_HARD_TRANSFER = 47008  # IO500's: unaligned to pages, chunks and stripes alike


@dataclass(frozen=True)
class IorLayout:
    """Which transfers client ``rank`` makes, where, and what they hold."""

    family: str
    transfer: int
    per_client: int  # transfers per client
    shared_file: bool

    @property
    def label(self) -> str:
        """Tells ior-easy's transfer sizes apart; ior-hard has only one."""
        return "" if self.shared_file else f"-{size_text(self.transfer)}"

    def directory(self, ws: Workspace) -> str:
        return ws.path(self.family + self.label)

    def file(self, ws: Workspace, rank: int) -> str:
        name = "file" if self.shared_file else f"file.{rank:05d}"
        return posixpath.join(self.directory(ws), name)

    def slots(self, ws: Workspace, rank: int) -> range:
        """Transfer-sized slots of the file: in ior-hard, client r owns slots
        i * size + r (IOR's segments); in ior-easy, every slot of its own file."""
        if self.shared_file:
            return range(rank, self.per_client * ws.size, ws.size)
        return range(self.per_client)

    def content(self, rank: int, slot: int) -> bytes:
        return patterns(self.transfer)[(slot + rank) % _PATTERNS]


def ior_easy(transfer: int, block: int) -> IorLayout:
    return IorLayout("ior-easy", transfer, block // transfer, shared_file=False)


def ior_hard(segments: int) -> IorLayout:
    return IorLayout("ior-hard", IOR_HARD_TRANSFER, segments, shared_file=True)


class Ior(Phase):
    unit = UNIT_BANDWIDTH
    # fio's --rw for the O_DIRECT baseline of the same workload.
    fio_rw: str

    def __init__(self, layout: IorLayout) -> None:
        self.layout = layout
        self.family = layout.family
        self.name = f"{layout.family}-{self.fio_rw}{layout.label}"

    def expected_items(self, size: int) -> int:
        return size * self.layout.per_client


class IorWrite(Ior):
    fio_rw = "write"

    def shared_setup(self, ws: Workspace) -> None:
        ws.fs.mkdir(self.layout.directory(ws))
        if self.layout.shared_file:
            # Created once here so that the clients' opens race on nothing.
            path = self.layout.file(ws, 0)
            ws.fs.close(ws.fs.open(path, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o644))

    def run(self, ws: Workspace, rec: Recorder) -> None:
        fs, layout, transfer = ws.fs, self.layout, self.layout.transfer
        path = layout.file(ws, ws.rank)
        flags = os.O_WRONLY if layout.shared_file else os.O_CREAT | os.O_WRONLY | os.O_TRUNC
        fd = fs.open(path, flags, 0o644)
        for slot in layout.slots(ws, ws.rank):
            data = layout.content(ws.rank, slot)
            started = perf_counter()
            written = fs.pwrite(fd, data, slot * transfer)
            rec.done("write", started, written)
            if written != transfer:
                raise BenchError(f"{path}: short write ({written} of {transfer}) at slot {slot}")
        _fsync_and_close(fs, fd, rec)


class IorRead(Ior):
    fio_rw = "read"

    def run(self, ws: Workspace, rec: Recorder) -> None:
        fs, layout, transfer, writer = ws.fs, self.layout, self.layout.transfer, ws.neighbour
        path = layout.file(ws, writer)
        fd = fs.open(path, os.O_RDONLY)
        for slot in layout.slots(ws, writer):
            started = perf_counter()
            data = fs.pread(fd, transfer, slot * transfer)
            rec.done("read", started, len(data))
            rec.verify(data, layout.content(writer, slot), f"{path} slot {slot}")
        fs.close(fd)


def _fsync_and_close(fs: FileSystem, fd: int, rec: Recorder) -> None:
    """IOR's -e: the data is on stable storage before the phase ends."""
    started = perf_counter()
    fs.fsync(fd)
    fs.close(fd)
    rec.done("fsync", started, items=0)


# -- random 4 KiB pwrite/pread on a preallocated file per client -------------------------------

PAGE = 4 * KiB
_FILLER = random.Random(PAGE).randbytes(PAGE - 8)


def page_content(offset: int) -> bytes:
    """Every 4 KiB page carries its own offset (as IOR's -G signature does), so the file
    reads the same before and after the random pwrites, and a misplaced page shows."""
    return offset.to_bytes(8, "little") + _FILLER


class RandomPages(Phase):
    family = "random-4k"
    unit = UNIT_OPS

    def __init__(self, ops: int, file_size: int) -> None:
        self.ops = ops
        self.file_size = file_size

    @staticmethod
    def file(ws: Workspace, rank: int) -> str:
        return ws.path("random-4k", f"file.{rank:05d}")

    def expected_items(self, size: int) -> int:
        return size * self.ops

    def offsets(self, seed: int) -> list[int]:
        rng = random.Random(seed)
        pages = self.file_size // PAGE
        return [rng.randrange(pages) * PAGE for _ in range(self.ops)]


class RandomWrite(RandomPages):
    name = "random-4k-pwrite"

    def shared_setup(self, ws: Workspace) -> None:
        ws.fs.mkdir(ws.path("random-4k"))

    def setup(self, ws: Workspace) -> None:
        path = self.file(ws, ws.rank)
        fd = ws.fs.open(path, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o644)
        piece = min(MiB, self.file_size)
        for start in range(0, self.file_size, piece):
            data = b"".join(page_content(offset) for offset in range(start, start + piece, PAGE))
            _write_all(ws.fs, fd, data, path)
        ws.fs.fsync(fd)
        ws.fs.close(fd)

    def run(self, ws: Workspace, rec: Recorder) -> None:
        fs = ws.fs
        fd = fs.open(self.file(ws, ws.rank), os.O_WRONLY)
        for offset in self.offsets(ws.rank):
            data = page_content(offset)
            started = perf_counter()
            fs.pwrite(fd, data, offset)
            rec.done("pwrite", started, PAGE)
        _fsync_and_close(fs, fd, rec)


class RandomRead(RandomPages):
    name = "random-4k-pread"

    def run(self, ws: Workspace, rec: Recorder) -> None:
        fs, path = ws.fs, self.file(ws, ws.neighbour)
        fd = fs.open(path, os.O_RDONLY)
        # Other offsets than the pwrites', so reads do not just follow the writes.
        for offset in self.offsets(ws.size + ws.rank):
            started = perf_counter()
            data = fs.pread(fd, PAGE, offset)
            rec.done("pread", started, len(data))
            rec.verify(data, page_content(offset), f"{path} offset {offset}")
        fs.close(fd)


# -- mdtest: many small files, per-client directories (easy) or one shared one (hard) ------------


@dataclass(frozen=True)
class FileTree:
    """Where mdtest puts client ``rank``'s ``files`` files and what they hold."""

    family: str
    file_size: int
    shared_directory: bool
    files: int

    def top(self, ws: Workspace) -> str:
        return ws.path(self.family)

    def directory(self, ws: Workspace, rank: int) -> str:
        return self.top(ws) if self.shared_directory else ws.path(self.family, f"rank.{rank}")

    def file(self, ws: Workspace, rank: int, index: int) -> str:
        return posixpath.join(self.directory(ws, rank), f"file.{rank}.{index}")

    def content(self, rank: int, index: int) -> bytes:
        return patterns(self.file_size)[(rank + index) % _PATTERNS] if self.file_size else b""

    def entries(self, size: int) -> int:
        """Entries below ``top`` once every client has created its files."""
        return size * self.files + (0 if self.shared_directory else size)


def mdtest_easy(files: int) -> FileTree:
    return FileTree("mdtest-easy", 0, shared_directory=False, files=files)


def mdtest_hard(files: int) -> FileTree:
    # 3901 bytes, as in IO500: smaller than a page and a multiple of no block size.
    return FileTree("mdtest-hard", 3901, shared_directory=True, files=files)


class Mdtest(Phase):
    unit = UNIT_OPS
    operation: str

    def __init__(self, tree: FileTree) -> None:
        self.tree = tree
        self.family = tree.family
        self.name = f"{tree.family}-{self.operation}"

    def expected_items(self, size: int) -> int:
        return size * self.tree.files


class MdtestCreate(Mdtest):
    operation = "create"

    def shared_setup(self, ws: Workspace) -> None:
        ws.fs.mkdir(self.tree.top(ws))

    def setup(self, ws: Workspace) -> None:
        if not self.tree.shared_directory:
            ws.fs.mkdir(self.tree.directory(ws, ws.rank))

    def run(self, ws: Workspace, rec: Recorder) -> None:
        fs, tree, flags = ws.fs, self.tree, os.O_CREAT | os.O_EXCL | os.O_WRONLY
        for index in range(tree.files):
            path, data = tree.file(ws, ws.rank, index), tree.content(ws.rank, index)
            started = perf_counter()
            fd = fs.open(path, flags, 0o644)
            if data:
                _write_all(fs, fd, data, path)
            fs.close(fd)
            rec.done("create", started, len(data))


class MdtestStat(Mdtest):
    operation = "stat"

    def run(self, ws: Workspace, rec: Recorder) -> None:
        fs, tree, writer = ws.fs, self.tree, ws.neighbour
        for index in range(tree.files):
            path = tree.file(ws, writer, index)
            started = perf_counter()
            size = fs.stat(path).st_size
            rec.done("stat", started)
            rec.verify(size, tree.file_size, f"{path} size")


class MdtestRead(Mdtest):
    operation = "read"

    def run(self, ws: Workspace, rec: Recorder) -> None:
        fs, tree, writer = ws.fs, self.tree, ws.neighbour
        # One byte more than written, so a file that grew shows up too.
        length = tree.file_size + 1
        for index in range(tree.files):
            path = tree.file(ws, writer, index)
            started = perf_counter()
            fd = fs.open(path, os.O_RDONLY)
            data = fs.read(fd, length)
            fs.close(fd)
            rec.done("read", started, len(data))
            rec.verify(data, tree.content(writer, index), path)


class MdtestDelete(Mdtest):
    operation = "delete"

    def run(self, ws: Workspace, rec: Recorder) -> None:
        fs, tree, writer = ws.fs, self.tree, ws.neighbour
        for index in range(tree.files):
            started = perf_counter()
            fs.unlink(tree.file(ws, writer, index))
            rec.done("unlink", started)


# -- find: a parallel walk with a stat of every entry over the mdtest trees ----------------------


class Find(Phase):
    """Like IO500's pfind: every client lists the top directories and takes every
    ``size``-th entry of each, walking below it. The entries found across clients must
    add up to what mdtest created, which checks listdir."""

    name = "find"
    family = "find"
    unit = UNIT_OPS

    def __init__(self, trees: Sequence[FileTree]) -> None:
        self.trees = tuple(trees)

    def expected_items(self, size: int) -> int:
        return sum(tree.entries(size) for tree in self.trees)

    def run(self, ws: Workspace, rec: Recorder) -> None:
        for tree in self.trees:
            top = tree.top(ws)
            names = sorted(self._listdir(ws, rec, top))
            for name in names[ws.rank::ws.size]:
                self._visit(ws, rec, posixpath.join(top, name))

    def _listdir(self, ws: Workspace, rec: Recorder, path: str) -> list[str]:
        started = perf_counter()
        names = ws.fs.listdir(path)
        rec.done("listdir", started, items=0)
        return names

    def _visit(self, ws: Workspace, rec: Recorder, path: str) -> None:
        started = perf_counter()
        mode = ws.fs.stat(path).st_mode
        rec.done("stat", started)
        if stat.S_ISDIR(mode):
            for name in self._listdir(ws, rec, path):
                self._visit(ws, rec, posixpath.join(path, name))


# -- the suite -------------------------------------------------------------------------------


def plan(options: BenchOptions) -> list[Phase]:
    """The selected phases in IO500's order: writes and creates, find, then reads, stats
    and deletes (so data is not read straight back), and the random 4 KiB phases last."""
    work = options.workload
    easy, hard = mdtest_easy(work.files), mdtest_hard(work.files)
    trees = [tree for tree in (easy, hard) if tree.family in options.phases]
    ior = [ior_easy(transfer, work.block_size) for transfer in options.transfer_sizes]
    suite: list[Phase] = [
        *(IorWrite(layout) for layout in ior),
        MdtestCreate(easy),
        IorWrite(ior_hard(work.segments)),
        MdtestCreate(hard),
        Find(trees),
        *(IorRead(layout) for layout in ior),
        MdtestStat(easy),
        IorRead(ior_hard(work.segments)),
        MdtestStat(hard),
        MdtestRead(easy),
        MdtestDelete(easy),
        MdtestRead(hard),
        MdtestDelete(hard),
        RandomWrite(work.random_ops, work.block_size),
        RandomRead(work.random_ops, work.block_size),
    ]
    if "fsspec" in options.phases:
        from benchfs.bench import fsspec_phases  # it imports this module

        suite += fsspec_phases.plan(options)
    return [phase for phase in suite if phase.family in options.phases]


# -- around the phases ---------------------------------------------------------------------------


def warm_up(ws: Workspace) -> None:
    """Connect to every server (listdir asks them all) and take each path once before
    anything is timed."""
    ws.fs.listdir(ws.root)
    path = ws.path(f"warm-up.{ws.rank}")
    data = patterns(MiB)[0]
    fd = ws.fs.open(path, os.O_CREAT | os.O_RDWR | os.O_TRUNC, 0o644)
    for _ in range(8):
        _write_all(ws.fs, fd, data, path)
    ws.fs.fsync(fd)
    for index in range(8):
        ws.fs.pread(fd, MiB, index * MiB)
    ws.fs.close(fd)
    ws.fs.stat(path)
    ws.fs.unlink(path)


def remove_tree(fs: FileSystem, path: str) -> None:
    """rm -r with the calls every target has (benchfs has no rmtree of its own)."""
    for name in fs.listdir(path):
        child = posixpath.join(path, name)
        if stat.S_ISDIR(fs.stat(child).st_mode):
            remove_tree(fs, child)
        else:
            fs.unlink(child)
    fs.rmdir(path)
