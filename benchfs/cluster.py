"""A local cluster: N server processes on this machine, for a laptop, a test or a benchmark.

Layout under the cluster directory::

    registry/          the registry clients point BENCHFS_REGISTRY at
    data/<rank>/       each server's data directory
    logs/server-<rank>.log
    mount              where `cluster up --mount` mounted it (`cluster down` unmounts first)
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from benchfs.auth import create_secret
from benchfs.config import check, check_all
from benchfs.registry import (
    DEFAULT_CHUNK_SIZE,
    ClusterConfig,
    ServerEntry,
    read_cluster_config,
    read_server,
    read_servers,
    write_cluster_config,
)
from benchfs.settings import DEFAULT_DIRECT_MIN, DEFAULT_SPIN_US
from benchfs.view_registry import clear_views

START_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0


@dataclass(frozen=True)
class LocalCluster:
    root: Path

    @property
    def registry(self) -> Path:
        return self.root / "registry"

    def data_dir(self, rank: int) -> Path:
        return self.root / "data" / str(rank)

    def log_file(self, rank: int) -> Path:
        return self.root / "logs" / f"server-{rank}.log"

    def up(self, servers: int, chunk_size: int = DEFAULT_CHUNK_SIZE,
           transport: str = "sm,tcp", spin_us: int = DEFAULT_SPIN_US, o_direct: bool = False,
           permissions: bool = True, direct_min: int = DEFAULT_DIRECT_MIN,
           insecure: bool = False, metrics_port: int | None = None,
           metrics: bool | None = None) -> None:
        """Start every server in the background and wait until all have registered.

        ``metrics_port``: server r serves Prometheus text on 127.0.0.1:metrics_port+r.
        ``insecure``, ``metrics``: as `serve --insecure`, `serve --[no-]metrics` (None:
        the servers' default, from BENCHFS_METRICS).
        ``o_direct``: the servers store chunk data with O_DIRECT (`serve --o-direct`).
        ``direct_min``: otherwise, aligned transfers this large bypass the page cache
        (`serve --direct-min`; 0: all buffered).
        ``permissions``: clients enforce mode bits and ownership (off: trusted scratch).
        """
        check_all(servers=servers, chunk_size=chunk_size, transport=transport, spin_us=spin_us,
                  direct_min=direct_min, metrics_port=metrics_port)
        if metrics_port is not None:
            check("metrics_port", metrics_port + servers - 1)  # one port per server
        if self.running():
            raise RuntimeError(f"a cluster is already running in {self.root}")
        # A local cluster talks over loopback; clients adopt these from cluster.json.
        ucx_env = {"UCX_TLS": transport, "UCX_NET_DEVICES": "lo"}
        create_secret(self.registry)
        write_cluster_config(self.registry,
                             ClusterConfig(servers, chunk_size, ucx_env, permissions))
        clear_views(self.registry)  # a new cluster starts at epoch 1
        (self.root / "logs").mkdir(parents=True, exist_ok=True)
        for rank in range(servers):
            self.start_server(rank, spin_us, o_direct, direct_min, insecure=insecure,
                              metrics_port=None if metrics_port is None else metrics_port + rank,
                              metrics=metrics)
        self.wait_registered(range(servers))

    def start_server(self, rank: int, spin_us: int = DEFAULT_SPIN_US,
                     o_direct: bool = False,
                     direct_min: int = DEFAULT_DIRECT_MIN, insecure: bool = False,
                     metrics_port: int | None = None,
                     metrics: bool | None = None) -> subprocess.Popen[bytes]:
        config = read_cluster_config(self.registry)
        env = {**os.environ, **config.ucx_env}
        command = [
            sys.executable, "-m", "benchfs", "serve", "--registry", str(self.registry),
            "--data-dir", str(self.data_dir(rank)), "--rank", str(rank),
            "--servers", str(config.servers), "--spin-us", str(spin_us),
            "--o-direct" if o_direct else "--no-o-direct", "--direct-min", str(direct_min),
            "--insecure" if insecure else "--no-insecure",
        ]
        if metrics is not None:
            command.append("--metrics" if metrics else "--no-metrics")
        if metrics_port is not None:
            command += ["--metrics-port", str(metrics_port)]
        with open(self.log_file(rank), "ab") as log:
            # A session of its own, so a Ctrl-C in the launching shell does not
            # take the servers down with it.
            return subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env,
                                    stdin=subprocess.DEVNULL, start_new_session=True)

    def wait_registered(self, ranks: range | list[int], old_pids: dict[int, int] | None = None,
                        timeout: float = START_TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        old_pids = old_pids or {}
        pending = set(ranks)
        while pending:
            for rank in list(pending):
                entry = read_server(self.registry, rank)
                if entry is not None and entry.pid != old_pids.get(rank) and _alive(entry.pid):
                    pending.discard(rank)
            if pending and time.monotonic() > deadline:
                logs = "\n".join(f"--- {self.log_file(r)}:\n{_tail(self.log_file(r))}"
                                 for r in sorted(pending))
                raise TimeoutError(f"servers {sorted(pending)} did not register\n{logs}")
            time.sleep(0.05)

    def entries(self) -> dict[int, ServerEntry]:
        try:
            config = read_cluster_config(self.registry)
        except FileNotFoundError:
            return {}
        return read_servers(self.registry, config.servers)

    def running(self) -> bool:
        return any(_alive(entry.pid) for entry in self.entries().values())

    @property
    def mount_record(self) -> Path:
        return self.root / "mount"

    def mount(self, mountpoint: Path) -> None:
        """Mount the cluster with FUSE (`benchfs mount`); other users may use it
        when we are root (allow_other needs user_allow_other in fuse.conf otherwise)."""
        command = [sys.executable, "-m", "benchfs", "mount", str(mountpoint),
                   "--registry", str(self.registry)]
        if os.geteuid() == 0:
            command.append("--allow-other")
        done = subprocess.run(command, stdin=subprocess.DEVNULL, capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(done.stderr.strip() or f"benchfs mount failed ({done.returncode})")
        self.mount_record.write_text(str(mountpoint))

    def unmount(self) -> None:
        """Unmount what `mount` mounted, if it is still there."""
        if not self.mount_record.exists():
            return
        # Lazy: open files of the mount must not keep the cluster from stopping.
        subprocess.run([sys.executable, "-m", "benchfs", "umount", "--lazy",
                        self.mount_record.read_text()], stdin=subprocess.DEVNULL,
                       capture_output=True)
        self.mount_record.unlink()

    def down(self, timeout: float = STOP_TIMEOUT) -> None:
        """Unmount, then SIGTERM every server, then SIGKILL what is still there after
        ``timeout``."""
        self.unmount()
        entries = self.entries()
        for entry in entries.values():
            _signal(entry.pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while any(_alive(e.pid) for e in entries.values()) and time.monotonic() < deadline:
            time.sleep(0.05)
        for entry in entries.values():
            if _alive(entry.pid):
                _signal(entry.pid, signal.SIGKILL)
                (self.registry / f"server-{entry.rank}.json").unlink(missing_ok=True)


def _signal(pid: int, signum: int) -> None:
    try:
        os.kill(pid, signum)
    except ProcessLookupError:
        pass


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie child still answers kill(0); reap it if it is ours.
    try:
        waited, _ = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return _not_zombie(pid)
    return waited == 0


def _not_zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat_file:
            return stat_file.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"
