"""How long the cluster takes to declare a failed server down, measured.

Starts a local cluster (4 servers by default) in a temporary directory and, for
each trial, fails one server and times how long until a committed view marks it
down, then brings it back and waits until it is up again:

- ``kill``: SIGKILL, then a restart (its TCP connections reset: pings fail at once);
- ``freeze``: SIGSTOP until declared down, then SIGCONT (nothing resets: pings go
  unanswered, as with a cut link).

Usage: python scripts/detection_times.py [--trials 5] [--servers 4]
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import tempfile
import time
from pathlib import Path

from benchfs.cluster import LocalCluster
from benchfs.core.views import MemberState
from benchfs.view_registry import current_view

GUARD_S = 30.0
SETTLE_S = 1.5


def _until(cluster: LocalCluster, servers: int, rank: int, state: MemberState) -> float:
    started = time.monotonic()
    while current_view(cluster.registry, servers).state(rank) != state:
        if time.monotonic() - started > GUARD_S:
            raise TimeoutError(f"server {rank} not {state.value} after {GUARD_S} s")
        time.sleep(0.005)
    return time.monotonic() - started


def trial(cluster: LocalCluster, servers: int, rank: int, how: str) -> float:
    time.sleep(SETTLE_S)
    entry = cluster.entries()[rank]
    if how == "kill":
        os.kill(entry.pid, signal.SIGKILL)
        took = _until(cluster, servers, rank, MemberState.DOWN)
        cluster.start_server(rank)
        cluster.wait_registered([rank], {rank: entry.pid})
    else:
        os.kill(entry.pid, signal.SIGSTOP)
        try:
            took = _until(cluster, servers, rank, MemberState.DOWN)
        finally:
            os.kill(entry.pid, signal.SIGCONT)
    _until(cluster, servers, rank, MemberState.UP)
    return took


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--servers", type=int, default=4)
    parser.add_argument("--trials", type=int, default=5)
    args = parser.parse_args()
    os.environ.setdefault("UCX_NET_DEVICES", "lo")
    with tempfile.TemporaryDirectory() as root:
        cluster = LocalCluster(Path(root))
        cluster.up(args.servers)
        try:
            for how in ("kill", "freeze"):
                times = [trial(cluster, args.servers, 1 + n % (args.servers - 1), how)
                         for n in range(args.trials)]
                print(f"{how:6}: declared down after min {min(times):.2f} s, median "
                      f"{statistics.median(times):.2f} s, max {max(times):.2f} s "
                      f"({args.trials} trials)")
        finally:
            cluster.down()


if __name__ == "__main__":
    main()
