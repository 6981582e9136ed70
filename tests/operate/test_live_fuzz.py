"""A live server sent malformed frames, before and after the hello: it neither
crashes nor hangs, its memory stays put, and well-formed requests are still
answered correctly, during and after. A short run here; ``-m slow`` sends 10^6."""

from __future__ import annotations

import errno
import os
import random
import time
from collections.abc import Iterator

import psutil
import pytest

import benchfs
from benchfs._native.engine import EventKind
from benchfs.auth import load_secret
from benchfs.cluster import LocalCluster
from benchfs.core.wire import Op, encode_request
from benchfs.registry import read_cluster_config
from benchfs.settings import ClientSettings
from tests.conftest import start_cluster
from tests.operate.frames import malformed_frame, valid_frames
from tests.operate.raw_peer import RawPeer

BATCH = 500  # frames between two well-formed requests (which also pace the sender)
RSS_SLACK = 10 << 20


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    running = start_cluster(tmp_path_factory.mktemp("livefuzz"), 1, "tcp", chunk_size=64 << 10)
    yield running
    running.down()


class Flooder:
    """A raw peer that sends malformed frames and, after each batch, one
    well-formed request whose answer it checks; reconnects when the server
    closed the connection (a wrong hello does)."""

    def __init__(self, cluster: LocalCluster, authenticated: bool, seed: int) -> None:
        self.cluster = cluster
        self.authenticated = authenticated
        self.rng = random.Random(seed)
        self.seeds = valid_frames()
        self.avoid = frozenset({int(Op.HELLO), int(Op.HELLO_PROVE)}) if authenticated \
            else frozenset()
        self.sent = self.reconnects = 0
        self.peer = self._connect()

    def _connect(self) -> RawPeer:
        peer = RawPeer(self.cluster)
        if self.authenticated:
            registry = self.cluster.registry
            _, accepted, _, _ = peer.hello(load_secret(
                registry, read_cluster_config(registry).cluster_id))
            assert accepted.status == 0
        return peer

    def _reconnect(self) -> None:
        self.peer.close()
        self.peer = self._connect()
        self.reconnects += 1

    def batch(self) -> None:
        for _ in range(BATCH):
            header, body = malformed_frame(self.rng, self.seeds, self.avoid)
            try:
                self.peer.engine.send_raw(self.peer.conn, header, body)
            except OSError:
                self._reconnect()
                continue
            self.sent += 1
        self._check_answered()

    def _check_answered(self) -> None:
        lost = any(e.kind == EventKind.CONN_ERROR for e in self.peer.engine.progress(0))
        if not lost:
            try:
                reply = self.peer.call(int(Op.LOOKUP), body=encode_request(Op.LOOKUP, "/"))
            except OSError:
                lost = True
            else:
                lost = reply.status in (errno.ECONNRESET, errno.ENOTCONN, errno.ETIMEDOUT)
                if not lost:
                    expected = 0 if self.authenticated else errno.EACCES
                    assert reply.status == expected, reply
                    assert bool(reply.payload) == self.authenticated
        if lost:
            self._reconnect()

    def close(self) -> None:
        self.peer.close()


def _flood(cluster: LocalCluster, frames: int) -> None:
    entry = cluster.entries()[0]
    server = psutil.Process(entry.pid)
    settings = ClientSettings(timeout=20.0)
    with benchfs.connect(cluster.registry, settings) as client:
        client.makedirs("/kept", exist_ok=True)
        fd = client.open("/kept/data", os.O_CREAT | os.O_RDWR, 0o644)
        payload = os.urandom(300_000)
        client.pwrite(fd, payload, 0)
        client.fsync(fd)
        client.close(fd)
    flooders = [Flooder(cluster, authenticated, seed) for seed, authenticated
                in enumerate((False, True))]
    try:
        for flooder in flooders:
            flooder.batch()  # warm up: first allocations, log file opened
        rss_before = server.memory_info().rss
        fds_before = server.num_fds()
        started = time.monotonic()
        while sum(f.sent for f in flooders) < frames:
            for flooder in flooders:
                flooder.batch()
            assert server.is_running() and server.status() != psutil.STATUS_ZOMBIE
        seconds = time.monotonic() - started
        rss_growth = server.memory_info().rss - rss_before
    finally:
        for flooder in flooders:
            flooder.close()
    sent = sum(f.sent for f in flooders)
    print(f"live fuzz: {sent} malformed frames in {seconds:.1f} s ({sent / seconds:.0f}/s), "
          f"{sum(f.reconnects for f in flooders)} reconnects, server RSS "
          f"{rss_growth / 2**20:+.2f} MiB, fds {fds_before} -> {server.num_fds()}")
    assert rss_growth <= RSS_SLACK
    with benchfs.connect(cluster.registry, settings) as client:
        fd = client.open("/kept/data", os.O_RDONLY)
        assert client.pread(fd, len(payload), 0) == payload
        client.close(fd)
        assert client.listdir("/kept") == ["data"]
    assert server.num_fds() <= fds_before + 2  # the client's own connection, if not yet closed


def test_malformed_frames_short(cluster: LocalCluster) -> None:
    _flood(cluster, 20_000)


@pytest.mark.slow
@pytest.mark.timeout(3 * 3600)
def test_a_million_malformed_frames(cluster: LocalCluster) -> None:
    _flood(cluster, 1_000_000)
