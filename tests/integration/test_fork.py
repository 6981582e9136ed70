"""Clients across os.fork(): both the parent and the child go on using a client that was
connected before the fork, its open descriptors included (benchfs/client/forking.py).
(Each process has its own copy of a descriptor's state afterwards, as with two opens.)"""

from __future__ import annotations

import os
from pathlib import Path

import benchfs
from benchfs.cluster import LocalCluster
from tests.conftest import start_cluster


def _child(client: benchfs.Client, fd: int) -> int:
    """Runs in the forked child: 0 when every call worked."""
    try:
        if client.pread(fd, 100, 0) != b"parent.":
            return 4
        made = client.open("/from-child", os.O_CREAT | os.O_WRONLY, 0o644)
        client.write(made, str(os.getpid()).encode())
        client.close(made)
        client.close(fd)
        with benchfs.connect(client.registry) as fresh:  # a new client in the child, too
            return 0 if "from-child" in fresh.listdir("/") else 3
    except BaseException:  # noqa: BLE001 (the child reports by its exit code)
        import traceback

        traceback.print_exc()
        return 2


def test_parent_and_child_keep_the_client(tmp_path: Path) -> None:
    cluster: LocalCluster = start_cluster(tmp_path / "cluster", 2, "sm,tcp")
    try:
        with benchfs.connect(cluster.registry) as client:
            fd = client.open("/shared", os.O_CREAT | os.O_RDWR, 0o644)
            client.write(fd, b"parent.")
            pid = os.fork()
            if pid == 0:
                os._exit(_child(client, fd))
            _, status = os.waitpid(pid, 0)
            assert os.waitstatus_to_exitcode(status) == 0
            # The parent's descriptor, opened before the fork, still works.
            client.pwrite(fd, b"parent-again", 7)
            assert client.pread(fd, 100, 0) == b"parent.parent-again"
            client.close(fd)
            with benchfs.connect(cluster.registry) as other:
                made = other.open("/from-child", os.O_RDONLY)
                assert other.read(made, 100) == str(pid).encode()
                other.close(made)
    finally:
        cluster.down()
