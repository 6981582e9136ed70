"""Hosts as network namespaces, for the multi-host tests.

``Hosts`` builds a switch (a namespace holding one bridge) and one namespace per
host, each joined to the bridge by a veth pair whose host end is ``eth0`` with
10.77.0.<n>/24. Every address exists only inside these namespaces: nothing is
added to the machine's own network, and no traffic leaves them. Servers reach a
host through ``ip netns exec`` (mpirun does, through the launch agent this module
writes). ``cut`` and ``restore`` take one host's link down and up.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
from pathlib import Path

SUBNET = "10.77.0"  # inside the namespaces made here only


def available() -> str | None:
    """Why namespaces cannot be made here, or None when they can."""
    if os.geteuid() != 0:
        return "network namespaces need root"
    if shutil.which("ip") is None:
        return "the ip command is missing (iproute2)"
    probe = f"bfsprobe{secrets.token_hex(3)}"
    made = subprocess.run(["ip", "netns", "add", probe], capture_output=True)
    if made.returncode:
        return f"ip netns add failed: {made.stderr.decode().strip()}"
    subprocess.run(["ip", "netns", "del", probe], check=True)
    return None


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True)


class Hosts:
    """Namespaces ``<prefix>1`` .. ``<prefix><count>`` on one bridge."""

    def __init__(self, count: int, workdir: Path) -> None:
        self.prefix = f"bfs{secrets.token_hex(2)}h"
        self.switch = f"{self.prefix}sw"
        self.count = count
        self.agent = workdir / "netns-agent.sh"
        self._made: list[str] = []
        try:
            self._build()
        except BaseException:
            self.close()
            raise
        # Open MPI's rsh launch agent: "agent [options] host command": run the
        # command inside the host's namespace instead of over ssh. Each host gets a
        # temporary directory of its own: the hosts share /tmp and a host name, and
        # Open MPI's session directories (named after both) would collide.
        self.agent.write_text(
            "#!/bin/sh\n"
            'while [ "${1#-}" != "$1" ]; do shift; done\n'
            'host=$1; shift\n'
            f'tmp="{workdir}/tmp-$host"; mkdir -p "$tmp"\n'
            'exec env TMPDIR="$tmp" ip netns exec "$host" /bin/sh -c "$*"\n')
        self.agent.chmod(0o755)

    def name(self, n: int) -> str:
        return f"{self.prefix}{n}"

    @staticmethod
    def address(n: int) -> str:
        return f"{SUBNET}.{n}"

    def _build(self) -> None:
        _ip("netns", "add", self.switch)
        self._made.append(self.switch)
        _ip("-n", self.switch, "link", "add", "br0", "type", "bridge")
        _ip("-n", self.switch, "link", "set", "br0", "up")
        for n in range(1, self.count + 1):
            host = self.name(n)
            _ip("netns", "add", host)
            self._made.append(host)
            _ip("-n", self.switch, "link", "add", f"v{n}", "type", "veth", "peer", "name",
                "eth0", "netns", host)
            _ip("-n", self.switch, "link", "set", f"v{n}", "master", "br0", "up")
            _ip("-n", host, "addr", "add", f"{self.address(n)}/24", "dev", "eth0")
            _ip("-n", host, "link", "set", "eth0", "up")
            _ip("-n", host, "link", "set", "lo", "up")

    def cut(self, n: int) -> None:
        _ip("-n", self.switch, "link", "set", f"v{n}", "down")

    def restore(self, n: int) -> None:
        _ip("-n", self.switch, "link", "set", f"v{n}", "up")

    def command(self, n: int, *argv: str) -> list[str]:
        """``argv`` run inside host ``n``."""
        return ["ip", "netns", "exec", self.name(n), *argv]

    def close(self) -> None:
        """Delete every namespace (their veths go with them)."""
        for name in reversed(self._made):
            subprocess.run(["ip", "netns", "del", name], capture_output=True)
        self._made.clear()
