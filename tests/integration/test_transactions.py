"""Crash-atomic multi-server operations: kill -9 the coordinator or a participant at
each step of a rename, link, last-link unlink, directory rename, rmdir and mkdir, or kill
the client mid-operation, restart, and check that the namespace converges to the
operation fully done (every intent is journaled before its first step, so recovery
finishes it) with every invariant holding (tests/integration/audit.py).

The servers are real processes; the crash points come from the servers' own
fault-injection hooks (benchfs.server.faults).
"""

from __future__ import annotations

import itertools
import os
import signal
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

import benchfs
from benchfs.cluster import LocalCluster
from benchfs.core.views import initial_view
from benchfs.server.plans import Placement
from benchfs.settings import ClientSettings
from tests.conftest import start_cluster
from tests.engine_support import until
from tests.integration.audit import wait_consistent

# The coordinator of every case is the server holding the root (its restarts then
# also cover the root's server), B and C are participants.
A = Placement(initial_view(3).table).of_path("/")
B, C = (rank for rank in range(3) if rank != A)
CONVERGE_S = 20.0
_cases = itertools.count()

Description = dict[str, tuple[Any, ...]]


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    cluster = start_cluster(tmp_path_factory.mktemp("tx"), 3, "tcp", chunk_size=64 << 10)
    lab = Lab(cluster)
    try:
        yield lab
    finally:
        lab.client.close_client()
        cluster.down()


