"""benchfs file objects (Client.open_file, fdopen, RawFile) against the built-in open on a
real temporary directory: the same scenarios, compared outcome by outcome."""

from __future__ import annotations

import io
import itertools
import os
from pathlib import Path

import pytest

import benchfs
from benchfs.fileobj import RawFile
from tests.differential import fileobj_cases as cases
from tests.differential.fileobj_cases import FileSide

_dirs = itertools.count()


def _read_local(path: str) -> bytes:
    with open(path, "rb") as f:
        return f.read()


def _write_local(path: str, data: bytes) -> None:
    with open(path, "wb") as f:
        f.write(data)


def local_side(tmp_path: Path) -> FileSide:
    root = tmp_path / f"oracle{next(_dirs)}"
    root.mkdir()
    return FileSide(str(root), open, os.open, os.close, _read_local, _write_local)


def benchfs_side(client: benchfs.Client) -> FileSide:
    root = f"/fileobj{next(_dirs)}"
    client.mkdir(root)

    def read_raw(path: str) -> bytes:
        fd = client.open(path, os.O_RDONLY)
        try:
            return client.read(fd, 1 << 30)
        finally:
            client.close(fd)

    def write_raw(path: str, data: bytes) -> None:
        fd = client.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
        try:
            client.write(fd, data)
        finally:
            client.close(fd)

    return FileSide(root, client.open_file, client.open, client.close, read_raw, write_raw)


@pytest.fixture
def sides(parity_client: benchfs.Client, tmp_path: Path) -> tuple[FileSide, FileSide]:
    return local_side(tmp_path), benchfs_side(parity_client)


@pytest.mark.parametrize("exists", [True, False], ids=["exists", "new"])
@pytest.mark.parametrize("buffering", cases.BUFFERINGS)
@pytest.mark.parametrize("mode", cases.MODES)
def test_every_mode_and_buffering(sides: tuple[FileSide, FileSide], mode: str,
                                  buffering: int, exists: bool) -> None:
    oracle, ours = sides
    assert cases.mode_scenario(ours, mode, buffering, exists) == cases.mode_scenario(
        oracle, mode, buffering, exists)


@pytest.mark.parametrize("newline", [None, "", "\n", "\r", "\r\n"])
@pytest.mark.parametrize(("encoding", "errors"), [
    ("utf-8", None), ("latin-1", "strict"), ("utf-16", None), ("ascii", "replace"),
    ("utf-8", "surrogateescape"),
])
def test_text_encodings_and_newlines(sides: tuple[FileSide, FileSide], encoding: str,
                                     errors: str | None, newline: str | None) -> None:
    oracle, ours = sides
    assert cases.text_scenario(ours, encoding, errors, newline) == cases.text_scenario(
        oracle, encoding, errors, newline)


def test_bad_arguments(sides: tuple[FileSide, FileSide]) -> None:
    oracle, ours = sides
    assert cases.bad_arguments_scenario(ours) == cases.bad_arguments_scenario(oracle)


def test_descriptors_closefd_and_opener(sides: tuple[FileSide, FileSide]) -> None:
    oracle, ours = sides
    assert cases.descriptor_scenario(ours) == cases.descriptor_scenario(oracle)


def test_large_sequential_io_through_buffers(parity_client: benchfs.Client) -> None:
    """Reads and writes larger than the buffer and than a transfer piece, across
    chunks, land byte for byte."""
    data = os.urandom(3 << 20) + b"tail"
    with parity_client.open_file("/fileobj-large", "wb") as f:
        for start in range(0, len(data), 1 << 20):
            f.write(data[start:start + (1 << 20)])
    with parity_client.open_file("/fileobj-large", "rb") as f:
        assert f.read(1 << 20) == data[:1 << 20]
        into = bytearray(5 << 20)
        assert f.readinto(into) == len(data) - (1 << 20)
        assert bytes(into[:len(data) - (1 << 20)]) == data[1 << 20:]
    with parity_client.open_file("/fileobj-large", "rb", buffering=0) as raw:
        assert isinstance(raw, RawFile) and isinstance(raw, io.RawIOBase)
        assert raw.readall() == data


def test_default_client_entries(parity_client: benchfs.Client,
                                monkeypatch: pytest.MonkeyPatch) -> None:
    """benchfs.open_file and benchfs.fdopen work on the default client; fdopen of a
    descriptor that is not benchfs's is the host's."""
    monkeypatch.setenv("BENCHFS_REGISTRY", str(parity_client.registry))
    benchfs.disconnect()
    try:
        with benchfs.open_file("/fileobj-default", "w", encoding="utf-8") as f:
            assert isinstance(f, io.TextIOWrapper)
            f.write("default client")
        fd = benchfs.open("/fileobj-default", os.O_RDONLY)
        with benchfs.fdopen(fd, encoding="utf-8") as f:
            assert f.read() == "default client"
        with pytest.raises(OSError) as bad:
            os.fstat(fd)  # fdopen's file closed it
        assert bad.value.errno == 9
        read_end, write_end = os.pipe()
        with benchfs.fdopen(write_end, "wb") as pipe_out:
            assert type(pipe_out.raw) is io.FileIO
            pipe_out.write(b"host")
        with os.fdopen(read_end, "rb") as pipe_in:
            assert pipe_in.read() == b"host"
        with pytest.raises(TypeError, match="invalid fd type"):
            benchfs.fdopen("3")
    finally:
        benchfs.disconnect()
