"""A cluster and a way to start programs under ``benchfs run`` against it."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

import benchfs
from tests.conftest import start_cluster

# A hang guard only: a run takes a few seconds.
RUN_TIMEOUT = 120


@dataclass(frozen=True)
class Interposed:
    """A running cluster, the prefix its files appear under, and a client to check them."""

    registry: str
    prefix: str
    client: benchfs.Client

    def run(self, python_args: Sequence[str], cwd: Path, *, env: dict[str, str] | None = None,
            interpreter: str = sys.executable) -> subprocess.CompletedProcess[str]:
        """``benchfs run --prefix PREFIX --registry R -- python ARGS`` in ``cwd``."""
        command = [sys.executable, "-m", "benchfs", "run", "--prefix", self.prefix,
                   "--registry", self.registry, "--", interpreter, *python_args]
        return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True,
                              timeout=RUN_TIMEOUT, check=False)

    def read(self, path: str) -> bytes:
        """A benchfs file's contents, through the drop-in API."""
        fd = self.client.open(path, os.O_RDONLY)
        try:
            return self.client.read(fd, 1 << 24)
        finally:
            self.client.close(fd)

    def write(self, path: str, data: bytes) -> None:
        fd = self.client.open(path, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o644)
        try:
            self.client.write(fd, data)
        finally:
            self.client.close(fd)


@pytest.fixture(scope="module")
def interposed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Interposed]:
    running = start_cluster(tmp_path_factory.mktemp("interpose-run"), 2, "sm,tcp")
    # A prefix that exists nowhere on this machine, so a leak to the local disk fails.
    prefix = f"/bfs-test-{uuid.uuid4().hex[:8]}"
    try:
        with benchfs.connect(running.registry) as client:
            yield Interposed(str(running.registry), prefix, client)
    finally:
        running.down()
    assert not os.path.exists(prefix), f"{prefix} was created on the local disk"


def check(result: subprocess.CompletedProcess[str]) -> str:
    """The run's stdout, once it exited 0 (else the assert shows its stderr)."""
    assert result.returncode == 0, f"exit {result.returncode}\n{result.stderr}"
    return result.stdout
