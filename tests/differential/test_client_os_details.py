"""Details of os's results and errors the client matches: statvfs's f_fsid, the
ResourceWarning of an unclosed scandir iterator, utime's TypeError for an ns value
whose __divmod__ answers no 2-tuple. Each compared with the real os on a temp dir."""

from __future__ import annotations

import gc
import os
import warnings
from pathlib import Path
from typing import Any

import pytest

import benchfs


def test_statvfs_has_an_fsid(parity_client: benchfs.Client, tmp_path: Path) -> None:
    ours, theirs = parity_client.statvfs("/"), os.statvfs(tmp_path)
    assert type(ours.f_fsid) is type(theirs.f_fsid) is int
    assert len(ours) == len(theirs)
    fd = parity_client.open("/", os.O_RDONLY)
    try:
        assert parity_client.fstatvfs(fd).f_fsid == ours.f_fsid
    finally:
        parity_client.close(fd)


def _unclosed_scandir_warnings(scandir: Any, path: Any) -> list[tuple[type, str]]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        iterator = scandir(path)
        next(iterator)
        del iterator
        gc.collect()
        exhausted = scandir(path)
        list(exhausted)
        del exhausted  # an exhausted iterator is closed: no warning
        gc.collect()
    return [(w.category, " ".join(str(w.message).split()[:3])) for w in caught]


def test_unclosed_scandir_warns(parity_client: benchfs.Client, tmp_path: Path) -> None:
    parity_client.makedirs("/scandir-warning/sub", exist_ok=True)
    (tmp_path / "sub").mkdir()
    ours = _unclosed_scandir_warnings(parity_client.scandir, "/scandir-warning")
    theirs = _unclosed_scandir_warnings(os.scandir, tmp_path)
    assert ours == theirs == [(ResourceWarning, "unclosed scandir iterator")]


class _BadDivmod:
    def __init__(self, answer: Any) -> None:
        self.answer = answer

    def __divmod__(self, other: Any) -> Any:
        return self.answer


@pytest.mark.parametrize("answer", [42, (), (1, 2, 3), [1, 2]])
def test_utime_ns_with_a_bad_divmod(parity_client: benchfs.Client, tmp_path: Path,
                                    answer: Any) -> None:
    parity_client.makedirs("/utime-ns", exist_ok=True)
    (tmp_path / "f").touch()
    fd = parity_client.open("/utime-ns/f", os.O_CREAT | os.O_WRONLY)
    parity_client.close(fd)

    def judged(utime: Any, path: Any) -> tuple[type, str]:
        try:
            utime(path, ns=(_BadDivmod(answer), 1))
        except Exception as exc:
            return type(exc), str(exc)
        return type(None), ""

    assert judged(parity_client.utime, "/utime-ns/f") == judged(os.utime, tmp_path / "f")
