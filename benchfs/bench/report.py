"""The run's output: an IOR-like summary table, the JSON record and the bar chart."""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchfs.bench.measure import UNIT_BANDWIDTH, Measurement
from benchfs.bench.options import GiB

BENCHFS, OS, FIO = "benchfs", "os", "fio"
MOUNT = "mount"  # plain os calls on a FUSE mount of the cluster (bench --mount)
BASELINES = (OS, FIO)


@dataclass
class PhaseReport:
    name: str
    family: str
    unit: str
    expected_items: int
    results: dict[str, Measurement] = field(default_factory=dict)  # by target

    def ratio(self, baseline: str) -> float | None:
        """benchfs / baseline: above 1, benchfs did better (every unit is a rate)."""
        ours, theirs = self.results.get(BENCHFS), self.results.get(baseline)
        if ours is None or theirs is None or not theirs.value:
            return None
        return ours.value / theirs.value

    def mount_ratio(self) -> float | None:
        """mount / benchfs: how much of the API's rate the FUSE mount keeps."""
        mounted, api = self.results.get(MOUNT), self.results.get(BENCHFS)
        if mounted is None or api is None or not api.value:
            return None
        return mounted.value / api.value

    def server_cpu_per_gib(self) -> float | None:
        """CPU-seconds the servers spent per GiB moved (the issue's ior-easy figure)."""
        ours = self.results.get(BENCHFS)
        if ours is None or ours.server_cpu_s is None or self.unit != UNIT_BANDWIDTH:
            return None
        return ours.server_cpu_s / (ours.nbytes / GiB) if ours.nbytes else None


@dataclass
class Report:
    config: dict[str, Any]
    environment: dict[str, Any]
    phases: list[PhaseReport]
    idle_server_cpu_percent: float | None = None
    fio_note: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "config": self.config,
            "environment": self.environment,
            "idle_server_cpu_percent": self.idle_server_cpu_percent,
            "fio_note": self.fio_note,
            "phases": [
                {
                    "name": phase.name, "family": phase.family, "unit": phase.unit,
                    "expected_items": phase.expected_items,
                    "results": {target: dataclasses.asdict(measurement)
                                for target, measurement in phase.results.items()},
                    "ratios": {baseline: phase.ratio(baseline) for baseline in BASELINES
                               if baseline in phase.results},
                    "mount_per_benchfs": phase.mount_ratio(),
                    "server_cpu_s_per_gib": phase.server_cpu_per_gib(),
                }
                for phase in self.phases
            ],
        }


def write_json(report: Report, path: str | Path) -> None:
    Path(path).write_text(json.dumps(report.as_json(), indent=2) + "\n")


# -- the table ------------------------------------------------------------------------------


def _number(value: float | None) -> str:
    if value is None or math.isnan(value):
        return "-"
    if value >= 1000:
        return f"{value:,.0f}"
    return f"{value:.1f}" if value >= 10 else f"{value:.2f}"


def _duration(microseconds: float | None) -> str:
    """1.6 µs to 2 s in one column: three significant digits and a unit."""
    if microseconds is None:
        return "-"
    for unit, scale in (("s", 1e6), ("ms", 1e3)):
        if microseconds >= scale:
            return f"{microseconds / scale:.3g} {unit}"
    return f"{microseconds:.3g} µs"


def _ratio(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}x"


def _shape(config: dict[str, Any]) -> str:
    servers, clients = config["servers"], config["clients"]
    return (f"{servers} server{'s' * (servers != 1)}, "
            f"{clients} client{'s' * (clients != 1)}")


def _value(phase: PhaseReport, target: str) -> float | None:
    measurement = phase.results.get(target)
    return None if measurement is None else measurement.value


