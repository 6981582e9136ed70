"""Per-operation counters in plain ints: one dict lookup and a few additions per
request, nothing else (no lock: each process's loop is single-threaded)."""

from __future__ import annotations

import os
import resource
from typing import Any

from benchfs._native.engine import HIST_BUCKETS, BulkOpStats, Engine
from benchfs.core.wire import Op

# Upper bounds of the latency buckets, in seconds: under 2**i µs (1 µs .. 16.8 s),
# then +Inf; the engine's bulk ops use the same buckets (BFS_HIST_BUCKETS).
LATENCY_BOUNDS = tuple(2**i * 1e-6 for i in range(HIST_BUCKETS - 1))


def latency_bucket(elapsed_ns: int) -> int:
    return min((elapsed_ns // 1000).bit_length(), HIST_BUCKETS - 1)


def _op_name(opcode: int) -> str:
    try:
        return Op(opcode).name
    except ValueError:
        return str(opcode)


class OpCounters:
    """bytes_in: what requests carried (to the server); bytes_out: what replies did."""

    __slots__ = ("calls", "bytes_in", "bytes_out", "sum_ns", "errors", "hist")

    def __init__(self) -> None:
        self.calls = self.bytes_in = self.bytes_out = self.sum_ns = 0
        self.errors: dict[int, int] = {}
        self.hist = [0] * HIST_BUCKETS

    def as_dict(self) -> dict[str, Any]:
        return {"calls": self.calls, "bytes_in": self.bytes_in, "bytes_out": self.bytes_out,
                "sum_ns": self.sum_ns, "errors": dict(self.errors), "hist": list(self.hist)}


class RequestMetrics:
    """Requests by opcode; ``enabled`` False makes every call return at once (to
    measure what counting costs)."""

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled
        self._ops: dict[int, OpCounters] = {}

    def observe(self, opcode: int, status: int, bytes_in: int, bytes_out: int,
                elapsed_ns: int) -> None:
        if not self.enabled:
            return
        counters = self._ops.get(opcode)
        if counters is None:
            counters = self._ops[opcode] = OpCounters()
        counters.calls += 1
        counters.bytes_in += bytes_in
        counters.bytes_out += bytes_out
        counters.sum_ns += elapsed_ns
        counters.hist[latency_bucket(elapsed_ns)] += 1
        if status:
            counters.errors[status] = counters.errors.get(status, 0) + 1

    def snapshot(self) -> dict[str, dict[str, Any]]:
        return {_op_name(op): counters.as_dict() for op, counters in self._ops.items()}


def bulk_snapshot(bulk: dict[int, BulkOpStats]) -> dict[str, dict[str, Any]]:
    """The engine's bulk ops in the shape of ``RequestMetrics.snapshot`` (the bytes
    a WRITE carries come in, a READ's go out)."""
    out = {}
    for opcode, stats in bulk.items():
        if not stats.calls:
            continue
        incoming = opcode == Op.WRITE
        out[Op(opcode).name] = {
            "calls": stats.calls, "bytes_in": stats.bytes if incoming else 0,
            "bytes_out": 0 if incoming else stats.bytes, "sum_ns": stats.sum_ns,
            "errors": dict(stats.errors), "hist": list(stats.hist)}
    return out


def process_snapshot() -> dict[str, float]:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    with open("/proc/self/statm") as statm:
        resident_pages = int(statm.read().split()[1])
    return {"cpu_seconds": usage.ru_utime + usage.ru_stime,
            "rss_bytes": resident_pages * os.sysconf("SC_PAGE_SIZE"),
            "open_fds": len(os.listdir("/proc/self/fd"))}


def engine_snapshot(engine: Engine) -> tuple[dict[str, int], dict[str, dict[str, Any]]]:
    counters, bulk = engine.all_stats()
    return counters, bulk_snapshot(bulk)
