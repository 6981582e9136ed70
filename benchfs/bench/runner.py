"""A whole run: the cluster, the clients' steps, the fio baseline and the report.

Every phase runs twice, back to back, on benchfs and then on plain os on the disk that
holds the servers' data, from the same client processes, so the two see the same memory
and CPU state (buffered I/O figures swing with it).
"""

from __future__ import annotations

import os
import platform
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path

from loguru import logger

from benchfs._api import connect
from benchfs.bench.baseline import disk_of, fio_version, run_fio
from benchfs.bench.measure import (
    Progress,
    RankResult,
    Recorder,
    VerificationError,
    aggregate,
    cpu_seconds,
    local_server_pids,
)
from benchfs.bench.options import BenchOptions, size_text
from benchfs.bench.phases import IOR_HARD_TRANSFER, Phase, Workspace, plan, remove_tree, warm_up
from benchfs.bench.report import (
    BENCHFS,
    FIO,
    MOUNT,
    OS,
    PhaseReport,
    Report,
    format_table,
    write_json,
    write_plot,
)
from benchfs.bench.stage import STAGE, run_stage_phase
from benchfs.bench.team import LocalClients, MpiTeam, Team, mpi_team
from benchfs.cluster import LocalCluster
from benchfs.registry import read_cluster_config

TARGETS = (BENCHFS, OS)


def targets(options: BenchOptions) -> tuple[str, ...]:
    # The mount runs right after the API it wraps, before the disk's own figure.
    return (BENCHFS, MOUNT, OS) if options.mount else TARGETS


@dataclass(frozen=True)
class RunContext:
    """Everything a client process needs; pickled to each one."""

    options: BenchOptions
    registry: str
    baseline_dir: str  # on the disk the servers' data is on
    run_id: str  # the run's directory name on every target
    server_pids: tuple[int, ...]  # local servers, whose CPU client 0 samples
    ucx_env: dict[str, str] = field(default_factory=dict)


def steps(options: BenchOptions) -> list[tuple[Phase, str]]:
    return [(phase, target) for phase in plan(options) for target in targets(options)]


# -- in each client ------------------------------------------------------------------------


def run_client(team: Team, context: RunContext) -> Iterator[tuple[int, RankResult]]:
    # The transport the cluster was started with, even if this shell says otherwise.
    os.environ.update(context.ucx_env)
    with connect(context.registry) as client:
        on_benchfs = Workspace(client, BENCHFS, f"/{context.run_id}", team.rank, team.size)
        spaces = {
            BENCHFS: on_benchfs,
            OS: Workspace(os, OS, os.path.join(context.baseline_dir, context.run_id),
                          team.rank, team.size, benchfs_space=on_benchfs),
        }
        if context.options.mount:
            # Its own tree: the mount shows the benchfs target's tree too.
            spaces[MOUNT] = Workspace(os, MOUNT, os.path.join(context.options.mount,
                                                              f"{context.run_id}-mount"),
                                      team.rank, team.size)
        if team.rank == 0:
            for ws in spaces.values():
                ws.fs.mkdir(ws.root)
        team.barrier()
        for ws in spaces.values():
            warm_up(ws)
        for index, (phase, target) in enumerate(steps(context.options)):
            sample_cpu = team.rank == 0 and target == BENCHFS
            yield index, _run_phase(team, phase, spaces[target],
                                    context.server_pids if sample_cpu else None)
        team.barrier()
        if team.rank == 0:
            for ws in spaces.values():
                remove_tree(ws.fs, ws.root)


