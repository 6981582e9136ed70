"""What a benchmark run does: the phase families, the sizes, the cluster it runs against."""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass

from benchfs.config import check_all
from benchfs.settings import DEFAULT_DIRECT_MIN

KiB = 1 << 10
MiB = 1 << 20
GiB = 1 << 30

# Families as IO500 names them, plus the random 4 KiB pread/pwrite of the issue.
# `--phases` selects families; each expands into its write/read/... phases.
FAMILIES = ("ior-easy", "ior-hard", "random-4k", "mdtest-easy", "mdtest-hard", "find")
# Selected only by name (`--phases ...,NAME`): what the data stack pays through benchfs://
# (benchfs[fsspec]), and staging a tree in and out (bench/stage.py).
OPTIONAL_FAMILIES = ("fsspec", "stage")
DEFAULT_TRANSFER_SIZES = (1 * MiB, 4 * MiB)


class OptionsError(ValueError):
    """A combination of knobs that cannot run."""


@dataclass(frozen=True)
class Workload:
    """The sizes `--quick` and a full run differ in; every one can be set on its own."""

    block_size: int  # ior-easy bytes per client and file; also the random-4k file size
    segments: int  # ior-hard transfers per client
    files: int  # mdtest files per client, in each of mdtest-easy and mdtest-hard
    random_ops: int  # random-4k pwrites, then preads, per client
    idle_seconds: float  # how long idle server CPU is sampled before the phases
    stage_files: int = 10_000  # stage: small files of the staged tree
    stage_large_size: int = 1 * GiB  # stage: and each of its 4 large files


QUICK = Workload(block_size=128 * MiB, segments=2000, files=2000, random_ops=2000,
                 idle_seconds=1.0, stage_files=1000, stage_large_size=64 * MiB)
FULL = Workload(block_size=1 * GiB, segments=20000, files=20000, random_ops=20000,
                idle_seconds=3.0)


@dataclass(frozen=True)
class BenchOptions:
    servers: int = 2
    clients: int = 2
    chunk_size: int = 4 * MiB
    transfer_sizes: tuple[int, ...] = DEFAULT_TRANSFER_SIZES
    workload: Workload = FULL
    transport: str = "sm,tcp"
    direct_min: int = DEFAULT_DIRECT_MIN  # of the started cluster's servers (serve --direct-min)
    data_dir: str | None = None
    phases: tuple[str, ...] = FAMILIES
    quick: bool = False
    registry: str | None = None
    mount: str | None = None  # also run every phase with plain os on this FUSE mount
    json_path: str | None = None
    plot_path: str | None = None

    def validate(self) -> None:
        """Fail before any server starts, with a message naming the knob."""
        if self.servers < 1 or self.clients < 1:
            raise OptionsError("--servers and --clients must be at least 1")
        # The started cluster's own settings, by the rules every cluster follows.
        check_all(chunk_size=self.chunk_size, transport=self.transport,
                  direct_min=self.direct_min)
        unknown = [name for name in self.phases if name not in FAMILIES + OPTIONAL_FAMILIES]
        if unknown or not self.phases:
            raise OptionsError(f"unknown phases {unknown}; choose from "
                               f"{', '.join(FAMILIES + OPTIONAL_FAMILIES)}")
        if "fsspec" in self.phases and not all(
                importlib.util.find_spec(name) for name in ("fsspec", "zarr")):
            raise OptionsError("--phases fsspec needs fsspec and zarr: "
                               "pip install 'benchfs[fsspec]'")
        if "find" in self.phases and not {"mdtest-easy", "mdtest-hard"} & set(self.phases):
            raise OptionsError("find walks the tree the mdtest phases create: "
                               "add mdtest-easy or mdtest-hard to --phases")
        block = self.workload.block_size
        for transfer in self.transfer_sizes:
            if transfer <= 0 or block % transfer:
                raise OptionsError(f"--block-size {block} is not a multiple of "
                                   f"--transfer-size {transfer}")
        if block % (4 * KiB):
            raise OptionsError("--block-size must be a multiple of 4 KiB (random-4k uses it)")
        work = self.workload
        if min(work.segments, work.files, work.random_ops, work.stage_files) < 1:
            raise OptionsError("--segments, --files, --random-ops and --stage-files must be "
                               "at least 1")
        if self.mount and self.registry:
            from benchfs.fuse.mount import mounted_points

            if self.mount not in mounted_points():
                raise OptionsError(f"--mount {self.mount} is not mounted: mount the cluster "
                                   f"first (benchfs mount {self.mount} --registry ...)")
        if self.plot_path and importlib.util.find_spec("matplotlib") is None:
            raise OptionsError("--plot needs matplotlib: pip install 'benchfs[bench]'")


def size_text(size: int) -> str:
    """4194304 -> '4MiB', 47008 -> '47008B': exact, for phase names and tables."""
    for unit, scale in (("GiB", GiB), ("MiB", MiB), ("KiB", KiB)):
        if size >= scale and size % scale == 0:
            return f"{size // scale}{unit}"
    return f"{size}B"
