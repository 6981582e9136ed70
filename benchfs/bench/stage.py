"""The ``stage`` phase: getting a tree in and out of benchfs, against ``cp -a``.

Not a per-client phase like the others: the staging tools start their own processes, so
this runs once, from the process that reports, with the cluster up and idle. A source
tree of many small files and four large ones is written on the data disk; then, each
timed on its own:

- ``cp -a`` of the tree between two local directories, then ``sync`` (the staging tools
  fsync every file before marking it complete, so both end with the data on disk): the
  ``os`` figure of every stage row;
- ``benchfs stage-in`` and ``stage-out`` of the same tree with 1 and with 2 workers;
- one large file: ``benchfs cp`` to benchfs against ``benchfs.write`` of the same bytes
  (the "cp-large" and "write-large" rows, each with plain os beside it).
"""

from __future__ import annotations

import os
import random
import shutil
import subprocess
import sys
import time
from pathlib import Path

from loguru import logger

from benchfs._api import connect
from benchfs.bench.measure import UNIT_BANDWIDTH, BenchError, Measurement, rate
from benchfs.bench.options import BenchOptions, MiB
from benchfs.bench.report import BENCHFS, OS, PhaseReport
from benchfs.tools.paths import FileSystem

STAGE = "stage"
LARGE_FILES = 4
SMALL_MAX = 16 << 10  # small files are 0..16 KiB
PER_DIRECTORY = 100
WORKERS = (1, 2)
WRITE_BLOCK = 16 * MiB


def _make_tree(root: Path, files: int, large_size: int) -> tuple[int, int]:
    """(files, bytes) of the source tree, written untimed."""
    rng = random.Random(16)
    block = rng.randbytes(MiB)
    total = 0
    for index in range(files):
        directory = root / f"d{index // PER_DIRECTORY:04d}"
        directory.mkdir(parents=True, exist_ok=True)
        size = rng.randrange(SMALL_MAX)
        (directory / f"f{index:06d}").write_bytes(block[:size])
        total += size
    for index in range(LARGE_FILES):
        with open(root / f"large{index}", "wb") as handle:
            for offset in range(0, large_size, MiB):
                handle.write(block[:min(MiB, large_size - offset)])
        total += large_size
    return files + LARGE_FILES, total


def _timed(command: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, text=True,
                          stdin=subprocess.DEVNULL)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise BenchError(f"{' '.join(command)} failed ({done.returncode}):\n{done.stderr}")
    return seconds


def _measure(seconds: float, nbytes: int, items: int) -> Measurement:
    return Measurement(rate(UNIT_BANDWIDTH, nbytes, items, seconds), seconds, nbytes, items)


def _phase(name: str, items: int, **results: Measurement) -> PhaseReport:
    return PhaseReport(name, STAGE, UNIT_BANDWIDTH, items, dict(results))


def _benchfs(*arguments: str) -> list[str]:
    return [sys.executable, "-m", "benchfs", *arguments]


def _timed_write(fs: FileSystem, source: Path, target: str) -> float:
    """Writing the file's bytes (read beforehand) in the copy's block size, then close
    (pwrite at the running offset: the same transfers as write)."""
    data = source.read_bytes()
    view = memoryview(data)
    started = time.perf_counter()
    fd = fs.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    for offset in range(0, len(data), WRITE_BLOCK):
        fs.pwrite(fd, view[offset:offset + WRITE_BLOCK], offset)
    fs.close(fd)
    seconds = time.perf_counter() - started
    fs.unlink(target)
    return seconds


def run_stage_phase(options: BenchOptions, registry: str, scratch: Path, run_id: str,
                    ucx_env: dict[str, str]) -> list[PhaseReport]:
    work = options.workload
    env = {**os.environ, **ucx_env, "BENCHFS_REGISTRY": registry}
    root = scratch / "stage"
    source = root / "source"
    items, nbytes = _make_tree(source, work.stage_files, work.stage_large_size)
    os.sync()
    logger.info("stage: cp -a of {} files, {:.0f} MiB", items, nbytes / MiB)
    reference = _timed(["sh", "-c", 'cp -a "$0" "$1" && sync', str(source),
                        str(root / "cp-a")], env)
    shutil.rmtree(root / "cp-a")
    os.sync()
    cp_a = _measure(reference, nbytes, items)
    phases = []
    for workers in WORKERS:
        remote = f"/{run_id}-stage-{workers}"
        back = root / f"back-{workers}"
        count = ["--workers", str(workers)]
        logger.info("stage: stage-in and stage-out with {} worker(s)", workers)
        seconds_in = _timed(_benchfs("stage-in", str(source), remote, *count, "--no-progress"), env)
        os.sync()
        seconds_out = _timed(_benchfs("stage-out", f"bfs:{remote}", str(back), *count,
                                          "--no-progress"), env)
        _check_copy(source, back, items)
        _timed(_benchfs("rm", "-r", f"bfs:{remote}"), env)
        shutil.rmtree(back)
        os.sync()
        phases += [_phase(f"stage-in-{workers}w", items,
                          **{BENCHFS: _measure(seconds_in, nbytes, items), OS: cp_a}),
                   _phase(f"stage-out-{workers}w", items,
                          **{BENCHFS: _measure(seconds_out, nbytes, items), OS: cp_a})]
    large = source / "large0"
    size = large.stat().st_size
    logger.info("stage: one {:.0f} MiB file: benchfs cp and benchfs.write", size / MiB)
    copy = _timed(_benchfs("cp", str(large), f"bfs:/{run_id}-cp-large", "--no-progress"), env)
    _timed(_benchfs("rm", f"bfs:/{run_id}-cp-large"), env)
    local_copy = _timed(["cp", str(large), str(root / "cp-large")], env)
    with connect(registry) as client:
        write = _timed_write(client, large, f"/{run_id}-write-large")
    local_write = _timed_write(os, large, str(root / "write-large"))
    phases += [
        _phase("cp-large", 1, **{BENCHFS: _measure(copy, size, 1),
                                 OS: _measure(local_copy, size, 1)}),
        _phase("write-large", 1, **{BENCHFS: _measure(write, size, 1),
                                    OS: _measure(local_write, size, 1)}),
    ]
    logger.info("stage: benchfs cp / benchfs.write = {:.2f}", write / copy)
    shutil.rmtree(root)
    return phases


def _check_copy(source: Path, back: Path, items: int) -> None:
    """A cheap check that the round trip brought every file back at its size."""
    sizes = {}
    for directory, _, files in os.walk(source):
        for name in files:
            path = Path(directory) / name
            sizes[path.relative_to(source)] = path.stat().st_size
    copied = {}
    for directory, _, files in os.walk(back):
        for name in files:
            path = Path(directory) / name
            copied[path.relative_to(back)] = path.stat().st_size
    if copied != sizes or len(sizes) != items:
        raise BenchError(f"stage round trip: {len(copied)} files came back of {items}, "
                         "or sizes differ")
