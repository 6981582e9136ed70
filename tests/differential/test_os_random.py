"""Random operation sequences (hypothesis), run against benchfs and the real os."""

from __future__ import annotations

import itertools
import os
import shutil
import tempfile

import hypothesis.strategies as st
import pytest
from hypothesis import settings
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

import benchfs
from tests.differential.mirror import F, Mirror, P

# Few names, so that operations collide: creating what exists, removing what is open…
NAMES = ["a", "b", "d", "d/a", "d/e", "d/e/f", "a/x"]
FD_NAMES = ["f1", "f2", "f3"]
FLAGS = [
    os.O_RDONLY, os.O_WRONLY, os.O_RDWR, os.O_CREAT | os.O_RDWR, os.O_CREAT | os.O_WRONLY,
    os.O_CREAT | os.O_EXCL | os.O_RDWR, os.O_RDWR | os.O_TRUNC, os.O_WRONLY | os.O_APPEND,
    os.O_CREAT | os.O_RDWR | os.O_APPEND,
]
# Offsets around the 64 KiB chunk size of the random-run cluster.
OFFSETS = st.sampled_from([0, 1, 4095, 65535, 65536, 65537, 200_000]) | st.integers(0, 300_000)
DATA = st.binary(max_size=2048) | st.integers(0, 150_000).map(lambda n: bytes([n % 251]) * n)

_roots = itertools.count()


class OsParity(RuleBasedStateMachine):
    client: benchfs.Client  # set by the test before the run
    steps_run = 0

    @initialize()
    def fresh_roots(self) -> None:
        self.local_root = tempfile.mkdtemp(prefix="bfs-oracle-")
        # The process id keeps two runs on one cluster apart (the multi-host test's).
        self.mirror = Mirror(self.client, f"/random{os.getpid()}-{next(_roots)}",
                             self.local_root)

    def teardown(self) -> None:
        if hasattr(self, "mirror"):
            self.mirror.close_all()
            shutil.rmtree(self.local_root, ignore_errors=True)

    @rule(name=st.sampled_from(NAMES), flags=st.sampled_from(FLAGS),
          fd=st.sampled_from(FD_NAMES))
    def open(self, name: str, flags: int, fd: str) -> None:
        if fd in self.mirror.local.fds:
            self.mirror("close", F(fd))
        self.mirror("open", P(name), flags, 0o644, bind=fd)

    @rule(fd=st.sampled_from(FD_NAMES))
    def close(self, fd: str) -> None:
        self.mirror("close", F(fd))

    @rule(fd=st.sampled_from(FD_NAMES), data=DATA)
    def write(self, fd: str, data: bytes) -> None:
        self.mirror("write", F(fd), data)

    @rule(fd=st.sampled_from(FD_NAMES), data=DATA, offset=OFFSETS)
    def pwrite(self, fd: str, data: bytes, offset: int) -> None:
        self.mirror("pwrite", F(fd), data, offset)

    @rule(fd=st.sampled_from(FD_NAMES), length=st.integers(0, 300_000))
    def read(self, fd: str, length: int) -> None:
        self.mirror("read", F(fd), length)

    @rule(fd=st.sampled_from(FD_NAMES), length=st.integers(0, 300_000), offset=OFFSETS)
    def pread(self, fd: str, length: int, offset: int) -> None:
        self.mirror("pread", F(fd), length, offset)

    @rule(fd=st.sampled_from(FD_NAMES), offset=st.integers(-70_000, 300_000),
          whence=st.sampled_from([os.SEEK_SET, os.SEEK_CUR, os.SEEK_END]))
    def lseek(self, fd: str, offset: int, whence: int) -> None:
        self.mirror("lseek", F(fd), offset, whence)

    @rule(fd=st.sampled_from(FD_NAMES))
    def fstat_and_fsync(self, fd: str) -> None:
        self.mirror("fstat", F(fd))
        self.mirror("fsync", F(fd))

    @rule(name=st.sampled_from(NAMES))
    def mkdir(self, name: str) -> None:
        self.mirror("mkdir", P(name), 0o755)

    @rule(name=st.sampled_from(NAMES))
    def rmdir(self, name: str) -> None:
        self.mirror("rmdir", P(name))

    @rule(name=st.sampled_from(NAMES))
    def unlink(self, name: str) -> None:
        self.mirror("unlink", P(name))

    @rule(name=st.sampled_from(NAMES))
    def stat(self, name: str) -> None:
        self.mirror("stat", P(name))
        self.mirror("lstat", P(name))

    @rule(src=st.sampled_from(NAMES), dst=st.sampled_from(NAMES))
    def rename(self, src: str, dst: str) -> None:
        self.mirror("rename", P(src), P(dst))

    @rule(src=st.sampled_from(NAMES), dst=st.sampled_from(NAMES))
    def link(self, src: str, dst: str) -> None:
        self.mirror("link", P(src), P(dst))

    @rule(link_target=st.sampled_from(NAMES + ["d/../a", "nowhere", "d/e/../../b"]),
          name=st.sampled_from(NAMES))
    def symlink(self, link_target: str, name: str) -> None:
        # Relative targets only: absolute ones would point outside each side's root.
        self.mirror("symlink", link_target, P(name))

    @rule(name=st.sampled_from(NAMES))
    def readlink(self, name: str) -> None:
        self.mirror("readlink", P(name))

    @rule(name=st.sampled_from(NAMES), mode=st.sampled_from([0o600, 0o755, 0o444, 0o1777]))
    def chmod(self, name: str, mode: int) -> None:
        self.mirror("chmod", P(name), mode)

    @rule(name=st.sampled_from(NAMES), length=OFFSETS)
    def truncate(self, name: str, length: int) -> None:
        self.mirror("truncate", P(name), length)

    @rule(fd=st.sampled_from(FD_NAMES), length=OFFSETS)
    def ftruncate(self, fd: str, length: int) -> None:
        self.mirror("ftruncate", F(fd), length)

    @rule(name=st.sampled_from(NAMES),
          times=st.tuples(st.integers(0, 2**31), st.integers(0, 2**31)))
    def utime(self, name: str, times: tuple[int, int]) -> None:
        self.mirror("utime", P(name), ns=times)
        self.mirror("stat", P(name), project=lambda result: (result.st_atime_ns,
                                                                result.st_mtime_ns))

    @invariant()
    def listings_agree(self) -> None:
        if hasattr(self, "mirror"):
            OsParity.steps_run += 1  # invariants run once after every step
            self.mirror("listdir", P(""))


def run_random_parity(client: benchfs.Client, examples: int, steps: int) -> int:
    """Run the state machine; the number of steps it took."""
    OsParity.client = client
    OsParity.steps_run = 0
    OsParity.TestCase.settings = settings(
        max_examples=examples, stateful_step_count=steps, deadline=None, database=None,
    )
    OsParity.TestCase().runTest()
    return OsParity.steps_run


def test_random_sequences_match_os(random_client: benchfs.Client) -> None:
    # A few hundred steps in CI; every one compared with the real os.
    assert run_random_parity(random_client, examples=10, steps=40) >= 200


@pytest.mark.slow
def test_long_random_run_matches_os(random_client: benchfs.Client) -> None:
    """The long run, at least BFS_RANDOM_STEPS steps (10 000 by default); run it with
    pytest --hypothesis-seed=N to make it reproducible."""
    target = int(os.environ.get("BFS_RANDOM_STEPS", "10000"))
    total = run_random_parity(random_client, examples=max(1, target // 20), steps=50)
    print(f"random differential run: {total} steps, 0 divergences")
    assert total >= target
