"""Mounting and unmounting as users do it: the errors, signals, `cluster up --mount`,
and a mount whose cluster died (answers errors, unmounts)."""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from benchfs.cluster import LocalCluster
from benchfs.fuse.mount import mounted_points
from tests.conftest import start_cluster
from tests.fuse.conftest import benchfs_command, mount, unmount

# Calls to a dead server fail at once (the connection resets) or at the client's
# deadline; a hang guard well past both.
HANG_GUARD = 60


@pytest.fixture
def lone_cluster(tmp_path: Path) -> Iterator[LocalCluster]:
    running = start_cluster(tmp_path / "cluster", 1, "sm,tcp")
    yield running
    running.down()


def _wait_unmounted(point: Path) -> None:
    deadline = time.monotonic() + HANG_GUARD
    while str(point) in mounted_points():
        assert time.monotonic() < deadline, f"{point} still mounted"
        time.sleep(0.05)


def test_mount_refuses_what_cannot_work(lone_cluster: LocalCluster, tmp_path: Path) -> None:
    registry = str(lone_cluster.registry)
    missing = benchfs_command("mount", str(tmp_path / "nowhere"), "--registry", registry)
    assert missing.returncode != 0 and "does not exist" in missing.stderr
    no_cluster = benchfs_command("mount", str(tmp_path), "--registry", str(tmp_path / "x"))
    assert no_cluster.returncode != 0 and "no benchfs cluster" in no_cluster.stderr
    no_helper = subprocess.run(
        [sys.executable, "-m", "benchfs", "mount", str(tmp_path), "--registry", registry],
        capture_output=True, text=True, timeout=HANG_GUARD, env={**os.environ, "PATH": ""})
    assert no_helper.returncode != 0 and "fusermount3" in no_helper.stderr
    point = tmp_path / "point"
    point.mkdir()
    mount(lone_cluster.registry, point)
    try:
        busy = benchfs_command("mount", str(point), "--registry", registry)
        assert busy.returncode != 0 and "busy" in busy.stderr
    finally:
        unmount(point)
    not_mounted = benchfs_command("umount", str(point))
    assert not_mounted.returncode != 0 and "not mounted" in not_mounted.stderr


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_unmounts(lone_cluster: LocalCluster, tmp_path: Path, signum: int) -> None:
    point = tmp_path / "point"
    point.mkdir()
    served = subprocess.Popen([sys.executable, "-m", "benchfs", "mount", str(point),
                               "--registry", str(lone_cluster.registry), "--foreground"],
                              stdin=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + HANG_GUARD
        while str(point) not in mounted_points():
            assert served.poll() is None, served.stderr.read() if served.stderr else ""
            assert time.monotonic() < deadline
            time.sleep(0.05)
        (point / "f").write_bytes(b"x")
        served.send_signal(signum)
        assert served.wait(HANG_GUARD) == 0
        assert str(point) not in mounted_points()
    finally:
        if served.poll() is None:
            served.kill()
            served.wait()
        if str(point) in mounted_points():  # killed: the kernel keeps a dead mount
            subprocess.run(["fusermount3", "-u", "-z", str(point)], check=True)


def test_cluster_up_mounts_and_down_unmounts(tmp_path: Path) -> None:
    point = tmp_path / "point"
    point.mkdir()
    root = tmp_path / "cluster"
    up = benchfs_command("cluster", "up", "-n", "1", "--dir", str(root), "--mount", str(point))
    try:
        assert up.returncode == 0, up.stderr
        assert str(point) in mounted_points()
        (point / "made").write_bytes(b"through the mount")
    finally:
        down = benchfs_command("cluster", "down", "--dir", str(root))
    assert down.returncode == 0, down.stderr
    _wait_unmounted(point)
    assert not LocalCluster(root).running()


def test_cluster_up_with_a_mount_that_fails_starts_nothing(tmp_path: Path) -> None:
    root = tmp_path / "cluster"
    up = benchfs_command("cluster", "up", "-n", "1", "--dir", str(root),
                         "--mount", str(tmp_path / "missing"))
    assert up.returncode != 0 and "does not exist" in up.stderr
    assert not LocalCluster(root).running()


def test_a_dead_cluster_answers_errors_and_unmounts(lone_cluster: LocalCluster,
                                                    tmp_path: Path) -> None:
    point = tmp_path / "point"
    point.mkdir()
    mount(lone_cluster.registry, point)
    try:
        (point / "f").write_bytes(b"data")
        entry = json.loads((lone_cluster.registry / "server-0.json").read_text())
        os.kill(entry["pid"], signal.SIGKILL)
        listing = subprocess.run(["ls", "-l", str(point)], capture_output=True, text=True,
                                 timeout=HANG_GUARD)
        assert listing.returncode != 0
        with pytest.raises(OSError) as stat_error:
            os.stat(point / "never-looked-up")  # nothing cached: the mount must answer
        assert stat_error.value.errno in (errno.EIO, errno.ENOTCONN, errno.ECONNRESET,
                                          errno.ECONNREFUSED, errno.ETIMEDOUT)
        with pytest.raises(OSError):
            (point / "g").write_bytes(b"nowhere to go")
    finally:
        unmount(point)