class Lab:
    def __init__(self, cluster: LocalCluster) -> None:
        self.cluster = cluster
        self.where = Placement(initial_view(3).table)
        self.client = benchfs.connect(cluster.registry,
                                      ClientSettings(timeout=3.0, metadata_ttl=0.0))

    def name_on(self, rank: int, stem: str) -> str:
        """A path starting with ``stem`` whose entry lives on server ``rank``."""
        return next(f"{stem}{i}" for i in itertools.count()
                    if self.where.of_path(f"{stem}{i}") == rank)

    def new_top(self) -> str:
        top = self.name_on(C, f"/case{next(_cases)}-")
        self.client.mkdir(top)
        return top

    def write(self, path: str, size: int) -> bytes:
        data = os.urandom(size)
        fd = self.client.open(path, os.O_CREAT | os.O_WRONLY | os.O_EXCL, 0o644)
        try:
            self.client.write(fd, data)
        finally:
            self.client.close(fd)
        return data

    def restart(self, rank: int, env: dict[str, str] | None = None) -> None:
        """kill -9 server ``rank`` if it runs, and start it again (with ``env``)."""
        entry = self.cluster.entries()[rank]
        with_env = {**os.environ}
        try:
            os.kill(entry.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.wait_dead(rank)
        os.environ.update(env or {})
        try:
            self.cluster.start_server(rank)
        finally:
            os.environ.clear()
            os.environ.update(with_env)
        self.cluster.wait_registered([rank], {rank: entry.pid})

    def wait_dead(self, rank: int) -> None:
        pid = self.cluster.entries()[rank].pid
        until(lambda: not _alive(pid))

    def describe(self, top: str) -> Description:
        """Every name under ``top``: type, link count and (for files) contents."""
        out: Description = {top: ("dir", self.client.stat(top).st_nlink)}
        for name in sorted(self.client.listdir(top)):
            path = f"{top}/{name}"
            info = self.client.lstat(path)
            if stat.S_ISDIR(info.st_mode):
                out.update(self.describe(path))
            else:
                fd = self.client.open(path, os.O_RDONLY)
                try:
                    data = self.client.read(fd, info.st_size + 1)
                finally:
                    self.client.close(fd)
                out[path] = ("file", info.st_nlink, data)
        return out

    def converge(self, top: str, expected: Description) -> None:
        deadline = time.monotonic() + CONVERGE_S
        seen: object = None
        while True:
            try:
                seen = self.describe(top)
            except OSError as exc:  # EAGAIN while a fence is still up, ENOENT mid-move
                seen = exc
            if seen == expected:
                break
            assert time.monotonic() < deadline, f"{top} never became {expected}: {seen}"
            time.sleep(0.1)
        wait_consistent(self.cluster)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
        waited, _ = os.waitpid(pid, os.WNOHANG)
    except ProcessLookupError:
        return False
    except ChildProcessError:
        return Path(f"/proc/{pid}").exists()
    return waited == 0


@dataclass
class Case:
    top: str
    op: str  # the Client method
    args: tuple[str, ...]
    expected: Description  # the state under top once the operation is done

    def run(self, client: benchfs.Client) -> None:
        getattr(client, self.op)(*self.args)


def rename_file(lab: Lab) -> Case:
    """/src (inode on A) replaces /dst (name on B, inode on C)."""
    top = lab.new_top()
    src, dst = lab.name_on(A, f"{top}/src"), lab.name_on(B, f"{top}/dst")
    old = lab.name_on(C, f"{top}/old")
    lab.write(old, 150_000)
    lab.client.rename(old, dst)
    data = lab.write(src, 100_000)
    return Case(top, "rename", (src, dst), {top: ("dir", 2), dst: ("file", 1, data)})


def link(lab: Lab) -> Case:
    top = lab.new_top()
    src, dst = lab.name_on(A, f"{top}/src"), lab.name_on(B, f"{top}/dst")
    data = lab.write(src, 100_000)
    return Case(top, "link", (src, dst),
                {top: ("dir", 2), src: ("file", 2, data), dst: ("file", 2, data)})


def unlink(lab: Lab) -> Case:
    """The last name (on A) of a file whose inode lives on B."""
    top = lab.new_top()
    first, name = lab.name_on(B, f"{top}/first"), lab.name_on(A, f"{top}/name")
    lab.write(first, 100_000)
    lab.client.rename(first, name)
    return Case(top, "unlink", (name,), {top: ("dir", 2)})


def rename_dir(lab: Lab) -> Case:
    """/d (on A) with a subtree replaces the empty directory /e (on B); some moved
    entries land on B."""
    top = lab.new_top()
    d, e = lab.name_on(A, f"{top}/d"), lab.name_on(B, f"{top}/e")
    lab.client.mkdir(d)
    lab.client.mkdir(e)
    lab.client.mkdir(f"{d}/sub")
    expected: Description = {top: ("dir", 3), e: ("dir", 3), f"{e}/sub": ("dir", 2)}
    for rank, stem in ((A, "a"), (B, "b"), (C, "c"), (B, "sub/b")):
        child = lab.name_on(rank, f"{e}/{stem}")[len(e) + 1:]
        expected[f"{e}/{child}"] = ("file", 1, lab.write(f"{d}/{child}", 70_000))
    return Case(top, "rename", (d, e), expected)


def rmdir(lab: Lab) -> Case:
    top = lab.new_top()
    d = lab.name_on(A, f"{top}/d")
    lab.client.mkdir(d)
    return Case(top, "rmdir", (d,), {top: ("dir", 2)})


def mkdir(lab: Lab) -> Case:
    """A directory on A whose parent's inode lives on C."""
    top = lab.new_top()
    d = lab.name_on(A, f"{top}/d")
    return Case(top, "mkdir", (d,), {top: ("dir", 3), d: ("dir", 2)})


BUILDERS = {"rename_file": rename_file, "link": link, "unlink": unlink,
            "rename_dir": rename_dir, "rmdir": rmdir, "mkdir": mkdir}
# The plans' batches, the last one telling the participants to forget (see plans.py).
BATCHES = {"rename_file": 5, "link": 3, "unlink": 4, "rename_dir": 5, "rmdir": 4, "mkdir": 3}
# (kind, the participant that dies, what it dies after applying)
PARTICIPANT_FAULTS = [
    ("rename_file", B, "add_entry"), ("rename_file", C, "adjust"),
    ("link", B, "add_entry"), ("unlink", B, "adjust"), ("unlink", C, "DATA_REMOVE"),
    ("rename_dir", B, "FENCE"), ("rename_dir", B, "MOVE_INSERT"), ("rename_dir", B, "UNFENCE"),
    ("rmdir", B, "FENCE"), ("rmdir", B, "UNFENCE"), ("mkdir", C, "adjust"),
]


@pytest.mark.parametrize(("kind", "batch"),
                         [(kind, n) for kind, count in BATCHES.items()
                          for n in range(1, count + 1)])
def test_coordinator_killed_before_each_batch(lab: Lab, kind: str, batch: int) -> None:
    case = BUILDERS[kind](lab)
    lab.restart(A, {"BENCHFS_FAULT_TX": f"{kind}:{batch}"})
    with pytest.raises(OSError):
        case.run(lab.client)  # the coordinator died under the request
    lab.wait_dead(A)
    lab.restart(A)
    lab.converge(case.top, case.expected)


@pytest.mark.parametrize(("kind", "rank", "step"), PARTICIPANT_FAULTS)
def test_participant_killed_after_its_step(lab: Lab, kind: str, rank: int, step: str) -> None:
    case = BUILDERS[kind](lab)
    lab.restart(rank, {"BENCHFS_FAULT_STEP": step})
    outcome: list[BaseException | None] = []

    def run() -> None:
        try:
            case.run(lab.client)
            outcome.append(None)
        except OSError as exc:  # ETIMEDOUT when the restart took longer than our wait
            outcome.append(exc)

    worker = threading.Thread(target=run)
    worker.start()
    lab.wait_dead(rank)
    lab.restart(rank)
    worker.join()
    assert outcome and (outcome[0] is None or isinstance(outcome[0], TimeoutError)), outcome
    lab.converge(case.top, case.expected)


@pytest.mark.parametrize(("kind", "step"), [("rename_file", "add_entry"),
                                          ("rename_dir", "MOVE_INSERT")])
def test_client_killed_mid_operation(lab: Lab, kind: str, step: str) -> None:
    """The client dies while its rename waits on a participant that died."""
    case = BUILDERS[kind](lab)
    lab.restart(B, {"BENCHFS_FAULT_STEP": step})
    child = subprocess.Popen(
        [sys.executable, "-m", "tests.integration.tx_child", str(lab.cluster.registry),
         *case.args], stdout=subprocess.PIPE, text=True, cwd=Path(__file__).parents[2])
    try:
        lab.wait_dead(B)
    finally:
        child.kill()
        child.wait()
    assert child.stdout is not None and child.stdout.read() == "ready\n"  # not answered
    lab.restart(B)
    lab.converge(case.top, case.expected)


def test_a_client_waiting_past_its_deadline_hears_etimedout(lab: Lab) -> None:
    """While a participant stays down the client is told ETIMEDOUT ("not known yet"),
    the source name refuses a second operation (EAGAIN), and the rename completes
    once the participant is back."""
    case = rename_file(lab)
    src = case.args[0]
    lab.restart(B, {"BENCHFS_FAULT_STEP": "add_entry"})
    impatient = benchfs.connect(lab.cluster.registry,
                                ClientSettings(timeout=1.0, metadata_ttl=0.0))
    try:
        with pytest.raises(TimeoutError):
            case.run(impatient)
        lab.wait_dead(B)
        with pytest.raises(BlockingIOError):
            impatient.unlink(src)  # still the source of the unfinished rename
    finally:
        impatient.close_client()
    lab.restart(B)
    lab.converge(case.top, case.expected)
