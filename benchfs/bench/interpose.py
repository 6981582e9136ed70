"""``benchfs bench --interpose``: what interposition costs, in one process and one run.

Outside the prefix, the same local calls with interposition active and without (their
ratio is the overhead every unrouted call pays). Inside, the same work through Python's
own functions under the prefix and through the drop-in API (``benchfs.open/read/...``)
directly. Each pair alternates, round by round, so both sides see the same machine state;
a side's figure is its median round.
"""

from __future__ import annotations

import json
import os
import statistics
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from loguru import logger

import benchfs
from benchfs.bench.measure import UNIT_BANDWIDTH
from benchfs.bench.options import BenchOptions, KiB, MiB
from benchfs.registry import read_cluster_config

PREFIX = "/bfs-bench"
ROUNDS = 5
UNIT_TIME = "µs/op"


@dataclass(frozen=True)
class Pair:
    """One measurement: ``subject`` against ``baseline``, and the issue's goal for it."""

    name: str
    unit: str  # UNIT_TIME (lower is better) or UNIT_BANDWIDTH (higher is better)
    subject: str
    baseline: str
    goal: float  # the ratio subject/baseline must stay within (times: at most; MiB/s: at least)
    subject_value: float = 0.0
    baseline_value: float = 0.0

    @property
    def ratio(self) -> float:
        return self.subject_value / self.baseline_value if self.baseline_value else float("nan")

    @property
    def meets_goal(self) -> bool:
        return self.ratio <= self.goal if self.unit == UNIT_TIME else self.ratio >= self.goal


# One side of a pair: runs ``count`` operations (or ``count`` MiB) and returns.
Work = Callable[[int], None]


