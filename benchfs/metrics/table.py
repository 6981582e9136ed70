"""The `benchfs stats` table: one row per server and their sum."""

from __future__ import annotations

from typing import Any

from benchfs.metrics.counters import LATENCY_BOUNDS

Snapshot = dict[str, Any]

COLUMNS = ("server", "requests", "errors", "in-flight", "MiB in", "MiB out", "p50", "p99",
           "log recs", "commits", "syncs", "sync p99", "refused", "malformed", "cpu s",
           "RSS MiB", "fds")


def _add_lists(a: list[int], b: list[int]) -> list[int]:
    longer, shorter = (a, b) if len(a) >= len(b) else (b, a)
    return [x + (shorter[i] if i < len(shorter) else 0) for i, x in enumerate(longer)]


def _merge_op(into: dict[str, Any], op: dict[str, Any]) -> None:
    for key in ("calls", "bytes_in", "bytes_out", "sum_ns"):
        into[key] = into.get(key, 0) + op[key]
    errors = into.setdefault("errors", {})
    for err, count in op["errors"].items():
        errors[err] = errors.get(err, 0) + count
    into["hist"] = _add_lists(into.get("hist", []), op["hist"])


def total(snapshots: list[Snapshot]) -> Snapshot:
    """The cluster as one server: every counter and histogram added up."""
    ops: dict[str, dict[str, Any]] = {}
    log: dict[str, Any] = {}
    engine: dict[str, int] = {}
    process: dict[str, float] = {}
    extra: dict[str, int] = {}
    for snap in snapshots:
        for name, op in snap["ops"].items():
            _merge_op(ops.setdefault(name, {}), op)
        for key, value in snap["log"].items():
            log[key] = _add_lists(log.get(key, []), value) if isinstance(value, list) \
                else log.get(key, 0) + value
        for part, into in (("engine", engine), ("process", process), ("extra", extra)):
            for key, value in snap[part].items():
                into[key] = into.get(key, 0) + value
    return {"rank": "sum", "ops": ops, "log": log, "engine": engine, "process": process,
            "extra": extra, "in_flight": sum(s["in_flight"] for s in snapshots)}


def quantile(hist: list[int], q: float) -> float | None:
    """The bucket bound (seconds) below which a fraction ``q`` of the samples lie."""
    count = sum(hist)
    if not count:
        return None
    seen = 0
    for index, n in enumerate(hist):
        seen += n
        if seen >= q * count:
            return LATENCY_BOUNDS[index] if index < len(LATENCY_BOUNDS) else float("inf")
    return float("inf")


def _time(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds == float("inf"):
        return ">16s"
    for unit, scale in (("s", 1.0), ("ms", 1e-3)):
        if seconds >= scale:
            return f"<{seconds / scale:.3g}{unit}"
    return f"<{seconds * 1e6:.3g}µs"


def row(snap: Snapshot) -> list[str]:
    ops = list(snap["ops"].values())
    hist: list[int] = []
    for op in ops:
        hist = _add_lists(hist, op["hist"])
    log, engine, process = snap["log"], snap["engine"], snap["process"]
    mib = 1 << 20
    return [str(snap["rank"]), str(sum(op["calls"] for op in ops)),
            str(sum(sum(op["errors"].values()) for op in ops)), str(snap["in_flight"]),
            f"{sum(op['bytes_in'] for op in ops) / mib:.1f}",
            f"{sum(op['bytes_out'] for op in ops) / mib:.1f}",
            _time(quantile(hist, 0.5)), _time(quantile(hist, 0.99)),
            str(log["records"]), str(log["commits"]), str(log["syncs"]),
            _time(quantile(log["sync_hist"], 0.99)),
            str(engine["unauthenticated"] + snap["extra"].get("hellos_refused", 0)),
            str(engine["malformed"]), f"{process['cpu_seconds']:.1f}",
            f"{process['rss_bytes'] / mib:.0f}", str(int(process["open_fds"]))]


def table(snapshots: list[Snapshot]) -> str:
    rows = [list(COLUMNS), *(row(s) for s in snapshots), row(total(snapshots))]
    widths = [max(len(r[i]) for r in rows) for i in range(len(COLUMNS))]
    return "\n".join("  ".join(cell.rjust(w) for cell, w in zip(r, widths, strict=True))
                     for r in rows)
