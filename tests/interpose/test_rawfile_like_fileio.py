"""A benchfs raw file is shown and fails as io.FileIO is and does: its repr, a directory
descriptor handed to FileIO (the caller's descriptor stays open), a bool descriptor's
warning (3.13: pointing at the caller's line)."""

from __future__ import annotations

import io
import os
import sys
import warnings
from typing import Any

import pytest

import benchfs
from tests.interpose.conftest import Pair


def test_repr(bfs: benchfs.Interposition, pair: Pair) -> None:
    def probe(root: str) -> Any:
        path = f"{root}/f"
        shown = []
        for mode in ("wb", "rb", "ab+"):
            raw = io.FileIO(path, mode)
            shown.append(repr(raw))
            raw.close()
            shown.append(repr(raw))
        fd = os.open(path, os.O_RDONLY)
        raw = io.FileIO(fd, closefd=False)
        shown.append(repr(raw).replace(str(fd), "FD"))
        del raw.name
        shown.append(repr(raw).replace(str(fd), "FD"))
        raw.close()
        os.close(fd)
        with open(path, "rb", buffering=0) as f:
            shown.append(repr(f))
        return shown

    pair.both(probe)


def test_a_directory_descriptor_stays_open(bfs: benchfs.Interposition, pair: Pair) -> None:
    def probe(root: str) -> Any:
        fd = os.open(root, os.O_RDONLY)
        try:
            try:
                io.FileIO(fd)
            except OSError as exc:
                failed = (type(exc), exc.errno, exc.filename == fd)
            return failed, os.fstat(fd).st_mode & 0o170000
        finally:
            os.close(fd)

    pair.both(probe)


@pytest.mark.skipif(sys.version_info < (3, 13), reason="the warning is new in 3.13")
def test_bool_descriptor_warning_points_at_the_caller(bfs: benchfs.Interposition,
                                                      pair: Pair) -> None:
    def probe(root: str) -> Any:
        seen = []
        for make in (lambda: io.FileIO(False, closefd=False),
                     lambda: open(False, "rb", closefd=False)):
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                make().close()
            seen.append([(w.category, str(w.message), w.filename) for w in caught])
        return seen

    seen = pair.both(probe)
    assert seen[1][0][0][2] == __file__, seen
