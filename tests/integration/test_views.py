"""Views and health with real servers: a killed server is declared down and comes
back up after a restart, a paused one is not declared down, and clients follow a
new view transparently (STALE_VIEW answers, bulk ops included).

The tests assert states, never durations: the waits are hang guards. The detection
time is printed (run with -s to see it; scripts/detection_times.py measures it).
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import benchfs
from benchfs._native.engine import Engine, EngineConfig, EventKind
from benchfs.auth import load_secret
from benchfs.auth.peer import hello
from benchfs.cluster import LocalCluster
from benchfs.core.errors import FAILURE_ERRNOS
from benchfs.core.views import Member, MemberState, View
from benchfs.core.wire import Op, encode_request
from benchfs.registry import read_cluster_config
from benchfs.settings import ClientSettings
from benchfs.view_registry import commit_view, current_view, latest_epoch
from tests.conftest import start_cluster

GUARD_S = 30.0  # far past the 3 s failure timeout: only a hang fails this
# Long enough for every server to have had answers from its neighbours (pings go
# every 0.3 s; a member is watched from its first answer on).
SETTLE_S = 1.0


@pytest.fixture
def four(tmp_path: Path) -> Iterator[LocalCluster]:
    running = start_cluster(tmp_path / "cluster", 4)
    yield running
    running.down()


def wait_view(cluster: LocalCluster, wanted: Callable[[View], bool], servers: int = 4) -> View:
    deadline = time.monotonic() + GUARD_S
    while time.monotonic() < deadline:
        view = current_view(cluster.registry, servers)
        if wanted(view):
            return view
        time.sleep(0.01)
    raise AssertionError(f"no such view within {GUARD_S} s: "
                         f"{current_view(cluster.registry, servers)}")


@pytest.mark.timeout(120)
def test_killed_server_is_declared_down_then_up_after_restart(four: LocalCluster) -> None:
    data = os.urandom(24 << 20)  # six chunks over the servers
    with benchfs.connect(four.registry, ClientSettings(timeout=3.0)) as client:
        fd = client.open("/kept.dat", os.O_CREAT | os.O_RDWR)
        client.write(fd, data)
        client.fsync(fd)
        time.sleep(SETTLE_S)
        victim = four.entries()[2]
        os.kill(victim.pid, signal.SIGKILL)
        killed = time.monotonic()
        view = wait_view(four, lambda v: v.state(2) == MemberState.DOWN)
        print(f"\nkilled server declared down after {time.monotonic() - killed:.2f} s")
        assert view.ranks([MemberState.UP]) == [0, 1, 3]
        # A call whose server is down fails at once with an errno; others are served.
        victim_path = next(p for p in (f"/v{i}" for i in range(1000))
                           if client._rpc.rank_of(client._ns.rank_of_path(p)) == 2)
        with pytest.raises(OSError) as failure:
            client.mkdir(victim_path)
        assert failure.value.errno in FAILURE_ERRNOS
        four.start_server(2)
        four.wait_registered([2], {2: victim.pid})
        wait_view(four, lambda v: v.state(2) == MemberState.UP)
        # The same client and descriptor carry on: nothing acknowledged was lost.
        assert client.pread(fd, len(data), 0) == data
        client.mkdir(victim_path)
        client.close(fd)


@pytest.mark.timeout(120)
def test_with_two_servers_the_survivor_declares_the_other_down(tmp_path: Path) -> None:
    """Nobody to confirm through: the survivor's own failed pings are the verdict."""
    pair = start_cluster(tmp_path / "pair", 2)
    try:
        time.sleep(SETTLE_S)
        os.kill(pair.entries()[0].pid, signal.SIGKILL)
        view = wait_view(pair, lambda v: v.state(0) == MemberState.DOWN, servers=2)
        assert view.ranks([MemberState.UP]) == [1]
    finally:
        pair.down()


@pytest.mark.timeout(120)
def test_a_server_paused_for_a_second_is_not_declared_down(four: LocalCluster) -> None:
    time.sleep(SETTLE_S)
    paused = four.entries()[1]
    os.kill(paused.pid, signal.SIGSTOP)
    try:
        time.sleep(1.0)
    finally:
        os.kill(paused.pid, signal.SIGCONT)
    time.sleep(2 * 3.0)  # twice the failure timeout: any verdict would be in by now
    assert latest_epoch(four.registry) == 1  # no view was ever committed
    assert current_view(four.registry, 4).ranks([MemberState.UP]) == [0, 1, 2, 3]


def _poke(cluster: LocalCluster, rank: int, epoch: int) -> None:
    """Send one PING stamped with ``epoch`` to a server, as a peer would (after
    proving the cluster secret, as every peer must)."""
    entry = cluster.entries()[rank]
    secret = load_secret(cluster.registry, read_cluster_config(cluster.registry).cluster_id)
    with Engine(EngineConfig(err_mode_peer=False)) as engine:  # as the servers' endpoints
        engine.set_epoch(epoch)
        conn = engine.connect(entry.host, entry.port)
        hello(engine, conn, secret, GUARD_S, lambda _event: None)
        engine.send(conn, int(Op.PING), body=encode_request(Op.PING))
        deadline = time.monotonic() + GUARD_S
        replies: list[int] = []
        while not replies:
            assert time.monotonic() < deadline
            replies = [e.status for e in engine.progress(100) if e.kind == EventKind.REPLY]
        assert replies == [0]


@pytest.mark.timeout(120)
def test_clients_follow_a_new_view_without_failing(four: LocalCluster) -> None:
    data = os.urandom(9 << 20)
    with benchfs.connect(four.registry, ClientSettings(timeout=3.0)) as client:
        fd = client.open("/moving.dat", os.O_CREAT | os.O_RDWR)
        client.write(fd, data)
        old = current_view(four.registry, 4)
        assert client._rpc.views.view.epoch == old.epoch
        # A new view (server 3 moved to a new address, say): committed, then one
        # server hears of it from a peer's message and the others from its pings.
        moved = old.with_member(Member(3, "127.0.0.1", 1, MemberState.UP))
        assert commit_view(four.registry, moved)
        _poke(four, 0, moved.epoch)
        time.sleep(SETTLE_S)
        # The client still holds the old epoch: every server answers STALE_VIEW,
        # the client reloads and resends; the caller sees nothing of it.
        assert client._rpc.views.view.epoch == old.epoch
        assert client.pread(fd, len(data), 0) == data  # bulk READs, served in C
        assert client._rpc.views.view.epoch == moved.epoch
        client.pwrite(fd, b"x" * 4096, 0)  # bulk WRITEs
        client.fsync(fd)
        assert client.stat("/moving.dat").st_size == len(data)
        client.close(fd)
