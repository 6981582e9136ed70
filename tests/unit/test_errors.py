"""benchfs.core.errors, compared with the errors real os calls raise."""

from __future__ import annotations

import errno
import os
import pathlib
from collections.abc import Callable

import pytest

from benchfs.core.errors import FAILURE_ERRNOS, check_status, is_failure, os_error


def raised_by(call: Callable[[], object]) -> OSError:
    with pytest.raises(OSError) as info:
        call()
    return info.value


def assert_same_error(ours: OSError, real: OSError) -> None:
    assert type(ours) is type(real)
    assert ours.errno == real.errno
    assert ours.strerror == real.strerror
    assert ours.filename == real.filename
    assert ours.filename2 == real.filename2
    assert ours.args == real.args
    assert str(ours) == str(real)


def test_matches_real_os_errors(tmp_path: pathlib.Path) -> None:
    missing = str(tmp_path / "missing")
    a_file = tmp_path / "file"
    a_file.write_bytes(b"")
    a_dir = tmp_path / "dir"
    a_dir.mkdir()
    (a_dir / "child").write_bytes(b"")
    cases: list[tuple[int, Callable[[], object], tuple[object, ...]]] = [
        (errno.ENOENT, lambda: os.stat(missing), (missing,)),
        (errno.ENOENT, lambda: os.stat(os.fsencode(missing)), (os.fsencode(missing),)),
        # os reports os.fspath() of the caller's object: a Path's str, bytes as bytes.
        (errno.EEXIST, lambda: os.mkdir(a_dir), (a_dir,)),
        (errno.ENOENT, lambda: os.rename(pathlib.Path(missing), a_dir / "x"),
         (pathlib.Path(missing), a_dir / "x")),
        (errno.ENOTDIR, lambda: os.rmdir(str(a_file)), (str(a_file),)),
        (errno.ENOTDIR, lambda: os.listdir(str(a_file)), (str(a_file),)),
        (errno.EISDIR, lambda: os.open(str(a_dir), os.O_WRONLY), (str(a_dir),)),
        (errno.ENOTEMPTY, lambda: os.rmdir(str(a_dir)), (str(a_dir),)),
        (errno.ENOENT, lambda: os.rename(missing, "x"), (missing, "x")),
        (errno.EEXIST, lambda: os.link(str(a_file), str(a_dir)), (str(a_file), str(a_dir))),
        (errno.ENOTDIR, lambda: os.replace(str(a_dir), str(a_file)), (str(a_dir), str(a_file))),
        (errno.EBADF, lambda: os.fstat(10_000), ()),
    ]
    for err, call, names in cases:
        real = raised_by(call)
        assert real.errno == err, (call, real)
        assert_same_error(os_error(err, *names), real)


@pytest.mark.parametrize(
    ("err", "cls"),
    [
        (errno.ENOENT, FileNotFoundError),
        (errno.EEXIST, FileExistsError),
        (errno.EISDIR, IsADirectoryError),
        (errno.ENOTDIR, NotADirectoryError),
        (errno.EACCES, PermissionError),
        (errno.EPERM, PermissionError),
        (errno.ETIMEDOUT, TimeoutError),
        (errno.ECONNREFUSED, ConnectionRefusedError),
        (errno.ECONNRESET, ConnectionResetError),
        (errno.EAGAIN, BlockingIOError),
        (errno.EINTR, InterruptedError),
    ],
)
def test_subclass_chosen(err: int, cls: type[OSError]) -> None:
    exc = os_error(err, "/p")
    assert type(exc) is cls
    assert str(exc) == f"[Errno {err}] {os.strerror(err)}: '/p'"


@pytest.mark.parametrize("err", [errno.ENOTEMPTY, errno.EIO, errno.EXDEV, errno.ENAMETOOLONG])
def test_errors_without_a_subclass_stay_oserror(err: int) -> None:
    assert type(os_error(err)) is OSError
    assert str(os_error(err)) == f"[Errno {err}] {os.strerror(err)}"


def test_filenames() -> None:
    assert os_error(errno.ENOENT).filename is None
    exc = os_error(errno.EXDEV, "/a", "/b")
    assert (exc.filename, exc.filename2) == ("/a", "/b")
    assert str(exc) == f"[Errno {errno.EXDEV}] {os.strerror(errno.EXDEV)}: '/a' -> '/b'"
    assert os_error(errno.ENOENT, "/a").filename2 is None


def test_check_status() -> None:
    check_status(0)
    check_status(0, "/a", "/b")
    with pytest.raises(FileNotFoundError) as info:
        check_status(errno.ENOENT, "/a")
    assert info.value.filename == "/a"
    with pytest.raises(FileExistsError) as exists:
        check_status(-errno.EEXIST, "/a", "/b")
    assert exists.value.errno == errno.EEXIST
    assert exists.value.filename2 == "/b"


def test_failure_errnos() -> None:
    assert FAILURE_ERRNOS == {
        errno.ETIMEDOUT, errno.EIO, errno.ENOTCONN, errno.ECONNRESET,
        errno.ECONNREFUSED, errno.EHOSTUNREACH,
    }
    assert is_failure(errno.ETIMEDOUT)
    assert not is_failure(errno.ENOENT)
    assert not is_failure(0)
