"""A writer that records what fsync acknowledged, while a killer thread SIGKILLs and
restarts random servers; then a check that everything acknowledged survived and that
the namespace is whole: every operation, acknowledged or cut off by a kill, is all
done or not at all (tests/integration/audit.py checks every server's metadata)."""

from __future__ import annotations

import os
import random
import signal
import stat
import threading
import time
from dataclasses import dataclass, field

import benchfs
from benchfs.cluster import LocalCluster
from benchfs.settings import ClientSettings
from tests.integration.audit import wait_consistent


@dataclass
class Ledger:
    """What the writer knows: contents fsync acknowledged, and names in doubt."""

    durable: dict[str, bytes] = field(default_factory=dict)
    doubtful: set[str] = field(default_factory=set)
    dirs: set[str] = field(default_factory=set)  # acknowledged, each holding a subdirectory
    operations: int = 0
    failures: int = 0
    # Every rename tried, acknowledged or not, as (old, new, operation number), and
    # the number of the last operation that named each path.
    renames: list[tuple[str, str, int]] = field(default_factory=list)
    last_use: dict[str, int] = field(default_factory=dict)


class Killer(threading.Thread):
    """SIGKILLs a random server at random moments and restarts it, ``kills`` times."""

    def __init__(self, cluster: LocalCluster, kills: int, seed: int) -> None:
        super().__init__(daemon=True)
        self.cluster = cluster
        self.kills = kills
        self.done = 0
        self.rng = random.Random(seed)
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            servers = len(self.cluster.entries())
            for _ in range(self.kills):
                time.sleep(self.rng.uniform(0.05, 0.6))
                rank = self.rng.randrange(servers)
                entry = self.cluster.entries()[rank]
                os.kill(entry.pid, signal.SIGKILL)
                time.sleep(self.rng.uniform(0.0, 0.3))
                self.cluster.start_server(rank)
                self.cluster.wait_registered([rank], {rank: entry.pid})
                self.done += 1
        except BaseException as exc:  # surfaced by the test
            self.error = exc


class Writer:
    def __init__(self, client: benchfs.Client, seed: int) -> None:
        self.client = client
        self.rng = random.Random(seed)
        self.ledger = Ledger()
        self.counter = 0

    def _new_name(self, prefix: str = "f") -> str:
        self.counter += 1
        return f"/crash/{prefix}{self.counter}"


    def _sync_metadata(self) -> None:
        """fsync of any file makes every server's metadata log durable."""
        fd = self.client.open("/crash", os.O_RDONLY)
        try:
            self.client.fsync(fd)
        finally:
            self.client.close(fd)

    def step(self) -> None:
        names = sorted(self.ledger.durable)
        dirs = sorted(self.ledger.dirs)
        action = self.rng.choice(
            ["create"] * 3 + (["rename", "link", "unlink", "overwrite"] if names else [])
            + ["mkdir"] + (["rename_dir", "rmdir"] if dirs else []))
        touched: list[str] = []
        try:
            if action == "create":
                path = self._new_name()
                touched = [path]
                data = self.rng.randbytes(self.rng.randint(0, 300_000))
                fd = self.client.open(path, os.O_CREAT | os.O_WRONLY | os.O_EXCL, 0o640)
                try:
                    self.client.write(fd, data)
                    self.client.fsync(fd)
                finally:
                    self.client.close(fd)
                self.ledger.durable[path] = data
            elif action == "rename":
                old, new = self.rng.choice(names), self._new_name()
                touched = [old, new]
                self.client.rename(old, new)
                self._sync_metadata()
                self.ledger.durable[new] = self.ledger.durable.pop(old)
            elif action == "mkdir":
                path = self._new_name("d")
                touched = [path]
                self.client.mkdir(path)
                self.client.mkdir(f"{path}/s")
                self._sync_metadata()
                self.ledger.dirs.add(path)
            elif action == "rename_dir":
                old, new = self.rng.choice(dirs), self._new_name("d")
                touched = [old, new]
                self.ledger.dirs.discard(old)
                self.client.rename(old, new)
                self._sync_metadata()
                self.ledger.dirs.add(new)
            elif action == "rmdir":
                path = self.rng.choice(dirs)
                touched = [path]
                self.ledger.dirs.discard(path)
                self.client.rmdir(f"{path}/s")
                self.client.rmdir(path)
                self._sync_metadata()
            elif action == "link":
                old, new = self.rng.choice(names), self._new_name()
                touched = [old, new]
                self.client.link(old, new)
                self._sync_metadata()
                self.ledger.durable[new] = self.ledger.durable[old]
            elif action == "unlink":
                path = self.rng.choice(names)
                touched = [path]
                self.client.unlink(path)
                self._sync_metadata()
                del self.ledger.durable[path]
            else:
                path = self.rng.choice(names)
                touched = [path]
                old = self.ledger.durable[path]
                offset = self.rng.randint(0, len(old))
                patch = self.rng.randbytes(self.rng.randint(1, 100_000))
                fd = self.client.open(path, os.O_WRONLY)
                try:
                    self.client.pwrite(fd, patch, offset)
                    self.client.fsync(fd)
                finally:
                    self.client.close(fd)
                new = bytearray(old)
                new[offset:offset + len(patch)] = patch
                self._set_all_links(path, bytes(new))
        except OSError:
            # The operation may or may not have happened: these names are in doubt,
            # and so is every other name of the same files (hard links).
            self.ledger.failures += 1
            for path in touched:
                self._doubt(path)
            time.sleep(0.05)  # a server is down or restarting: give it a moment
        finally:
            for path in touched:
                self.ledger.last_use[path] = self.ledger.operations
            if action in ("rename", "rename_dir"):
                self.ledger.renames.append((*touched, self.ledger.operations))
        self.ledger.operations += 1

    def _same_file(self, path: str) -> list[str]:
        data = self.ledger.durable.get(path)
        return [p for p, d in self.ledger.durable.items() if d is data] if data else [path]

    def _set_all_links(self, path: str, data: bytes) -> None:
        for name in self._same_file(path):
            self.ledger.durable[name] = data

    def _doubt(self, path: str) -> None:
        for name in self._same_file(path):
            self.ledger.durable.pop(name, None)
            self.ledger.doubtful.add(name)


