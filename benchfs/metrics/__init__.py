"""Counters and histograms of servers and clients (plan item 8, DESIGN.md D14).

Kept as plain Python ints on the hot path and, for what the engine serves alone,
in C (read in one call); ``prometheus_client`` only formats and parses them.

``counters``: per-operation calls, errors by errno, bytes and latency histograms.
``server``: a server's snapshot (its ops, the engine's counters, the metadata log's
group commits, the process), answered to STATS and published to the Prometheus
endpoint (``prometheus``). ``table``: the `benchfs stats` table.
"""

from benchfs.metrics.counters import LATENCY_BOUNDS, RequestMetrics, latency_bucket

__all__ = ["LATENCY_BOUNDS", "RequestMetrics", "latency_bucket"]
