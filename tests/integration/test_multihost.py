"""Four hosts as network namespaces, one server each launched by mpirun, a client on
a fifth: the parity suite over UCX tcp between hosts, and one host's link cut and
restored (calls to it fail at once once it is declared down; it comes back).

The registry is a directory every namespace sees (they share the file system).
CI runs the parity module test_os_parity.py from the client host; the whole
differential suite runs under ``-m slow``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from benchfs.cluster import LocalCluster
from benchfs.core.errors import FAILURE_ERRNOS
from benchfs.core.views import MemberState, View
from benchfs.registry import ClusterConfig, write_cluster_config
from benchfs.view_registry import current_view
from tests.integration import netns

SERVERS = 4
CLIENT = SERVERS + 1  # the client's host
REPO = Path(__file__).resolve().parents[2]
UCX_ENV = {"UCX_TLS": "tcp", "UCX_NET_DEVICES": "eth0"}

_why_not = netns.available() or (None if shutil.which("mpirun") else "mpirun is missing")
pytestmark = pytest.mark.skipif(_why_not is not None, reason=_why_not or "")


@dataclass
class MultiHost:
    hosts: netns.Hosts
    cluster: LocalCluster
    log: Path

    def client_env(self) -> dict[str, str]:
        return {**os.environ, **UCX_ENV, "BENCHFS_TEST_CLUSTER": str(self.cluster.root)}


def _serve_script(path: Path, cluster: LocalCluster) -> None:
    """What mpirun runs on each host: a server listening on that host's address."""
    path.write_text(
        "#!/bin/sh\n"
        "addr=$(ip -4 -o addr show dev eth0 | awk '{print $4}' | cut -d/ -f1)\n"
        f"exec {sys.executable} -m benchfs serve --registry {cluster.registry} "
        f"--data-dir {cluster.root / 'data'} --host \"$addr\"\n")
    path.chmod(0o755)


@pytest.fixture(scope="module")
def multihost(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MultiHost]:
    work = tmp_path_factory.mktemp("multihost")
    hosts = netns.Hosts(CLIENT, work)
    cluster = LocalCluster(work / "cluster")
    write_cluster_config(cluster.registry, ClusterConfig(SERVERS, ucx_env=UCX_ENV))
    serve = work / "serve.sh"
    _serve_script(serve, cluster)
    log = work / "mpirun.log"
    launcher_tmp = work / "tmp-launcher"  # Open MPI's session directory, apart (netns.py)
    launcher_tmp.mkdir()
    mpirun = hosts.command(
        CLIENT, "mpirun", "--allow-run-as-root", "--bind-to", "none", "-np", str(SERVERS),
        "--host", ",".join(f"{hosts.name(n)}:1" for n in range(1, SERVERS + 1)),
        "--mca", "plm_rsh_agent", str(hosts.agent), "--mca", "oob_tcp_if_include", "eth0",
        *[arg for key in UCX_ENV for arg in ("-x", key)], str(serve))
    with open(log, "wb") as out:
        launcher = subprocess.Popen(mpirun, stdout=out, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL,
                                    env={**os.environ, **UCX_ENV, "TMPDIR": str(launcher_tmp)},
                                    start_new_session=True)
    try:
        cluster.wait_registered(range(SERVERS))
        yield MultiHost(hosts, cluster, log)
    finally:
        launcher.send_signal(signal.SIGTERM)  # mpirun passes it to the servers
        try:
            launcher.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(launcher.pid, signal.SIGKILL)
            launcher.wait()
        cluster.down(timeout=5)  # anything mpirun left behind
        hosts.close()


def _parity_from_the_client_host(multihost: MultiHost, *targets: str) -> None:
    run = subprocess.run(
        multihost.hosts.command(CLIENT, sys.executable, "-m", "pytest", "-q", "-x",
                                "-p", "no:cacheprovider", *targets),
        cwd=REPO, env=multihost.client_env(), capture_output=True, text=True, timeout=1200)
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    passed = re.search(r"(\d+) passed", run.stdout)
    assert passed is not None and int(passed.group(1)) > 0, run.stdout[-2000:]
    print(f"\nfrom the client host: {run.stdout.strip().splitlines()[-1]}")


@pytest.mark.timeout(600)
def test_parity_suite_from_a_client_host(multihost: MultiHost) -> None:
    _parity_from_the_client_host(multihost, "tests/differential/test_os_parity.py")


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_whole_differential_suite_from_a_client_host(multihost: MultiHost) -> None:
    _parity_from_the_client_host(multihost, "tests/differential")


@pytest.mark.timeout(300)
def test_a_cut_link_fails_calls_fast_and_its_return_brings_the_server_back(
        multihost: MultiHost) -> None:
    victim = 2  # rank 2 runs on host 3 (mpirun fills the hosts in order)
    victim_host = 3
    child = subprocess.Popen(
        multihost.hosts.command(CLIENT, sys.executable, str(REPO / "tests/integration/"
                                                             "multihost_child.py"),
                                str(multihost.cluster.registry), str(SERVERS), str(victim)),
        cwd=REPO, env=multihost.client_env(), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        text=True)
    assert child.stdin is not None and child.stdout is not None
    try:
        assert child.stdout.readline() == "ready\n"
        multihost.hosts.cut(victim_host)
        child.stdin.write("go\n")
        child.stdin.flush()
        cut = json.loads(child.stdout.readline())
        multihost.hosts.restore(victim_host)
        child.stdin.write("go\n")
        child.stdin.flush()
        back = json.loads(child.stdout.readline())
        assert child.wait(timeout=60) == 0
    finally:
        multihost.hosts.restore(victim_host)
        if child.poll() is None:
            child.kill()
            child.wait()
    print(f"\ncut link: declared down after {cut['down_after']:.2f} s, a call to it failed "
          f"after {cut['failed_after'] * 1000:.1f} ms; restored: up after "
          f"{back['up_after']:.2f} s")
    assert cut["failed_with"] in FAILURE_ERRNOS
    assert cut["others_served"]
    assert back["intact"]
    # The cut-off server, which could reach nobody, declared nobody down.
    for path in multihost.cluster.registry.glob("view-*.json"):
        view = View.from_json(json.loads(path.read_text()))
        assert view.ranks([MemberState.DOWN]) in ([], [victim]), view
    assert current_view(multihost.cluster.registry, SERVERS).ranks([MemberState.UP]) == [0, 1, 2, 3]
