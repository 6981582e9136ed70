"""``import benchfs as os`` in a script written for os, run against a real cluster.

The script below is plain os code: it never names benchfs beyond its import line.
It runs once in a child process pointed at a 3-server cluster (BENCHFS_REGISTRY),
and its printed summary is checked here.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from benchfs.cluster import LocalCluster
from tests.conftest import start_cluster

ROOT = Path(__file__).parents[1]

SCRIPT = r'''
import json
import benchfs as os
import benchfs.path

# Results tree: runs/<run>/<rank>.dat with a header line and payload.
base = "/project/results"
os.makedirs(base, exist_ok=True)
os.makedirs(base, exist_ok=True)
for run in ("run1", "run2"):
    for rank in range(3):
        directory = os.path.join(base, run)
        os.makedirs(directory, exist_ok=True)
        fd = os.open(os.path.join(directory, f"{rank}.dat"),
                     os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o644)
        os.write(fd, f"rank {rank}\n".encode())
        os.write(fd, bytes([rank]) * (10_000 * (rank + 1)))
        os.fsync(fd)
        os.close(fd)

# A log appended to, a symlink to the latest run.
log = os.open("/project/log.txt", os.O_CREAT | os.O_WRONLY | os.O_APPEND, 0o644)
os.write(log, b"started\n")
os.symlink("results/run2", "/project/latest")

# Walk and sum sizes, as du would.
sizes = {}
for top, dirs, files in os.walk("/project"):
    dirs.sort()
    for name in files:
        path = os.path.join(top, name)
        sizes[os.path.relpath(path, "/project")] = os.path.getsize(path)

# Rename a run, remove the other, then tidy up empty directories.
os.rename("/project/results/run1", "/project/results/final")
for name in os.listdir("/project/results/run2"):
    os.remove(os.path.join("/project/results/run2", name))
os.removedirs("/project/results/run2")

# Relative paths work from benchfs's working directory.
os.chdir("/project/results/final")
with os.scandir(".") as entries:
    listing = sorted((e.name, e.is_file(), e.stat().st_size) for e in entries)
here = os.getcwd()
first = os.open("0.dat", os.O_RDONLY)
header = os.read(first, 7)
os.lseek(first, -5, os.SEEK_END)
tail = os.read(first, 100)
os.close(first)

os.write(log, b"done\n")
os.close(log)
fd = os.open("/project/log.txt", os.O_RDONLY)
log_text = os.read(fd, 100).decode()
os.close(fd)

errors = []
for call in (lambda: os.stat("/project/results/run2"),
             lambda: os.mkdir("/project/results/final"),
             lambda: os.rmdir("/project/results"),
             lambda: os.path.realpath("/project/latest", strict=True)):
    try:
        call()
    except OSError as exc:
        errors.append(type(exc).__name__)

print(json.dumps({
    "sizes": sizes, "listing": listing, "cwd": here, "header": header.decode(),
    "tail": list(tail), "log": log_text, "errors": errors,
    "results": sorted(os.listdir("/project/results")),
    "latest_dangling": [os.path.islink("/project/latest"), os.path.exists("/project/latest")],
    "sep": os.sep, "pid_is_host": os.getpid() > 0, "stat_type": type(os.stat("/")).__name__,
}))
'''


@pytest.fixture(scope="module")
def dropin_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    running = start_cluster(tmp_path_factory.mktemp("dropin"), 3, "sm,tcp")
    yield running
    running.down()


def test_an_os_script_runs_unchanged(dropin_cluster: LocalCluster) -> None:
    env = {**os.environ, "BENCHFS_REGISTRY": str(dropin_cluster.registry),
           "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True,
                          text=True, timeout=120, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["sizes"] == {
        f"results/{run}/{rank}.dat": 7 + 10_000 * (rank + 1)
        for run in ("run1", "run2") for rank in range(3)
    } | {"log.txt": 8}   # "latest" links to a directory: walk lists it, does not enter
    assert result["listing"] == [[f"{rank}.dat", True, 7 + 10_000 * (rank + 1)]
                                 for rank in range(3)]
    assert result["cwd"] == "/project/results/final"
    assert result["header"] == "rank 0\n"
    assert result["tail"] == [0] * 5
    assert result["log"] == "started\ndone\n"
    assert result["errors"] == ["FileNotFoundError", "FileExistsError", "OSError",
                                "FileNotFoundError"]
    assert result["results"] == ["final"]
    assert result["latest_dangling"] == [True, False]
    assert result["sep"] == "/" and result["pid_is_host"]
    assert result["stat_type"] == "stat_result"