class Workloads:
    """The files and the operations of every pair."""

    def __init__(self, local_dir: Path, ops: int, stream_bytes: int) -> None:
        self.ops = ops
        self.stream_mib = max(1, stream_bytes // MiB)
        self.local = local_dir / "local-4k"
        self.local.write_bytes(os.urandom(4 * KiB))
        self.inside = "/small-4k"  # benchfs's name; PREFIX + inside through interposition
        fd = benchfs.open(self.inside, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o644)
        benchfs.write(fd, os.urandom(4 * KiB))
        benchfs.close(fd)
        self.stream = "/stream"
        self.block = os.urandom(MiB)

    def stat_local(self, count: int) -> None:
        path = str(self.local)
        for _ in range(count):
            os.stat(path)

    def open_read_close_local(self, count: int) -> None:
        path = str(self.local)
        for _ in range(count):
            with open(path, "rb") as file:
                file.read()

    def open_read_inside(self, count: int) -> None:
        path = PREFIX + self.inside
        for _ in range(count):
            with open(path, "rb") as file:
                file.read()

    def open_read_dropin(self, count: int) -> None:
        for _ in range(count):
            fd = benchfs.open(self.inside, os.O_RDONLY)
            benchfs.read(fd, 4 * KiB + 1)  # + 1: to the end, as read() does
            benchfs.close(fd)

    def path_stat_inside(self, count: int) -> None:
        path = Path(PREFIX + self.inside)
        for _ in range(count):
            path.stat()

    def stat_dropin(self, count: int) -> None:
        for _ in range(count):
            benchfs.stat(self.inside)

    def write_file_object(self, mib: int) -> None:
        with open(PREFIX + self.stream, "wb") as file:
            for _ in range(mib):
                file.write(self.block)

    def write_dropin(self, mib: int) -> None:
        fd = benchfs.open(self.stream, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o644)
        for _ in range(mib):
            benchfs.write(fd, self.block)
        benchfs.close(fd)

    def read_file_object(self, mib: int) -> None:
        with open(PREFIX + self.stream, "rb") as file:
            for _ in range(mib):
                if len(file.read(MiB)) != MiB:
                    raise OSError(f"{PREFIX}{self.stream}: short read")

    def read_dropin(self, mib: int) -> None:
        fd = benchfs.open(self.stream, os.O_RDONLY)
        for _ in range(mib):
            if len(benchfs.read(fd, MiB)) != MiB:
                raise OSError(f"{self.stream}: short read")
        benchfs.close(fd)


@dataclass(frozen=True)
class Side:
    work: Work
    interposed: bool  # whether interposition is active while it runs


def _pairs(w: Workloads) -> list[tuple[Pair, Side, Side, int]]:
    """(pair, subject, baseline, how much each round does)."""
    ops, mib = w.ops, w.stream_mib
    return [
        (Pair("outside os.stat", UNIT_TIME, "interposed", "plain", 1.2),
         Side(w.stat_local, True), Side(w.stat_local, False), ops),
        (Pair("outside open+read+close", UNIT_TIME, "interposed", "plain", 1.2),
         Side(w.open_read_close_local, True), Side(w.open_read_close_local, False), ops),
        (Pair("inside open().read() 4KiB", UNIT_TIME, "open()", "benchfs.open/read", 1.3),
         Side(w.open_read_inside, True), Side(w.open_read_dropin, True), ops),
        (Pair("inside Path.stat()", UNIT_TIME, "Path.stat", "benchfs.stat", 1.3),
         Side(w.path_stat_inside, True), Side(w.stat_dropin, True), ops),
        # Writes first: the reads read the file they wrote.
        (Pair("inside write 1MiB", UNIT_BANDWIDTH, "file object", "benchfs.write", 0.9),
         Side(w.write_file_object, True), Side(w.write_dropin, True), mib),
        (Pair("inside read 1MiB", UNIT_BANDWIDTH, "file object", "benchfs.read", 0.9),
         Side(w.read_file_object, True), Side(w.read_dropin, True), mib),
    ]


class Interposition:
    """Interposition of PREFIX, started and stopped around each interposed side of the
    outside pairs (whose calls need no client), and held across the inside pairs: stopping
    closes the prefix's client, and no round should pay for connecting again."""

    def __init__(self, registry: str) -> None:
        from benchfs.interpose import interpose

        self._interposer = interpose(PREFIX, registry=registry)

    @contextmanager
    def active(self, active: bool) -> Iterator[None]:
        if not active or self._interposer.active:
            yield
            return
        self._interposer.start()
        try:
            yield
        finally:
            self._interposer.stop()

    @contextmanager
    def held(self) -> Iterator[None]:
        with self.active(True):
            yield


def _figure(unit: str, amount: int, seconds: float) -> float:
    return amount / seconds if unit == UNIT_BANDWIDTH else seconds / amount * 1e6


def measure(pair: Pair, subject: Side, baseline: Side, amount: int,
            interposition: Interposition, rounds: int = ROUNDS) -> Pair:
    figures: dict[bool, list[float]] = {True: [], False: []}
    for side in (subject, baseline):  # untimed: caches, connections, first-use imports
        with interposition.active(side.interposed):
            side.work(max(1, amount // 10))
    for _ in range(rounds):
        for is_subject, side in ((False, baseline), (True, subject)):
            with interposition.active(side.interposed):
                started = time.perf_counter()
                side.work(amount)
                figures[is_subject].append(_figure(pair.unit, amount,
                                                   time.perf_counter() - started))
    measured = Pair(**{**asdict(pair), "subject_value": statistics.median(figures[True]),
                       "baseline_value": statistics.median(figures[False])})
    logger.info("{}: {:.3g} against {:.3g} {} ({:.2f}x)", pair.name, measured.subject_value,
                measured.baseline_value, pair.unit, measured.ratio)
    return measured


def format_table(pairs: list[Pair], config: dict[str, Any]) -> str:
    lines = [f"benchfs bench --interpose: {config['servers']} servers, {config['ops']} ops and "
             f"{config['stream_mib']} MiB per round, median of {config['rounds']} rounds",
             "",
             f"{'measurement':<28}{'unit':>7}{'subject':>14}{'value':>10}{'baseline':>19}"
             f"{'value':>10}{'ratio':>8}{'goal':>8}"]
    for pair in pairs:
        goal = f"{'<=' if pair.unit == UNIT_TIME else '>='}{pair.goal}"
        lines.append(f"{pair.name:<28}{pair.unit:>7}{pair.subject:>14}"
                     f"{pair.subject_value:>10.3g}{pair.baseline:>19}{pair.baseline_value:>10.3g}"
                     f"{pair.ratio:>7.2f}x{goal:>8}{'' if pair.meets_goal else '  missed'}")
    lines += ["", "ratio = subject / baseline of this run: for µs/op lower is better, "
                  "for MiB/s higher is better"]
    return "\n".join(lines)


def run_interpose_bench(options: BenchOptions) -> int:
    """Start a cluster unless --registry, measure every pair, print the table."""
    from benchfs.bench.runner import _prepared as prepared  # its cluster and scratch dir

    work = options.workload
    with prepared(options) as ready:
        registry = str(ready.registry)
        if ready.started_cluster:
            os.environ["UCX_TLS"] = options.transport
        # The drop-in side uses the default client, as ``import benchfs as os`` does.
        os.environ["BENCHFS_REGISTRY"] = registry
        benchfs.disconnect()
        try:
            workloads = Workloads(ready.baseline_dir, work.random_ops, work.block_size)
            interposition = Interposition(registry)
            pairs = []
            for pair, subject, baseline, amount in _pairs(workloads):
                # Inside pairs: both sides with the prefix's client connected throughout
                # (the drop-in side does not go through interposition).
                inside = baseline.interposed
                with interposition.held() if inside else nullcontext():
                    pairs.append(measure(pair, subject, baseline, amount, interposition))
            benchfs.unlink(workloads.inside)
            benchfs.unlink(workloads.stream)
        finally:
            benchfs.disconnect()
        config = {"servers": read_cluster_config(ready.registry).servers,
                  "ops": work.random_ops, "stream_mib": workloads.stream_mib,
                  "rounds": ROUNDS, "registry": registry, "prefix": PREFIX}
    print(format_table(pairs, config))
    if options.json_path:
        Path(options.json_path).write_text(json.dumps(
            {"config": config, "pairs": [{**asdict(pair), "ratio": pair.ratio,
                                          "meets_goal": pair.meets_goal} for pair in pairs]},
            indent=2) + "\n")
        print(f"json: {options.json_path}")
    return 0
