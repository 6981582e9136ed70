"""File objects through interposition: the built-in open (and io.open, _io.open,
io.FileIO, io.open_code, os.fdopen) on /bfs/... against the built-in open on a local
directory, in every mode; the same scenarios as the fileobj differential tests."""

from __future__ import annotations

import _io
import io
import os

import pytest

import benchfs
from benchfs.fileobj import RawFile
from benchfs.interpose import files
from tests.differential import fileobj_cases as cases
from tests.interpose.conftest import PREFIX, Pair


@pytest.mark.parametrize("exists", [True, False], ids=["exists", "new"])
@pytest.mark.parametrize("buffering", cases.BUFFERINGS)
@pytest.mark.parametrize("mode", cases.MODES)
def test_every_mode_and_buffering(pair: Pair, mode: str, buffering: int, exists: bool) -> None:
    assert cases.mode_scenario(pair.bfs, mode, buffering, exists) == cases.mode_scenario(
        pair.local, mode, buffering, exists)


@pytest.mark.parametrize("newline", [None, "", "\r\n"])
@pytest.mark.parametrize(("encoding", "errors"), [("utf-8", None), ("utf-16", None),
                                                  ("ascii", "replace")])
def test_text(pair: Pair, encoding: str, errors: str | None, newline: str | None) -> None:
    assert cases.text_scenario(pair.bfs, encoding, errors, newline) == cases.text_scenario(
        pair.local, encoding, errors, newline)


def test_bad_arguments(pair: Pair) -> None:
    assert cases.bad_arguments_scenario(pair.bfs) == cases.bad_arguments_scenario(pair.local)


def test_descriptors_closefd_and_opener(pair: Pair) -> None:
    assert cases.descriptor_scenario(pair.bfs) == cases.descriptor_scenario(pair.local)


def test_every_open_is_routed(bfs: benchfs.Interposition, pair: Pair) -> None:
    path = f"{pair.bfs.root}/every"
    for index, opener in enumerate((open, io.open, _io.open)):
        with opener(path, "a", encoding="utf-8") as f:
            assert isinstance(f, io.TextIOWrapper) and isinstance(f.buffer.raw, RawFile)
            f.write(str(index))
    with io.FileIO(path, "r") as raw:
        assert isinstance(raw, RawFile) and isinstance(raw, io.FileIO)
        assert raw.readall() == b"012" and raw.name == path
    with io.open_code(path) as code:
        assert isinstance(code, io.BufferedReader) and code.read() == b"012"
    fd = os.open(path, os.O_RDONLY)
    with os.fdopen(fd, "rb") as f:
        assert f.read() == b"012" and f.name == fd
    assert bfs.client.stat(path[len(PREFIX):]).st_size == 3  # the cluster holds it
    # Outside the prefix, the kernel's own objects, unchanged.
    local = f"{pair.local.root}/every"
    with open(local, "wb", buffering=0) as f:
        # (files.RealFileIO: a name imported here would be rebound to the stand-in.)
        assert type(f) is files.RealFileIO and isinstance(f, io.FileIO)
    with io.FileIO(local) as f:
        assert isinstance(f, io.FileIO) and not isinstance(f, RawFile)


def test_an_opener_returning_a_benchfs_descriptor(pair: Pair) -> None:
    """open(name, opener=partial(os.open, dir_fd=benchfs_dir)) with a relative name
    makes a benchfs file object, as the descriptor says."""
    os.mkdir(f"{pair.bfs.root}/d")
    dir_fd = os.open(f"{pair.bfs.root}/d", os.O_RDONLY)
    try:
        with open("rel", "w", encoding="utf-8",
                  opener=lambda name, flags: os.open(name, flags, 0o644, dir_fd=dir_fd)) as f:
            assert isinstance(f.buffer.raw, RawFile) and f.name == "rel"
            f.write("relative to a benchfs directory")
    finally:
        os.close(dir_fd)
    with open(f"{pair.bfs.root}/d/rel", encoding="utf-8") as f:
        assert f.read() == "relative to a benchfs directory"
