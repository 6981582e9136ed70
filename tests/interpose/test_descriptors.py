"""benchfs descriptor numbers are real kernel descriptors that refuse I/O: a C library
that bypasses Python and reads or writes one gets EBADF, never another file's data."""

from __future__ import annotations

import ctypes
import errno
import fcntl
import mmap
import os
from collections.abc import Callable, Iterator
from typing import Any

import pytest

import benchfs

_libc = ctypes.CDLL(None, use_errno=True)


@pytest.fixture
def bfs_fd(bfs_client: benchfs.Client) -> Iterator[int]:
    fd = bfs_client.open("/descriptor-file", os.O_CREAT | os.O_RDWR | os.O_TRUNC)
    bfs_client.write(fd, b"benchfs data")
    bfs_client.lseek(fd, 0, os.SEEK_SET)
    yield fd
    bfs_client.close(fd)


def _ebadf(call: Callable[[], Any]) -> None:
    with pytest.raises(OSError) as refused:
        call()
    assert refused.value.errno == errno.EBADF


def test_the_kernel_refuses_python_level_io(bfs_fd: int) -> None:
    _ebadf(lambda: os.read(bfs_fd, 10))
    _ebadf(lambda: os.write(bfs_fd, b"lost?"))
    _ebadf(lambda: os.pread(bfs_fd, 10, 0))
    _ebadf(lambda: os.pwrite(bfs_fd, b"lost?", 0))
    _ebadf(lambda: os.lseek(bfs_fd, 0, os.SEEK_SET))
    _ebadf(lambda: os.fsync(bfs_fd))
    _ebadf(lambda: os.fchmod(bfs_fd, 0o600))
    _ebadf(lambda: mmap.mmap(bfs_fd, 4))
    with pytest.raises(NotADirectoryError):
        os.fchdir(bfs_fd)  # /dev/null: the working directory stays


def test_a_c_library_gets_ebadf(bfs_client: benchfs.Client, bfs_fd: int) -> None:
    buffer = ctypes.create_string_buffer(16)
    for result in (_libc.read(bfs_fd, buffer, 16), _libc.write(bfs_fd, b"lost?", 5)):
        assert result == -1 and ctypes.get_errno() == errno.EBADF
    assert buffer.raw == b"\0" * 16
    # The file is untouched, and benchfs still reads it through the same number.
    assert bfs_client.read(bfs_fd, 100) == b"benchfs data"


def test_numbers_are_held_and_unique(bfs_client: benchfs.Client, bfs_fd: int) -> None:
    assert fcntl.fcntl(bfs_fd, fcntl.F_GETFL) & os.O_PATH
    assert fcntl.fcntl(bfs_fd, fcntl.F_GETFD) & fcntl.FD_CLOEXEC
    real = os.open(os.devnull, os.O_RDONLY)
    second = bfs_client.dup(bfs_fd)
    try:
        assert len({real, bfs_fd, second}) == 3
        assert fcntl.fcntl(second, fcntl.F_GETFL) & os.O_PATH
    finally:
        os.close(real)
        bfs_client.close(second)
    _ebadf(lambda: os.fstat(second))  # closed with its benchfs descriptor