def _run_phase(team: Team, phase: Phase, ws: Workspace,
               server_pids: tuple[int, ...] | None) -> RankResult:
    if ws.rank == 0:
        phase.shared_setup(ws)
    team.barrier()
    phase.setup(ws)
    if ws.rank == 0:
        # Write back what earlier phases (and this setup) left dirty first: on a small
        # VM that writeback would otherwise land in this phase's time.
        os.sync()
    bar = (_progress_bar(f"{phase.name} [{ws.target}]", phase.expected_items(ws.size) // ws.size)
           if ws.rank == 0 else None)
    recorder = Recorder(bar)
    team.barrier()
    cpu_before = cpu_seconds(server_pids or ())
    recorder.start()
    phase.run(ws, recorder)
    result = recorder.finish()
    team.barrier()
    if bar is not None:
        bar.close()
    if server_pids is not None:
        result.server_cpu = cpu_seconds(server_pids) - cpu_before
    return result


def _progress_bar(description: str, total: int) -> Progress | None:
    try:
        from tqdm import tqdm
    except ImportError:
        return None  # installed without the bench extra: the per-phase log lines remain
    # disable=None: drawn only on a terminal, so logs and CI output stay clean. The delay
    # keeps it off the line the coordinator logs the previous phase's figure on.
    bar: Progress = tqdm(total=total, desc=description, unit="op", leave=False, disable=None,
                         dynamic_ncols=True, delay=0.5)
    return bar


# -- where the results come together ----------------------------------------------------------


class Collector:
    def __init__(self, options: BenchOptions, clients: int) -> None:
        self._steps = steps(options)
        self.phases: dict[str, PhaseReport] = {}
        for phase, _ in self._steps:
            self.phases[phase.name] = PhaseReport(phase.name, phase.family, phase.unit,
                                                  phase.expected_items(clients))

    def add(self, step: int, results: list[RankResult]) -> None:
        phase, target = self._steps[step]
        report = self.phases[phase.name]
        measurement = aggregate(phase.unit, results)
        if measurement.items != report.expected_items:
            raise VerificationError(f"{phase.name} on {target}: {measurement.items} items "
                                    f"counted, {report.expected_items} expected")
        report.results[target] = measurement
        logger.info("{} on {}: {:.1f} {}", phase.name, target, measurement.value, phase.unit)


@dataclass(frozen=True)
class Prepared:
    scratch: Path
    registry: Path
    started_cluster: bool

    @property
    def baseline_dir(self) -> Path:
        return self.scratch / "os"


@contextmanager
def _prepared(options: BenchOptions) -> Iterator[Prepared]:
    """A scratch directory on the data disk and, unless --registry, a local cluster there."""
    with tempfile.TemporaryDirectory(prefix="benchfs-bench-", dir=options.data_dir) as scratch:
        root = Path(scratch)
        (root / "os").mkdir()
        if options.registry is not None:
            yield Prepared(root, Path(options.registry), started_cluster=False)
            return
        cluster = LocalCluster(root / "cluster")
        logger.info("starting {} servers under {}", options.servers, cluster.root)
        cluster.up(options.servers, options.chunk_size, options.transport,
                   direct_min=options.direct_min)
        try:
            if options.mount:
                cluster.mount(Path(options.mount))
            yield Prepared(root, cluster.registry, started_cluster=True)
        finally:
            cluster.down()  # unmounts first


def _idle_server_cpu(pids: tuple[int, ...], seconds: float) -> float | None:
    """The busiest server's CPU use while nothing asks anything, in % of one core."""
    if not pids:
        return None
    before = {pid: cpu_seconds([pid]) for pid in pids}
    time.sleep(seconds)
    return max((cpu_seconds([pid]) - before[pid]) / seconds * 100 for pid in pids)


def _context(options: BenchOptions, prepared: Prepared) -> RunContext:
    run_id = f"bench-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}"
    ucx_env = {"UCX_TLS": options.transport} if prepared.started_cluster else {}
    return RunContext(options, str(prepared.registry), str(prepared.baseline_dir), run_id,
                      tuple(local_server_pids(prepared.registry)), ucx_env)


def _report(collector: Collector, context: RunContext, prepared: Prepared, mode: str,
            clients: int, idle_cpu: float | None) -> Report:
    options = context.options
    cluster = read_cluster_config(prepared.registry)
    try:
        version = metadata.version("benchfs")
    except metadata.PackageNotFoundError:
        version = "unknown"
    config = {
        **asdict(options), "mode": mode, "clients": clients, "servers": cluster.servers,
        "chunk_size": cluster.chunk_size, "chunk_size_text": size_text(cluster.chunk_size),
        "block_size_text": size_text(options.workload.block_size),
        "ior_hard_transfer": IOR_HARD_TRANSFER, "registry": str(prepared.registry),
        "started_cluster": prepared.started_cluster, "baseline_dir": context.baseline_dir,
    }
    environment = {
        "host": platform.node(), "kernel": platform.release(), "python": sys.version.split()[0],
        "cpus": os.cpu_count(), "benchfs": version, "fio": fio_version(),
        "disk": disk_of(context.baseline_dir),
        "ucx_tls": cluster.ucx_env.get("UCX_TLS", os.environ.get("UCX_TLS", "UCX default")),
        "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    return Report(config, environment, list(collector.phases.values()), idle_cpu)


def _run_suite(options: BenchOptions, team: MpiTeam | None) -> Report | None:
    """The run as seen from the process that reports: the only one without MPI, rank 0
    with it. Other ranks only run their clients' steps and return None."""
    if team is not None and team.rank != 0:
        context: RunContext = team.broadcast(None)
        for _ in team.steps(run_client, context):
            pass
        return None
    clients = team.size if team is not None else options.clients
    with _prepared(options) as prepared:
        context = _context(options, prepared)
        idle_cpu = _idle_server_cpu(context.server_pids, options.workload.idle_seconds)
        collector = Collector(options, clients)
        if team is not None:
            team.broadcast(context)
            for step, results in team.steps(run_client, context):
                collector.add(step, results)
            mode = "MPI ranks"
        else:
            with LocalClients(run_client, context, clients) as local:
                for step, results in local.results():
                    collector.add(step, results)
            mode = "local processes"
        report = _report(collector, context, prepared, mode, clients, idle_cpu)
        if STAGE in options.phases:
            report.phases += run_stage_phase(options, context.registry, prepared.scratch,
                                             context.run_id, context.ucx_env)
        # Last, with the cluster idle: fio's O_DIRECT streams bypass the page cache.
        logger.info("fio baseline")
        fio = run_fio(plan(options), prepared.scratch / "fio", clients)
        for name, measurement in fio.results.items():
            collector.phases[name].results[FIO] = measurement
        report.fio_note = fio.note
    return report


def run_bench(options: BenchOptions, launcher_size: int | None = None) -> int:
    """``benchfs bench``: ``launcher_size`` is the rank count mpirun/srun announced."""
    options.validate()
    team = mpi_team() if launcher_size is not None and launcher_size > 1 else None
    try:
        report = _run_suite(options, team)
    except BaseException:
        if team is not None:
            logger.exception("rank {} failed; aborting every rank", team.rank)
            team.abort()
        raise
    if report is not None:
        print(format_table(report))
        if options.json_path:
            write_json(report, options.json_path)
            print(f"json: {options.json_path}")
        if options.plot_path:
            write_plot(report, options.plot_path)
            print(f"plot: {options.plot_path}")
    if team is not None:
        # Until rank 0 is done with fio and the output: the others would otherwise spin in
        # MPI_Finalize, on the cores fio is measuring with.
        team.barrier()
    return 0