def run_crash_workload(cluster: LocalCluster, kills: int, seed: int) -> Ledger:
    settings = ClientSettings(timeout=3.0, metadata_ttl=0.0)
    with benchfs.connect(cluster.registry, settings) as client:
        client.mkdir("/crash")
        writer = Writer(client, seed)
        killer = Killer(cluster, kills, seed + 1)
        killer.start()
        while killer.is_alive():
            writer.step()
        killer.join()
        if killer.error is not None:
            raise killer.error
        for _ in range(50):  # a calm tail: the cluster works again after the kills
            writer.step()
    return writer.ledger


def verify(cluster: LocalCluster, ledger: Ledger) -> dict[str, int]:
    """Every acknowledged file intact; every listed name stat-able; the link count of
    every file right; no rename left its file under both names or under neither."""
    # Transactions cut off by a kill finish in the background: wait for them, then
    # check every server's metadata (names, inodes, link counts, chunk files).
    wait_consistent(cluster, timeout=30.0)
    with benchfs.connect(cluster.registry, ClientSettings(timeout=10.0)) as client:
        for path, data in ledger.durable.items():
            info = client.stat(path)
            assert info.st_size == len(data), path
            assert stat.S_IMODE(info.st_mode) == 0o640, path
            fd = client.open(path, os.O_RDONLY)
            try:
                assert client.read(fd, len(data) + 1) == data, path
            finally:
                client.close(fd)
        names_of: dict[int, list[str]] = {}
        for name in client.listdir("/crash"):
            info = client.stat(f"/crash/{name}")  # no name without its inode
            if not stat.S_ISDIR(info.st_mode):  # the audit checked directories' counts
                names_of.setdefault(info.st_ino, []).append(f"/crash/{name}")
        for ino, names in names_of.items():
            assert client.stat(names[0]).st_nlink == len(names), (ino, names)
        listed = set(client.listdir("/crash"))
        listed = {f"/crash/{name}" for name in listed}
        assert set(ledger.durable) <= listed
        for path in ledger.dirs:
            assert stat.S_ISDIR(client.stat(f"{path}/s").st_mode), path  # moved with it
        renames_checked = 0
        for old, new, number in ledger.renames:
            if ledger.last_use[old] == ledger.last_use[new] == number:  # nothing came after
                assert (old in listed) != (new in listed), (old, new)
                renames_checked += 1
    return {"files_checked": len(ledger.durable), "link_counts_checked": len(names_of),
            "renames_checked": renames_checked, "dirs_checked": len(ledger.dirs),
            "doubtful": len(ledger.doubtful)}
