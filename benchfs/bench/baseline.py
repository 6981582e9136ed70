"""The references measured in the same run (DESIGN §4: never bare absolute figures).

- plain ``os`` on the disk that holds the servers' data: the clients run every phase a
  second time against a directory there (see ``runner``);
- fio with io_uring and O_DIRECT, where fio is installed, for ior-easy: what the disk
  itself gives to the same number of sequential streams, without the page cache.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchfs.bench.measure import Latency, Measurement
from benchfs.bench.options import MiB
from benchfs.bench.phases import Ior, IorWrite, Phase


@dataclass(frozen=True)
class FioOutcome:
    results: dict[str, Measurement] = field(default_factory=dict)  # by phase name
    note: str | None = None  # why figures are missing, when some are


def disk_of(path: str | Path) -> str:
    """'ext4 on /dev/vda': the mount that holds ``path``, for the report."""
    target = os.path.realpath(path)
    best = ("", "unknown", "unknown")
    with open("/proc/self/mounts") as mounts:
        for line in mounts:
            device, mount_point, fstype = line.split()[:3]
            inside = target == mount_point or target.startswith(mount_point.rstrip("/") + "/")
            if inside and len(mount_point) >= len(best[0]):
                best = (mount_point, fstype, device)
    return f"{best[1]} on {best[2]}"


def fio_version() -> str | None:
    fio = shutil.which("fio")
    if fio is None:
        return None
    return subprocess.run([fio, "--version"], capture_output=True, text=True).stdout.strip()


def run_fio(phases: Sequence[Phase], directory: Path, jobs: int) -> FioOutcome:
    """fio's figure for each ior-easy phase: ``jobs`` streams, one file each, the same
    transfer and block size, queue depth 1 like a client's synchronous calls."""
    easy = [phase for phase in phases if isinstance(phase, Ior) and not phase.layout.shared_file]
    if not easy:
        return FioOutcome()
    fio = shutil.which("fio")
    if fio is None:
        return FioOutcome(note="fio is not installed: no O_DIRECT baseline")
    directory.mkdir(parents=True, exist_ok=True)
    results: dict[str, Measurement] = {}
    try:
        for phase in easy:
            layout = phase.layout
            command = [
                fio, f"--name={phase.name}", f"--directory={directory}",
                # One name for the write and read jobs, so reads find the written files.
                f"--filename_format=ior-easy{layout.label}.$jobnum",
                f"--rw={phase.fio_rw}", f"--bs={layout.transfer}",
                f"--size={layout.transfer * layout.per_client}",
                f"--numjobs={jobs}", "--ioengine=io_uring", "--direct=1", "--iodepth=1",
                "--group_reporting", "--lat_percentiles=1", "--output-format=json",
            ]
            if isinstance(phase, IorWrite):
                command.append("--end_fsync=1")  # ior-easy fsyncs before close too
            done = subprocess.run(command, capture_output=True, text=True)
            if done.returncode != 0:
                reason = (done.stderr or done.stdout).strip().splitlines()[-1:]
                return FioOutcome(results, f"fio failed on {phase.name}: {' '.join(reason)}")
            results[phase.name] = parse_fio(done.stdout, phase.fio_rw)
    finally:
        shutil.rmtree(directory, ignore_errors=True)
    return FioOutcome(results)


def parse_fio(output: str, rw: str) -> Measurement:
    """The group-reported figures of ``fio --output-format=json --group_reporting``."""
    # fio may print warnings before the JSON document.
    document: dict[str, Any] = json.loads(output[output.index("{"):])
    job = document["jobs"][0][rw]
    latency = job["lat_ns"]
    percentiles = latency["percentile"]
    seconds = job["runtime"] / 1e3
    return Measurement(
        value=job["bw_bytes"] / MiB, seconds=seconds, nbytes=int(job["io_bytes"]),
        items=int(latency["N"]),
        latency={rw: Latency(count=int(latency["N"]), mean_us=latency["mean"] / 1e3,
                             p50_us=percentiles["50.000000"] / 1e3,
                             p99_us=percentiles["99.000000"] / 1e3)},
    )
