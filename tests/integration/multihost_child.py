"""The client side of the multi-host link test, run inside the client's namespace.

Talks to its parent (tests/integration/test_multihost.py) one line at a time:
prints ``ready`` once its data is written and waits for a line (the victim's link
is then cut); waits until a view declares the victim down, checks that a call to
it fails at once and that the other servers serve; prints the figures as JSON and
waits for a line (the link is then restored); waits until the victim is up again,
checks that everything is served, prints JSON and exits.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import benchfs
from benchfs.core.views import MemberState
from benchfs.settings import ClientSettings
from benchfs.view_registry import current_view

GUARD_S = 60.0


def wait_state(registry: str, servers: int, rank: int, state: MemberState) -> float:
    started = time.monotonic()
    while current_view(Path(registry), servers).state(rank) != state:
        if time.monotonic() - started > GUARD_S:
            raise SystemExit(f"server {rank} not {state.value} after {GUARD_S} s")
        time.sleep(0.01)
    return time.monotonic() - started


def main() -> None:
    registry, servers, victim = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    client = benchfs.connect(registry, ClientSettings(timeout=3.0))

    def server_of(path: str) -> int:
        return client._rpc.rank_of(client._ns.rank_of_path(path))

    on_victim = next(p for p in (f"/cut{i}" for i in range(1000)) if server_of(p) == victim)
    elsewhere = [p for p in (f"/kept{i}" for i in range(1000)) if server_of(p) != victim][:5]
    for path in elsewhere:
        client.mkdir(path)
    data = os.urandom(16 << 20)
    fd = client.open("/data.bin", os.O_CREAT | os.O_RDWR)
    client.write(fd, data)
    client.fsync(fd)
    print("ready", flush=True)
    sys.stdin.readline()
    down_after = wait_state(registry, servers, victim, MemberState.DOWN)
    started = time.monotonic()
    try:
        client.mkdir(on_victim)
        failed_with = 0
    except OSError as exc:
        failed_with = exc.errno or 0
    failed_after = time.monotonic() - started
    others_served = all(client.stat(path).st_nlink == 2 for path in elsewhere)
    print(json.dumps({"down_after": down_after, "failed_with": failed_with,
                      "failed_after": failed_after, "others_served": others_served}),
          flush=True)
    sys.stdin.readline()
    up_after = wait_state(registry, servers, victim, MemberState.UP)
    client.mkdir(on_victim)
    intact = client.pread(fd, len(data), 0) == data
    print(json.dumps({"up_after": up_after, "intact": intact}), flush=True)
    client.close(fd)
    client.close_client()


if __name__ == "__main__":
    main()