def format_table(report: Report) -> str:
    config, env = report.config, report.environment
    lines = [
        f"benchfs bench: {_shape(config)} ({config['mode']}), UCX_TLS={env['ucx_tls']}, "
        f"chunk {config['chunk_size_text']}, block {config['block_size_text']} per client",
        f"disk: {env['disk']} (os baseline under {config['baseline_dir']}), {env['cpus']} CPUs, "
        f"idle server CPU {_number(report.idle_server_cpu_percent)} % of a core",
        "",
        f"{'phase':<24}{'unit':>7}{'benchfs':>11}{'os':>11}{'bfs/os':>8}"
        f"{'fio':>10}{'bfs/fio':>9}{'srv CPU-s/GiB':>15}{'verified':>10}",
    ]
    for phase in report.phases:
        ours = phase.results.get(BENCHFS)
        lines.append(
            f"{phase.name:<24}{phase.unit:>7}{_number(_value(phase, BENCHFS)):>11}"
            f"{_number(_value(phase, OS)):>11}{_ratio(phase.ratio(OS)):>8}"
            f"{_number(_value(phase, FIO)):>10}{_ratio(phase.ratio(FIO)):>9}"
            f"{_number(phase.server_cpu_per_gib()):>15}"
            f"{(ours.verified if ours and ours.verified else '-'):>10}")
    lines += ["", f"{'latency':<24}{'op':>8}{'benchfs p50':>13}{'p99':>10}"
                  f"{'os p50':>10}{'p99':>10}{'fio p50':>10}{'p99':>10}"]
    for phase in report.phases:
        ours = phase.results.get(BENCHFS)
        for op in ours.latency if ours else ():
            cells: list[float | None] = []
            for target in (BENCHFS, OS, FIO):
                measurement = phase.results.get(target)
                latency = measurement.latency.get(op) if measurement else None
                cells += [latency.p50_us, latency.p99_us] if latency else [None, None]
            lines.append(f"{phase.name:<24}{op:>8}{_duration(cells[0]):>13}"
                         + "".join(f"{_duration(cell):>10}" for cell in cells[1:]))
    if any(MOUNT in phase.results for phase in report.phases):
        lines += ["", f"{'through the mount':<24}{'unit':>7}{'mount':>11}{'benchfs':>11}"
                      f"{'mnt/bfs':>9}{'os':>11}{'mnt/os':>8}"]
        for phase in report.phases:
            mounted = phase.results.get(MOUNT)
            ratio_os = (mounted.value / phase.results[OS].value
                        if mounted and OS in phase.results and phase.results[OS].value
                        else None)
            lines.append(f"{phase.name:<24}{phase.unit:>7}{_number(_value(phase, MOUNT)):>11}"
                         f"{_number(_value(phase, BENCHFS)):>11}"
                         f"{_ratio(phase.mount_ratio()):>9}{_number(_value(phase, OS)):>11}"
                         f"{_ratio(ratio_os):>8}")
    if report.fio_note:
        lines += ["", f"note: {report.fio_note}"]
    if any(phase.family == "fsspec" for phase in report.phases):
        lines += ["", "fsspec phases: benchfs = through benchfs:// (fsspec, zarr); os = the "
                      "reference in the same run: the benchfs client itself for fsspec-*, "
                      "zarr's LocalStore on the os disk for zarr-*"]
    lines += ["", "ratios are benchfs / baseline of this run (above 1: benchfs is faster); "
                  "every read compared with what was written, find counted every entry"]
    return "\n".join(lines)


# -- the chart ------------------------------------------------------------------------------


def write_plot(report: Report, path: str | Path) -> None:
    """One panel per unit, a group of bars per phase (benchfs, os, fio), log scale: the
    rates span four orders of magnitude between a 4 KiB pwrite and a buffered stat."""
    import matplotlib

    matplotlib.use("Agg")  # no display needed, and none is there under a batch job
    import matplotlib.pyplot as plt

    panels = [[phase for phase in report.phases if phase.unit == unit]
              for unit in dict.fromkeys(phase.unit for phase in report.phases)]
    figure, axes = plt.subplots(1, len(panels), figsize=(7 * len(panels), 5.5), squeeze=False)
    width = 0.27
    for axis, phases in zip(axes[0], panels, strict=True):
        for slot, target in enumerate((BENCHFS, OS, FIO)):
            shown = [(index, _value(phase, target)) for index, phase in enumerate(phases)]
            shown = [(index, value) for index, value in shown if value]
            if shown:
                axis.bar([index + (slot - 1) * width for index, _ in shown],
                         [value for _, value in shown], width, label=target)
        for index, phase in enumerate(phases):
            ratio, value = phase.ratio(OS), _value(phase, BENCHFS)
            if ratio is not None and value:
                axis.annotate(f"{ratio:.2f}x", (index - width, value), ha="center",
                              va="bottom", fontsize=7)
        axis.set_yscale("log")
        axis.set_ylabel(phases[0].unit)
        axis.set_xticks(range(len(phases)), [phase.name for phase in phases], rotation=40,
                        ha="right", fontsize=8)
        axis.legend(fontsize=8)
        axis.grid(axis="y", which="major", alpha=0.3)
    figure.suptitle(f"benchfs bench: {_shape(report.config)} (labels: benchfs / os)",
                    fontsize=10)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
