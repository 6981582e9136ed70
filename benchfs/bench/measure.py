"""Timing inside a phase, and the figures made of it.

Each client times its own ops; a phase's time is the slowest client's (IOR's stonewall
view), and latency percentiles are taken over every client's samples together.
"""

from __future__ import annotations

import math
import os
from array import array
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from time import perf_counter
from typing import Protocol

from benchfs.bench.options import MiB
from benchfs.registry import read_cluster_config, read_servers

UNIT_BANDWIDTH = "MiB/s"
UNIT_OPS = "ops/s"


class BenchError(RuntimeError):
    """A run that cannot produce trustworthy figures."""


class VerificationError(BenchError):
    """Data or a directory listing read back differs from what the run wrote."""


class Progress(Protocol):
    """A progress bar (tqdm's interface)."""

    def update(self, n: float | None = 1) -> bool | None: ...
    def close(self) -> None: ...


@dataclass
class RankResult:
    """What one client measured in one phase; sent from the client to whoever reports."""

    seconds: float
    nbytes: int
    items: int
    verified: int
    latencies: dict[str, array[float]]
    # CPU-seconds the local servers used during the phase: sampled by client 0 only.
    server_cpu: float | None = None


class Recorder:
    """Per-op latencies and counters of one client in one phase.

    Callers time an op as ``t = perf_counter(); op(); recorder.done("write", t, n)``:
    a context manager would add more overhead than a 4 KiB pread on the os baseline takes.
    """

    def __init__(self, progress: Progress | None = None) -> None:
        self._progress = progress
        self._latencies: defaultdict[str, array[float]] = defaultdict(lambda: array("d"))
        self._start = perf_counter()
        self._excluded = 0.0
        self.nbytes = 0
        self.items = 0
        self.verified = 0

    def start(self) -> None:
        self._start = perf_counter()

    def done(self, op: str, started: float, nbytes: int = 0, items: int = 1) -> None:
        self._latencies[op].append(perf_counter() - started)
        self.nbytes += nbytes
        self.items += items
        if self._progress is not None and items:
            self._progress.update(items)

    def verify(self, actual: bytes | int, expected: bytes | int, where: str) -> None:
        """Compare what was read with what was written (contents or a size), outside the
        phase's time: fio, the reference, verifies nothing."""
        started = perf_counter()
        if actual != expected:
            raise VerificationError(f"{where}: read {_brief(actual)}, wrote {_brief(expected)}")
        self.verified += 1
        self._excluded += perf_counter() - started

    def finish(self) -> RankResult:
        seconds = perf_counter() - self._start - self._excluded
        return RankResult(seconds, self.nbytes, self.items, self.verified, dict(self._latencies))


def _brief(value: bytes | int) -> str:
    return f"{len(value)} bytes {value[:8].hex()}..." if isinstance(value, bytes) else str(value)


@dataclass(frozen=True)
class Latency:
    count: int
    mean_us: float
    p50_us: float
    p99_us: float

    @classmethod
    def of(cls, samples: Sequence[float]) -> Latency:
        ordered = sorted(samples)
        return cls(len(ordered), sum(ordered) / len(ordered) * 1e6,
                   _percentile(ordered, 50) * 1e6, _percentile(ordered, 99) * 1e6)


def _percentile(ordered: Sequence[float], percent: float) -> float:
    """Nearest-rank percentile, as fio and IOR report them."""
    return ordered[max(0, math.ceil(percent / 100 * len(ordered)) - 1)]


@dataclass(frozen=True)
class Measurement:
    """One phase on one target (benchfs, os or fio), all clients together."""

    value: float  # in the phase's unit
    seconds: float
    nbytes: int
    items: int
    verified: int = 0
    latency: dict[str, Latency] = field(default_factory=dict)
    server_cpu_s: float | None = None


def rate(unit: str, nbytes: int, items: int, seconds: float) -> float:
    amount = nbytes / MiB if unit == UNIT_BANDWIDTH else items
    return amount / seconds if seconds > 0 else math.inf


def aggregate(unit: str, results: Sequence[RankResult]) -> Measurement:
    seconds = max(result.seconds for result in results)
    nbytes = sum(result.nbytes for result in results)
    items = sum(result.items for result in results)
    samples: defaultdict[str, list[float]] = defaultdict(list)
    for result in results:
        for op, values in result.latencies.items():
            samples[op].extend(values)
    cpu = [result.server_cpu for result in results if result.server_cpu is not None]
    return Measurement(
        value=rate(unit, nbytes, items, seconds), seconds=seconds, nbytes=nbytes, items=items,
        verified=sum(result.verified for result in results),
        latency={op: Latency.of(values) for op, values in samples.items()},
        server_cpu_s=sum(cpu) if cpu else None,
    )


# -- server CPU ------------------------------------------------------------------------

_TICKS = os.sysconf("SC_CLK_TCK")


def local_server_pids(registry: str | Path) -> list[int]:
    """Pids of the cluster's servers that run on this host (others cannot be sampled)."""
    registry = Path(registry)
    entries = read_servers(registry, read_cluster_config(registry).servers)
    pids = []
    for entry in entries.values():
        try:
            command = Path(f"/proc/{entry.pid}/cmdline").read_bytes()
        except OSError:
            continue
        # The pid must be a benchfs server here, not an unrelated process that
        # happens to have the pid a server has on another node.
        if b"benchfs" in command and b"serve" in command:
            pids.append(entry.pid)
    return pids


def cpu_seconds(pids: Iterable[int]) -> float:
    """User + system CPU time of these processes so far (0 for one that is gone)."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14, 15)
    return total / _TICKS
