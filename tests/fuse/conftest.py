"""A real cluster and a real FUSE mount of it (root, allow_other), shared by the session.

The mount runs in its own process (``benchfs mount``), as users run it: the
test process reaches it through the kernel with plain os calls, and reaches the
cluster directly through the drop-in API for the cross-checks.
"""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import benchfs
from benchfs.cluster import LocalCluster
from benchfs.fuse.mount import FUSE_DEVICE, mounted_points
from tests.conftest import start_cluster
from tests.differential.mirror import Mirror, Side
from tests.differential.parity_support import Api, OsMirror, ParitySide, capture

if not os.path.exists(FUSE_DEVICE):
    pytest.skip(f"{FUSE_DEVICE} is missing: this machine cannot mount FUSE file systems",
                allow_module_level=True)

_case_numbers = itertools.count()

_NO_LSEEK = ("pyfuse3 has no lseek handler, so the kernel answers SEEK_DATA/SEEK_HOLE "
             "itself: the whole file is data")
# Parity cases the mount fails for reasons of FUSE's, not benchfs's (docs/fuse.md).
KNOWN_DIFFERENCES = {
    "test_seek_data_and_hole": _NO_LSEEK,
    "test_seek_data_and_hole_in_a_file_of_only_a_hole": _NO_LSEEK,
    "test_lseek_on_a_directory": "FUSE answers SEEK_DATA on a directory with ENXIO; ext4 "
                                 "treats a directory as data",
}
# Parity cases that call the drop-in module itself, not the world under test.
DROP_IN_ONLY = {
    "test_open_o_tmpfile_is_eopnotsupp": "calls the drop-in module's open directly",
    "test_direntry_class": "checks the drop-in module's DirEntry class",
}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.module is None or not item.module.__name__.endswith("test_mount_parity"):
            continue
        name = getattr(item, "originalname", item.name)
        if name in KNOWN_DIFFERENCES:
            item.add_marker(pytest.mark.xfail(reason=KNOWN_DIFFERENCES[name], strict=True))
        elif name in DROP_IN_ONLY:
            item.add_marker(pytest.mark.skip(reason=DROP_IN_ONLY[name]))


def benchfs_command(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "benchfs", *args], capture_output=True,
                          text=True, timeout=timeout, stdin=subprocess.DEVNULL)


def mount(registry: Path, point: Path, *options: str) -> None:
    done = benchfs_command("mount", str(point), "--registry", str(registry), *options)
    assert done.returncode == 0, done.stderr
    assert str(point) in mounted_points()


def unmount(point: Path) -> None:
    """Unmount and wait until the kernel has let go of it."""
    done = benchfs_command("umount", str(point))
    assert done.returncode == 0, done.stderr
    deadline = time.monotonic() + 30
    while str(point) in mounted_points():
        assert time.monotonic() < deadline, f"{point} still mounted"
        time.sleep(0.05)


@pytest.fixture(scope="session")
def fuse_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    # 64 KiB chunks: small test files already span both servers.
    running = start_cluster(tmp_path_factory.mktemp("fuse-cluster"), 2, "sm,tcp",
                            chunk_size=64 << 10)
    yield running
    running.down()


@pytest.fixture(scope="session")
def mountpoint(fuse_cluster: LocalCluster,
               tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    # Outside pytest's private (0700) directory: the permission cases run as
    # another user, who must reach the mount point.
    point = Path(tempfile.mkdtemp(prefix="benchfs-mnt-"))
    point.chmod(0o755)
    mount(fuse_cluster.registry, point, "--allow-other")
    try:
        yield point
    finally:
        unmount(point)
        point.rmdir()


@pytest.fixture(scope="session")
def api(fuse_cluster: LocalCluster) -> Iterator[benchfs.Client]:
    """The drop-in API's client of the mounted cluster."""
    with benchfs.connect(fuse_cluster.registry) as client:
        yield client


class MountMirror(OsMirror):
    """The mount (plain os on its path) against the real os on a temp directory."""

    def __init__(self, client: benchfs.Client, mount_root: Path, local_root: str) -> None:
        case = f"/mnt{next(_case_numbers)}"
        super().__init__(client, case, local_root)
        self.bfs = ParitySide(Api(os), f"{mount_root}{case}")

    def both(self, probe):  # type: ignore[no-untyped-def]
        ours = capture(self.bfs, lambda: probe(os, self.bfs))
        theirs = capture(self.local, lambda: probe(os, self.local))
        self.log.append(f"probe {getattr(probe, '__name__', probe)} -> {theirs}")
        assert ours == theirs, (
            f"divergence in {getattr(probe, '__name__', probe)}: mount {ours} != os {theirs}\n"
            + "\n".join(self.log[-20:]))
        return theirs

    def each(self, probe):  # type: ignore[no-untyped-def]
        return probe(os, self.bfs), probe(os, self.local)

    def inside(self, rel: str = ""):  # type: ignore[no-untyped-def]
        pytest.skip("one process has one working directory: the mount and the oracle "
                    "cannot both be it")


@pytest.fixture
def fs(api: benchfs.Client, mountpoint: Path, tmp_path: Path,
       monkeypatch: pytest.MonkeyPatch) -> Iterator[OsMirror]:
    monkeypatch.setattr(benchfs._api, "_default", api)
    local_root = tmp_path / "oracle"
    local_root.mkdir()
    both = MountMirror(api, mountpoint, str(local_root))
    try:
        yield both
    finally:
        both.close_all()


@pytest.fixture
def mirror(api: benchfs.Client, mountpoint: Path, tmp_path: Path) -> Iterator[Mirror]:
    local_root = tmp_path / "oracle"
    local_root.mkdir()
    case = f"/mirror{next(_case_numbers)}"
    both = Mirror(api, case, str(local_root))
    both.bfs = Side(os, f"{mountpoint}{case}")
    yield both
    both.close_all()
