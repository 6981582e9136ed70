"""Data through the mount: a random read/write/truncate/mmap checker in the spirit of
fsx against an in-memory model, and close-to-open between the mount and the API."""

from __future__ import annotations

import mmap
import os
import random
from pathlib import Path

import pytest

import benchfs

# Offsets and lengths span the small-file limit (4 KiB, inline), several pages and,
# with the cluster's chunk size, several chunks on different servers.
MAX_SIZE = 3 * (64 << 10) + 12345


def _random_bytes(rng: random.Random, length: int) -> bytes:
    return rng.randbytes(length)


class Model:
    """The file as it must be: a bytearray that every operation also changes."""

    def __init__(self) -> None:
        self.data = bytearray()

    def write(self, offset: int, data: bytes) -> None:
        if offset > len(self.data):
            self.data.extend(bytes(offset - len(self.data)))
        self.data[offset:offset + len(data)] = data

    def truncate(self, size: int) -> None:
        if size < len(self.data):
            del self.data[size:]
        else:
            self.data.extend(bytes(size - len(self.data)))


def _check_equal(fd: int, model: Model, step: str) -> None:
    assert os.fstat(fd).st_size == len(model.data), step
    assert os.pread(fd, len(model.data) + 10, 0) == bytes(model.data), step


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_random_operations_match_a_model(mountpoint: Path, seed: int) -> None:
    rng = random.Random(seed)
    path = mountpoint / f"fsx-{seed}"
    model = Model()
    fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o644)
    history: list[str] = []
    try:
        for number in range(300):
            size = len(model.data)
            kind = rng.choice(["write", "write", "read", "truncate", "mapread", "mapwrite",
                               "reopen"])
            offset = rng.randrange(0, MAX_SIZE)
            length = rng.randrange(1, 70_000)
            step = f"#{number} {kind} {offset} {length} (size {size}); {history[-8:]}"
            history.append(f"{kind}@{offset}+{length}")
            if kind == "write":
                data = _random_bytes(rng, min(length, MAX_SIZE - offset))
                assert os.pwrite(fd, data, offset) == len(data), step
                model.write(offset, data)
            elif kind == "read":
                got = os.pread(fd, length, offset)
                assert got == bytes(model.data[offset:offset + length]), step
            elif kind == "truncate":
                os.ftruncate(fd, offset)
                model.truncate(offset)
            elif kind == "reopen":  # close-to-open inside the mount: all still there
                os.close(fd)
                fd = os.open(path, os.O_RDWR)
                _check_equal(fd, model, step)
            elif size:  # mapped reads and writes, within the file as it is
                offset %= size
                length = min(length, size - offset)
                with mmap.mmap(fd, size) as mapped:
                    if kind == "mapread":
                        assert mapped[offset:offset + length] == model.data[
                            offset:offset + length], step
                    else:
                        data = _random_bytes(rng, length)
                        mapped[offset:offset + length] = data
                        mapped.flush()
                        model.write(offset, data)
        _check_equal(fd, model, "end")
    finally:
        os.close(fd)
    assert path.read_bytes() == bytes(model.data)


@pytest.mark.parametrize("size", [0, 100, 4096, 4097, 300_000])
def test_written_through_the_mount_reads_back_through_the_api(
        mountpoint: Path, api: benchfs.Client, size: int) -> None:
    data = os.urandom(size)
    (mountpoint / f"from-mount-{size}").write_bytes(data)
    fd = api.open(f"/from-mount-{size}", os.O_RDONLY)
    try:
        assert api.fstat(fd).st_size == size
        assert api.read(fd, size + 1) == data
    finally:
        api.close(fd)


@pytest.mark.parametrize("size", [0, 100, 4096, 4097, 300_000])
def test_written_through_the_api_reads_back_through_the_mount(
        mountpoint: Path, api: benchfs.Client, size: int) -> None:
    path = mountpoint / f"from-api-{size}"
    path.write_bytes(b"old contents, cached by the mount")
    assert path.read_bytes() == b"old contents, cached by the mount"  # now in its caches
    data = os.urandom(size)
    fd = api.open(f"/from-api-{size}", os.O_WRONLY | os.O_TRUNC)
    api.write(fd, data)
    api.close(fd)
    assert path.read_bytes() == data  # the open after the API's close sees it all


def test_a_rename_by_the_api_does_not_redirect_an_open_file(
        mountpoint: Path, api: benchfs.Client) -> None:
    (mountpoint / "kept").write_bytes(b"first")
    with open(mountpoint / "kept", "r+b") as handle:
        api.rename("/kept", "/elsewhere")
        api.close(api.open("/kept", os.O_CREAT | os.O_WRONLY))  # another file, same name
        handle.write(b"FIRST")
        handle.flush()
    fd = api.open("/elsewhere", os.O_RDONLY)
    try:
        assert api.read(fd, 100) == b"FIRST"
    finally:
        api.close(fd)
    assert api.stat("/kept").st_size == 0


def test_an_unlinked_open_file_lives_until_its_last_close(mountpoint: Path) -> None:
    path = mountpoint / "doomed"
    path.write_bytes(b"still here")
    fd = os.open(path, os.O_RDWR)
    try:
        os.unlink(path)
        assert not path.exists()
        assert os.pread(fd, 100, 0) == b"still here"
        os.pwrite(fd, b"STILL", 0)
        assert os.pread(fd, 100, 0) == b"STILL here"
        assert os.fstat(fd).st_nlink == 0
    finally:
        os.close(fd)
