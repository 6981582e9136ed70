"""The ``fsspec`` family (``--phases fsspec``, needs ``benchfs[fsspec]``): what the data
stack pays for going through ``benchfs://``.

In these phases the benchfs column is the call through fsspec on the cluster and
the os column its reference in the same run:

- ``fsspec-pipe``/``fsspec-cat`` (1 MiB objects), ``fsspec-read`` (one large file per
  client with ``fs.open().read()``), ``fsspec-info`` and ``fsspec-ls`` (a directory of
  ``--files`` entries): the same bytes and entries through the benchfs client itself
  (open/write/read/close, stat, scandir with a stat per entry);
- ``zarr-write``/``zarr-read``: an array of ``--block-size`` bytes per client in 4 MiB
  chunks, on ``benchfs://`` against zarr's LocalStore on the os baseline's disk.
"""

from __future__ import annotations

import os
from time import perf_counter
from typing import Any

from benchfs.bench.measure import UNIT_BANDWIDTH, UNIT_OPS, Recorder
from benchfs.bench.options import BenchOptions, MiB
from benchfs.bench.phases import Phase, Workspace, patterns
from benchfs.bench.report import BENCHFS

FAMILY = "fsspec"
OBJECT = 1 * MiB
ZARR_CHUNK = 4 * MiB


def _file_system(ws: Workspace) -> Any:
    from benchfs.fsspec import BenchFileSystem

    return BenchFileSystem(registry=str(ws.fs.registry))  # type: ignore[attr-defined]


def _direct(ws: Workspace) -> Workspace:
    """Where the reference runs: the benchfs workspace of the same client."""
    assert ws.benchfs_space is not None  # the runner gives the os side its benchfs twin
    return ws.benchfs_space


def _write_file(fs: Any, path: str, data: bytes) -> None:
    fd = fs.open(path, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o644)
    fs.write(fd, data)
    fs.close(fd)


def _read_file(fs: Any, path: str, length: int) -> bytes:
    fd = fs.open(path, os.O_RDONLY)
    data: bytes = fs.read(fd, length + 1)  # one byte more: a grown file shows
    fs.close(fd)
    return data


class FsspecPhase(Phase):
    family = FAMILY
    unit = UNIT_BANDWIDTH

    def __init__(self, count: int) -> None:
        self.count = count

    def expected_items(self, size: int) -> int:
        return size * self.count

    stem: str  # names the directories: phases reading another's files share it

    def directory(self, ws: Workspace, rank: int) -> str:
        """Each client's directory on the cluster, one per column."""
        column = "" if ws.target == BENCHFS else "-direct"
        return _space(ws).path(f"fsspec-{self.stem}{column}.{rank}")

    def shared_setup(self, ws: Workspace) -> None:
        space = _space(ws)
        for rank in range(ws.size):
            space.fs.mkdir(self.directory(ws, rank))


def _space(ws: Workspace) -> Workspace:
    return ws if ws.target == BENCHFS else _direct(ws)


class ObjectsPut(FsspecPhase):
    name, stem = "fsspec-pipe-1MiB", "objects"

    def run(self, ws: Workspace, rec: Recorder) -> None:
        directory = self.directory(ws, ws.rank)
        data = patterns(OBJECT)
        if ws.target == BENCHFS:
            fs = _file_system(ws)
            for index in range(self.count):
                started = perf_counter()
                fs.pipe_file(f"{directory}/{index}", data[index % len(data)])
                rec.done("put", started, OBJECT)
        else:
            client = _direct(ws).fs
            for index in range(self.count):
                started = perf_counter()
                _write_file(client, f"{directory}/{index}", data[index % len(data)])
                rec.done("put", started, OBJECT)


class ObjectsGet(ObjectsPut):
    name = "fsspec-cat-1MiB"

    def shared_setup(self, ws: Workspace) -> None:
        """Reads what fsspec-pipe wrote, on both columns (the reference's own copy)."""

    def run(self, ws: Workspace, rec: Recorder) -> None:
        directory = self.directory(ws, ws.neighbour)
        data = patterns(OBJECT)
        fs = _file_system(ws) if ws.target == BENCHFS else None
        client = _direct(ws).fs if fs is None else None
        for index in range(self.count):
            path = f"{directory}/{index}"
            started = perf_counter()
            got = fs.cat_file(path) if fs is not None else _read_file(client, path, OBJECT)
            rec.done("get", started, len(got))
            rec.verify(got, data[index % len(data)], path)


