"""A server's metrics: its requests (arrival to reply, group commit included), the
engine's own counters and bulk ops, the metadata log's group commits, the process.

The loop calls ``arrived`` and ``replied`` per request and ``committed`` per batch;
``snapshot`` answers STATS, and ``publish`` hands a snapshot to the Prometheus
thread at most once a second, so that thread never touches live counters.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from benchfs._native.engine import HIST_BUCKETS, Engine
from benchfs.metrics.counters import (
    RequestMetrics,
    engine_snapshot,
    latency_bucket,
    process_snapshot,
)

# Records per group commit: buckets under 2**i records, the last one larger.
BATCH_BUCKETS = 18
_PUBLISH_EVERY_S = 1.0


class ServerMetrics:
    def __init__(self, rank: int, engine: Engine, enabled: bool = True) -> None:
        self.rank = rank
        self.enabled = enabled
        self._engine = engine
        self.requests = RequestMetrics(enabled)
        self._pending: dict[int, tuple[int, int, int]] = {}  # handle -> opcode, start, bytes
        self.log_records = 0
        self._batch_records = 0
        self.commits = 0
        self.batch_hist = [0] * BATCH_BUCKETS
        self.syncs = 0  # fdatasyncs of the log: count, total time, latency buckets
        self.sync_sum_ns = 0
        self.sync_hist = [0] * HIST_BUCKETS
        self.extra: dict[str, Callable[[], int]] = {}  # more counters, read at snapshot
        self.published: dict[str, Any] | None = None
        self._next_publish = 0.0

    # -- the loop's side ---------------------------------------------------------------

    def arrived(self, handle: int, opcode: int, nbytes: int) -> None:
        if self.enabled:
            self._pending[handle] = (opcode, time.perf_counter_ns(), nbytes)

    def replied(self, handle: int, status: int, nbytes: int) -> None:
        if not self.enabled:
            return
        pending = self._pending.pop(handle, None)
        if pending is not None:
            opcode, start, bytes_in = pending
            self.requests.observe(opcode, status, bytes_in, nbytes,
                                  time.perf_counter_ns() - start)

    def journaling(self, append: Callable[[bytes], None]) -> Callable[[bytes], None]:
        """``append`` (the metadata log's), counting the records."""
        def counted(record: bytes) -> None:
            self._batch_records += 1
            append(record)
        return counted

    def committed(self, synced_ns: int | None) -> None:
        """A batch's log write, and how long its fdatasync took (None: no sync)."""
        if self._batch_records:
            self.log_records += self._batch_records
            self.commits += 1
            self.batch_hist[min(self._batch_records.bit_length(), BATCH_BUCKETS - 1)] += 1
            self._batch_records = 0
        if synced_ns is not None:
            self.syncs += 1
            self.sync_sum_ns += synced_ns
            self.sync_hist[latency_bucket(synced_ns)] += 1

    def publish_due(self) -> None:
        """Refresh the snapshot the Prometheus thread formats, at most once a second."""
        now = time.monotonic()
        if now >= self._next_publish:
            self._next_publish = now + _PUBLISH_EVERY_S
            self.published = self.snapshot()

    # -- reading -----------------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        """Everything, as plain data (msgpack- and JSON-able): the STATS reply."""
        counters, bulk = engine_snapshot(self._engine)
        return {
            "rank": self.rank, "metrics": self.enabled, "time": time.time(),
            "ops": {**self.requests.snapshot(), **bulk},
            "in_flight": len(self._pending),
            "log": {"records": self.log_records, "commits": self.commits,
                    "batch_hist": list(self.batch_hist), "syncs": self.syncs,
                    "sync_sum_ns": self.sync_sum_ns, "sync_hist": list(self.sync_hist)},
            "engine": counters,
            "extra": {name: read() for name, read in self.extra.items()},
            "process": process_snapshot(),
        }

