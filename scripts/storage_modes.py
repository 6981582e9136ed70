"""Compare the servers' chunk storage modes in one run (docs/operations.md).

One server and one client in this process over ``sm,tcp``, each mode on a fresh local
cluster under DIR: 1 GiB in 4 MiB writes + fsync, read back in 4 MiB reads, then
5000 random 4 KiB preads of a fresh 256 MiB file written in 1 MiB writes. fio with
O_DIRECT at queue depth 1 on the same disk runs before each round as the reference.

    .venv/bin/python scripts/storage_modes.py [DIR] [--rounds N]
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import subprocess
import time
from pathlib import Path

import benchfs
from benchfs.bench.baseline import parse_fio
from benchfs.cluster import LocalCluster
from benchfs.settings import DEFAULT_DIRECT_MIN

MiB = 1 << 20
# name -> (o_direct, direct_min) of the servers
MODES: dict[str, tuple[bool, int]] = {
    "hybrid (default)": (False, DEFAULT_DIRECT_MIN),
    "--o-direct": (True, DEFAULT_DIRECT_MIN),
    "--direct-min 0 (buffered)": (False, 0),
}


def fio(base: Path, rw: str) -> float:
    done = subprocess.run(
        ["fio", "--name=ref", f"--filename={base / 'fio'}", "--size=1G", "--bs=4M", f"--rw={rw}",
         "--ioengine=io_uring", "--direct=1", "--iodepth=1", "--lat_percentiles=1",
         "--output-format=json"],
        capture_output=True, text=True, check=True).stdout
    return parse_fio(done, rw).value


def one_mode(root: Path, o_direct: bool, direct_min: int) -> tuple[float, float, float, float]:
    cluster = LocalCluster(root)
    cluster.up(1, transport="sm,tcp", o_direct=o_direct, direct_min=direct_min)
    try:
        with benchfs.connect(cluster.registry) as fs:
            block, total = os.urandom(4 * MiB), 1 << 30
            fd = fs.open("/seq", os.O_CREAT | os.O_WRONLY)
            started = time.perf_counter()
            for _ in range(total // len(block)):
                fs.write(fd, block)
            fs.fsync(fd)
            write = total / MiB / (time.perf_counter() - started)
            fs.close(fd)
            fd = fs.open("/seq", os.O_RDONLY)
            started = time.perf_counter()
            for _ in range(total // len(block)):
                fs.read(fd, len(block))
            read = total / MiB / (time.perf_counter() - started)
            fs.close(fd)
            fd = fs.open("/random", os.O_CREAT | os.O_RDWR)
            piece = os.urandom(MiB)
            for _ in range(256):
                fs.write(fd, piece)
            fs.fsync(fd)
            rng = random.Random(1)
            latencies = []
            for _ in range(5000):
                offset = rng.randrange(256 * MiB // 4096) * 4096
                started = time.perf_counter()
                fs.pread(fd, 4096, offset)
                latencies.append(time.perf_counter() - started)
            fs.close(fd)
    finally:
        cluster.down()
    latencies.sort()
    return write, read, len(latencies) / sum(latencies), latencies[len(latencies) // 2] * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dir", nargs="?", default="/tmp/benchfs-storage-modes")
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    base = Path(args.dir)
    shutil.rmtree(base, ignore_errors=True)
    base.mkdir(parents=True)
    rows: dict[str, list[str]] = {}
    for round_ in range(args.rounds):
        write, read = fio(base, "write"), fio(base, "read")
        (base / "fio").unlink()
        rows.setdefault("fio --direct=1, 4 MiB, QD 1", []).append(f"{write:.0f} / {read:.0f}")
        for index, (name, (o_direct, direct_min)) in enumerate(MODES.items()):
            w, r, iops, p50 = one_mode(base / f"{round_}-{index}", o_direct, direct_min)
            rows.setdefault(name, []).append(
                f"{w:.0f} / {r:.0f} MiB/s, {iops / 1000:.1f} k IOPS, p50 {p50:.0f} µs")
    for name, cells in rows.items():
        print(f"{name:28s} " + " | ".join(cells))


if __name__ == "__main__":
    main()