class LargeRead(FsspecPhase):
    """``fs.open(...).read()`` of one file per client, against one ``read``."""

    name, stem = "fsspec-read", "large"

    def __init__(self, size: int) -> None:
        super().__init__(1)
        self.size = size

    def setup(self, ws: Workspace) -> None:
        client = _space(ws).fs
        fd = client.open(f"{self.directory(ws, ws.rank)}/file", os.O_CREAT | os.O_WRONLY)
        piece = patterns(OBJECT)[0]
        for _ in range(self.size // OBJECT):
            client.write(fd, piece)
        client.fsync(fd)
        client.close(fd)

    def run(self, ws: Workspace, rec: Recorder) -> None:
        path = f"{self.directory(ws, ws.neighbour)}/file"
        started = perf_counter()
        if ws.target == BENCHFS:
            with _file_system(ws).open(path, "rb") as f:
                data = f.read()
        else:
            data = _read_file(_direct(ws).fs, path, self.size)
        rec.done("read", started, len(data))
        rec.verify(len(data), self.size, path)


class EntryPhase(FsspecPhase):
    unit = UNIT_OPS
    stem = "entries"

    def setup(self, ws: Workspace) -> None:
        client = _space(ws).fs
        directory = self.directory(ws, ws.rank)
        for index in range(self.count):
            client.close(client.open(f"{directory}/{index}", os.O_CREAT | os.O_WRONLY, 0o644))


class EntryInfo(EntryPhase):
    name = "fsspec-info"

    def run(self, ws: Workspace, rec: Recorder) -> None:
        directory = self.directory(ws, ws.neighbour)
        stat_one = (_file_system(ws).info if ws.target == BENCHFS else _direct(ws).fs.stat)
        for index in range(self.count):
            started = perf_counter()
            stat_one(f"{directory}/{index}")
            rec.done("stat", started)


class EntryListing(EntryPhase):
    """Every entry with its attributes: ``ls(detail=True)`` against scandir + stat."""

    name = "fsspec-ls"

    def setup(self, ws: Workspace) -> None:
        """Lists fsspec-info's directories."""

    def shared_setup(self, ws: Workspace) -> None:
        """fsspec-info made them."""

    def run(self, ws: Workspace, rec: Recorder) -> None:
        directory = self.directory(ws, ws.neighbour)
        started = perf_counter()
        if ws.target == BENCHFS:
            found = len(_file_system(ws).ls(directory, detail=True))
        else:
            entries = list(_direct(ws).fs.scandir(directory))  # type: ignore[attr-defined]
            found = len([entry.stat() for entry in entries])
        rec.done("list", started, items=found)
        rec.verify(found, self.count, directory)


class ZarrPhase(Phase):
    family = FAMILY
    unit = UNIT_BANDWIDTH

    def __init__(self, size: int) -> None:
        self.chunks = max(1, size // ZARR_CHUNK)

    def expected_items(self, size: int) -> int:
        return size * self.chunks

    def array(self, ws: Workspace, rank: int, mode: str) -> Any:
        import zarr

        rows = ZARR_CHUNK // 8 // 1024  # float64 chunks of rows x 1024: 4 MiB each
        name = f"zarr.{rank}"
        where: dict[str, Any] = (
            {"store": f"benchfs://{ws.path(name)}",
             "storage_options": {"registry": str(ws.fs.registry)}}  # type: ignore[attr-defined]
            if ws.target == BENCHFS else {"store": zarr.storage.LocalStore(ws.path(name))})
        if mode == "r":
            return zarr.open_array(mode=mode, **where)
        return zarr.create_array(shape=(rows * self.chunks, 1024), chunks=(rows, 1024),
                                 dtype="f8", compressors=None, fill_value=0.0, **where)

    @staticmethod
    def block(rank: int, index: int, rows: int) -> Any:
        import numpy

        return numpy.full((rows, 1024), float(rank * 1_000_003 + index))


class ZarrWrite(ZarrPhase):
    name = "zarr-write"

    def run(self, ws: Workspace, rec: Recorder) -> None:
        array = self.array(ws, ws.rank, "w")
        rows = array.chunks[0]
        for index in range(self.chunks):
            data = self.block(ws.rank, index, rows)
            started = perf_counter()
            array[index * rows:(index + 1) * rows] = data
            rec.done("chunk", started, ZARR_CHUNK)


class ZarrRead(ZarrPhase):
    name = "zarr-read"

    def run(self, ws: Workspace, rec: Recorder) -> None:
        array = self.array(ws, ws.neighbour, "r")
        rows = array.chunks[0]
        for index in range(self.chunks):
            started = perf_counter()
            data = array[index * rows:(index + 1) * rows]
            rec.done("chunk", started, ZARR_CHUNK)
            rec.verify(data.tobytes(), self.block(ws.neighbour, index, rows).tobytes(),
                       f"{ws.path(f'zarr.{ws.neighbour}')} chunk {index}")


def plan(options: BenchOptions) -> list[Phase]:
    work = options.workload
    objects = max(1, work.block_size // OBJECT)
    return [ObjectsPut(objects), ObjectsGet(objects), LargeRead(work.block_size),
            EntryInfo(work.files), EntryListing(work.files),
            ZarrWrite(work.block_size), ZarrRead(work.block_size)]
