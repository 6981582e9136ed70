"""Prometheus text on 127.0.0.1:PORT, formatted by prometheus_client's own small
HTTP thread from the snapshot the loop last published: the thread never reads a
live counter and the loop never waits for a scrape."""

from __future__ import annotations

import errno
from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)

from benchfs.metrics.counters import LATENCY_BOUNDS

Snapshot = dict[str, Any]


def _buckets(hist: list[int], bounds: tuple[float, ...]) -> list[tuple[str, float]]:
    cumulative, out = 0, []
    for bound, count in zip(bounds, hist, strict=False):
        cumulative += count
        out.append((repr(bound), float(cumulative)))
    out.append(("+Inf", float(sum(hist))))
    return out


def families(snapshot: Snapshot) -> Iterator[Metric]:
    """The metric families of one server's snapshot (also what the tests parse)."""
    rank = str(snapshot["rank"])
    calls = CounterMetricFamily("benchfs_rpc_requests", "Requests served, by operation",
                                labels=["rank", "op"])
    errors = CounterMetricFamily("benchfs_rpc_errors", "Requests answered with an errno",
                                 labels=["rank", "op", "errno"])
    moved = CounterMetricFamily("benchfs_rpc_bytes", "Request and reply bytes",
                                labels=["rank", "op", "direction"])
    duration = HistogramMetricFamily("benchfs_rpc_duration_seconds",
                                     "From a request's arrival to its reply",
                                     labels=["rank", "op"])
    for op, counters in sorted(snapshot["ops"].items()):
        calls.add_metric([rank, op], counters["calls"])
        for err, count in sorted(counters["errors"].items()):
            errors.add_metric([rank, op, errno.errorcode.get(int(err), str(err))], count)
        moved.add_metric([rank, op, "in"], counters["bytes_in"])
        moved.add_metric([rank, op, "out"], counters["bytes_out"])
        duration.add_metric([rank, op], _buckets(counters["hist"], LATENCY_BOUNDS),
                            counters["sum_ns"] / 1e9)
    yield from (calls, errors, moved, duration)
    yield _one(GaugeMetricFamily, "benchfs_rpc_in_flight", "Requests received, not yet answered",
               rank, snapshot["in_flight"])
    log = snapshot["log"]
    yield _one(CounterMetricFamily, "benchfs_log_records", "Metadata log records", rank,
               log["records"])
    yield _one(CounterMetricFamily, "benchfs_log_commits", "Group commits of the metadata log",
               rank, log["commits"])
    batch = HistogramMetricFamily("benchfs_log_commit_batch_records", "Records per group commit",
                                  labels=["rank"])
    record_bounds = tuple(float(2**i) for i in range(len(log["batch_hist"]) - 1))
    batch.add_metric([rank], _buckets(log["batch_hist"], record_bounds), float(log["records"]))
    yield batch
    sync = HistogramMetricFamily("benchfs_log_fdatasync_seconds", "fdatasyncs of the metadata log",
                                 labels=["rank"])
    sync.add_metric([rank], _buckets(log["sync_hist"], LATENCY_BOUNDS), log["sync_sum_ns"] / 1e9)
    yield sync
    for name, value in sorted(snapshot["engine"].items()):
        yield _one(CounterMetricFamily, f"benchfs_engine_{name}", f"Engine counter {name}", rank,
                   value)
    for name, value in sorted(snapshot["extra"].items()):
        yield _one(CounterMetricFamily, f"benchfs_{name}", name.replace("_", " "), rank, value)
    process = snapshot["process"]
    yield _one(CounterMetricFamily, "benchfs_process_cpu_seconds", "CPU time, user and system",
               rank, process["cpu_seconds"])
    yield _one(GaugeMetricFamily, "benchfs_process_resident_memory_bytes", "Resident memory",
               rank, process["rss_bytes"])
    yield _one(GaugeMetricFamily, "benchfs_process_open_fds", "Open file descriptors", rank,
               process["open_fds"])


def _one(kind: Callable[..., Any], name: str, doc: str, rank: str, value: float) -> Metric:
    family = kind(name, doc, labels=["rank"])
    family.add_metric([rank], value)
    metric: Metric = family
    return metric


class _Published:
    """A prometheus_client collector over the latest published snapshot."""

    def __init__(self, latest: Callable[[], Snapshot | None]) -> None:
        self._latest = latest

    def collect(self) -> Iterator[Metric]:
        snapshot = self._latest()
        if snapshot is not None:
            yield from families(snapshot)


def serve(port: int, latest: Callable[[], Snapshot | None]) -> None:
    """Start the endpoint's thread (a daemon thread: it ends with the process)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Published(latest))
    start_http_server(port, addr="127.0.0.1", registry=registry)
