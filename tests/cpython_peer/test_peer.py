"""A bounded run of the CPython peer suite (peer.py): no regression against ext4.

The whole suite (peer.py's default modules) takes tens of minutes; CI runs the file-object
modules, whose tests all create their files relative to the working directory.
"""

from __future__ import annotations

import importlib.util
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

import benchfs
from tests.conftest import start_cluster
from tests.cpython_peer.known_differences import KNOWN_DIFFERENCES
from tests.cpython_peer.peer import Target, regressions, run_module

CI_MODULES = ("test_fileio", "test_file")
MODULE_TIMEOUT = 240  # a hang guard: each takes seconds
DOCS = Path(__file__).resolve().parents[2] / "docs" / "interpose.md"
SECTION = "## CPython regression suites"


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    running = start_cluster(tmp_path_factory.mktemp("cpython-peer"), 2, "sm,tcp")
    try:
        yield Target(str(running.registry), f"/bfs-peer-{uuid.uuid4().hex[:8]}")
    finally:
        running.down()


def _has_test_module(module: str) -> bool:
    try:
        return importlib.util.find_spec(f"test.{module}") is not None
    except ModuleNotFoundError:  # no test package at all
        return False


@pytest.mark.parametrize("module", CI_MODULES)
def test_no_regression_against_ext4(target: Target, tmp_path: Path, module: str) -> None:
    if not _has_test_module(module):
        pytest.skip("this interpreter ships without CPython's tests (Debian: "
                    "libpython3.X-testsuite, which scripts/setup.sh installs)")
    ext4 = run_module(module, tmp_path, MODULE_TIMEOUT)
    ours = run_module(module, tmp_path, MODULE_TIMEOUT, target)
    assert ext4.finished and ext4.counts()["ran"] > 0, ext4.stderr_tail
    assert ours.finished, f"stopped in {ours.stuck_in}:\n{ours.stderr_tail}"
    # The tests really ran in benchfs: their cwd is under the prefix, the probe the runner
    # wrote there (a relative open, like the tests' TESTFN) is a benchfs file, and
    # nothing of the prefix exists on the local disk.
    cwd = f"{target.prefix}/peer-{module}"
    assert (ours.cwd, ours.tmpdir) == (cwd, f"{target.prefix}/peer-tmp-{module}")
    with benchfs.connect(target.registry) as client:
        fd = client.open(f"/peer-{module}/cwd-probe", os.O_RDONLY)
        assert client.read(fd, 4096) == cwd.encode()
        client.close(fd)
    assert not os.path.exists(target.prefix)
    lost = regressions(ext4, ours)
    # Entries of tests this Python's module has (3.13 has more of them).
    known = {test for test in KNOWN_DIFFERENCES if test in ext4.outcomes}
    unexplained = {test: ours.details.get(test, outcome) for test, outcome in lost.items()
                   if test not in known}
    assert not unexplained, "\n\n".join(f"{test}: {why}" for test, why in unexplained.items())
    assert known <= set(lost), f"now pass on benchfs, drop from the list: {known - set(lost)}"


def test_every_known_difference_is_documented() -> None:
    section = DOCS.read_text().partition(SECTION)[2]
    assert section, f"no '{SECTION}' section in {DOCS}"
    missing = [test for test in KNOWN_DIFFERENCES if f"`{test}`" not in section]
    assert not missing, f"known differences without a row in the docs: {missing}"
