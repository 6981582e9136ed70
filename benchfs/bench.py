"""`benchfs bench`: a local cluster, a sequential write/read/verify round trip, and the
same I/O through plain ``os`` on the same disk in the same run as the reference."""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchfs._api import connect
from benchfs.cluster import LocalCluster

# Distinct block contents, cycled, so a misplaced block fails verification.
_PATTERNS = 8
QUICK_SIZE = 256 << 20


@dataclass(frozen=True)
class BenchOptions:
    servers: int = 2
    total_size: int = 1 << 30
    block_size: int = 4 << 20
    chunk_size: int = 4 << 20
    transport: str = "sm,tcp"
    data_dir: str | None = None
    quick: bool = False


@dataclass(frozen=True)
class PhaseResult:
    name: str
    seconds: float
    reference_seconds: float
    nbytes: int

    def mib_s(self, seconds: float) -> float:
        return self.nbytes / (1 << 20) / seconds


class FileApi:
    """The handful of os-style calls the round trip needs, from os or a benchfs client."""

    def __init__(self, api: Any) -> None:
        self.open: Callable[..., int] = api.open
        self.write: Callable[[int, bytes], int] = api.write
        self.read: Callable[[int, int], bytes] = api.read
        self.fsync: Callable[[int], None] = api.fsync
        self.close: Callable[[int], None] = api.close


def _write_file(api: FileApi, path: str, blocks: list[bytes], count: int) -> float:
    start = time.perf_counter()
    fd = api.open(path, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o644)
    for index in range(count):
        api.write(fd, blocks[index % len(blocks)])
    api.fsync(fd)
    api.close(fd)
    return time.perf_counter() - start


def _read_file(api: FileApi, path: str, blocks: list[bytes], count: int) -> float:
    block_size = len(blocks[0])
    start = time.perf_counter()
    fd = api.open(path, os.O_RDONLY)
    for index in range(count):
        if api.read(fd, block_size) != blocks[index % len(blocks)]:
            raise RuntimeError(f"verification failed at block {index} of {path}")
    if api.read(fd, block_size):
        raise RuntimeError(f"{path} is longer than written")
    api.close(fd)
    return time.perf_counter() - start


def run_bench(options: BenchOptions) -> int:
    total = QUICK_SIZE if options.quick else options.total_size
    count = max(1, total // options.block_size)
    nbytes = count * options.block_size
    blocks = [os.urandom(options.block_size) for _ in range(_PATTERNS)]
    with tempfile.TemporaryDirectory(prefix="benchfs-bench-", dir=options.data_dir) as root:
        cluster = LocalCluster(Path(root) / "cluster")
        cluster.up(options.servers, options.chunk_size, options.transport)
        try:
            with connect(cluster.registry) as client:
                bfs, local = FileApi(client), FileApi(os)
                reference = os.path.join(root, "reference.dat")
                results = [
                    PhaseResult("write", _write_file(bfs, "/bench.dat", blocks, count),
                                _write_file(local, reference, blocks, count), nbytes),
                    PhaseResult("read+verify", _read_file(bfs, "/bench.dat", blocks, count),
                                _read_file(local, reference, blocks, count), nbytes),
                ]
        finally:
            cluster.down()
    _print_table(options, nbytes, results)
    return 0


def _print_table(options: BenchOptions, nbytes: int, results: list[PhaseResult]) -> None:
    print(f"benchfs bench: {options.servers} servers, UCX_TLS={options.transport}, "
          f"{nbytes >> 20} MiB file, {options.block_size >> 10} KiB blocks, "
          f"{options.chunk_size >> 10} KiB chunks")
    print(f"{'phase':<14}{'benchfs MiB/s':>15}{'os MiB/s':>12}{'ratio':>8}")
    for result in results:
        ours, theirs = result.mib_s(result.seconds), result.mib_s(result.reference_seconds)
        print(f"{result.name:<14}{ours:>15.1f}{theirs:>12.1f}{ours / theirs:>8.2f}")
    print("verification: every block read back byte-identical")
