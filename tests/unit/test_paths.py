"""benchfs.core.paths, with the real os module and posixpath as oracles."""

from __future__ import annotations

import errno
import os
import pathlib
import posixpath
import sys
import warnings
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from benchfs.core.paths import (
    NAME_MAX,
    PATH_MAX,
    ancestors,
    check_name_lengths,
    fspath_of,
    had_trailing_slash,
    is_ancestor,
    is_normalized,
    normalize,
    split,
)

MISSING = "/nonexistent-benchfs-unit-test-dir"


class StrPath:
    def __init__(self, value: object) -> None:
        self.value = value

    def __fspath__(self) -> Any:
        return self.value


def outcome(call: Any) -> tuple[str, str, tuple[str, ...]]:
    """What a call did: the exception type and message, or "ok", plus any warnings."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            call()
            result = ("ok", "")
        except (TypeError, ValueError) as exc:  # UnicodeEncodeError is a ValueError
            result = (type(exc).__name__, str(exc))
        except OSError:
            result = ("ok", "")  # the path was accepted and reached the kernel
    return result[0], result[1], tuple(f"{w.category.__name__}: {w.message}" for w in caught)


def ours(func: str, arg: object, allow_fd: bool) -> tuple[str, str, tuple[str, ...]]:
    return outcome(lambda: fspath_of(arg, func, allow_fd=allow_fd))


BAD_OR_ODD_ARGS: list[object] = [
    1.5,
    None,
    [b"x"],
    object(),
    bytearray(b"/x"),
    memoryview(b"/x"),
    "a\0b",
    b"a\0b",
    StrPath("a\0b"),
    StrPath(b"a\0b"),
    StrPath(3),
    StrPath(None),
    "\ud800",
    StrPath("\ud800"),
    MISSING + "/\udcff",
    os.fsencode(MISSING) + b"/\xff",
    pathlib.PurePosixPath(MISSING),
    StrPath(os.fsencode(MISSING)),
]


@pytest.mark.parametrize("arg", BAD_OR_ODD_ARGS, ids=repr)
@pytest.mark.parametrize(("func", "allow_fd"), [("stat", True), ("rmdir", False)])
def test_fspath_of_matches_os(func: str, allow_fd: bool, arg: object) -> None:
    expected = outcome(lambda: getattr(os, func)(arg))
    assert ours(func, arg, allow_fd) == expected


@pytest.mark.parametrize("arg", [0, 7, True])
def test_integers_are_rejected_like_a_path_only_function(arg: int) -> None:
    expected = outcome(lambda: os.rmdir(arg))  # type: ignore[arg-type]
    assert expected[0] == "TypeError"
    assert ours("rmdir", arg, allow_fd=False) == expected
    # fd-capable functions word it differently; the int itself is the caller's to handle.
    with pytest.raises(TypeError, match=r"stat: path should be .* or integer, not "):
        fspath_of(arg, "stat", allow_fd=True)


def test_messages_for_this_python() -> None:
    with pytest.raises(TypeError) as info:
        fspath_of(1.5, "stat", allow_fd=True)
    expected = "stat: path should be string, bytes, os.PathLike or integer, not float"
    assert str(info.value) == expected
    with pytest.raises(TypeError) as info:
        fspath_of(1.5, "mkdir")
    assert str(info.value) == "mkdir: path should be string, bytes or os.PathLike, not float"
    with pytest.raises(ValueError) as vinfo:
        fspath_of("a\0", "open")
    if sys.version_info >= (3, 13):
        assert str(vinfo.value) == "open: embedded null character in path"
    else:
        assert str(vinfo.value) == "embedded null byte"


def test_conversions() -> None:
    assert fspath_of("/a", "stat") == "/a"
    assert fspath_of(b"/a", "stat") == "/a"
    assert fspath_of(b"/\xff", "stat") == "/\udcff"
    assert fspath_of(pathlib.PurePosixPath("/a/b"), "stat") == "/a/b"
    assert fspath_of(StrPath(b"/a"), "stat") == "/a"


@settings(max_examples=150, deadline=None)
@given(st.one_of(st.text(max_size=20), st.binary(max_size=20)))
def test_fspath_of_matches_os_on_arbitrary_names(name: str | bytes) -> None:
    arg: str | bytes = (MISSING + "/" + name) if isinstance(name, str) else (
        os.fsencode(MISSING) + b"/" + name
    )
    expected = outcome(lambda: os.stat(arg))
    assert ours("stat", arg, True) == expected
    if expected[0] == "ok":
        assert os.fsencode(fspath_of(arg, "stat")) == os.fsencode(arg)


# -- normalize ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "cwd", "expected"),
    [
        ("/", "/", "/"),
        ("", "/x", "/x"),
        (".", "/x/y", "/x/y"),
        ("..", "/x/y", "/x"),
        ("../../..", "/x/y", "/"),
        ("/..", "/x", "/"),
        ("//a///b/", "/", "/a/b"),
        ("a/./b/.", "/c", "/c/a/b"),
        ("a/../b", "/c", "/c/b"),
        ("/a/b/../../..//c", "/", "/c"),
        ("a", "//x//", "/x/a"),
    ],
)
def test_normalize_examples(path: str, cwd: str, expected: str) -> None:
    assert normalize(path, cwd) == expected


def test_normalize_needs_absolute_cwd() -> None:
    with pytest.raises(ValueError):
        normalize("a", "rel")


segments = st.lists(st.sampled_from(["a", "b", "é", ".", "..", "", "..."]), max_size=8)
path_texts = st.builds(lambda parts, absolute: ("/" if absolute else "") + "/".join(parts),
                       segments, st.booleans())
cwds = st.builds(lambda parts: "/" + "/".join(parts),
                 st.lists(st.sampled_from(["x", "y", "z"]), max_size=3))


@given(path_texts, cwds)
def test_normalize_agrees_with_posixpath(path: str, cwd: str) -> None:
    expected = posixpath.normpath(posixpath.join(cwd, path))
    if expected.startswith("//"):  # POSIX keeps a leading "//"; benchfs has one root
        expected = "/" + expected.lstrip("/")
    result = normalize(path, cwd)
    assert result == expected
    assert normalize(result) == result
    assert result.startswith("/") and "//" not in result
    assert result == "/" or not result.endswith("/")
    assert "/./" not in result + "/" and "/../" not in result + "/"


@given(path_texts)
def test_is_normalized_is_normalize_leaving_the_path_alone(path: str) -> None:
    assert is_normalized(path) == (path.startswith("/") and normalize(path) == path)


# -- had_trailing_slash -----------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/", False), ("//", False), ("/a", False), ("a", False), ("a.", False),
        ("/a/", True), ("a/", True), ("a//", True), ("/a/.", True), ("a/..", True),
        (".", True), ("..", True), ("/a/.b", False), ("/a/b..", False),
    ],
)
def test_had_trailing_slash(path: str, expected: bool) -> None:
    assert had_trailing_slash(path) is expected


def test_trailing_slash_oracle(tmp_path: pathlib.Path) -> None:
    """Where Linux gives ENOTDIR for a regular file, had_trailing_slash says so."""
    (tmp_path / "f").write_bytes(b"")
    for suffix in ["", "/", "/."]:
        path = str(tmp_path / "f") + suffix
        try:
            os.stat(path)
            kernel_wants_dir = False
        except NotADirectoryError:
            kernel_wants_dir = True
        assert had_trailing_slash(path) is kernel_wants_dir, path


# -- split, is_ancestor, ancestors --------------------------------------------------

norm_paths = st.builds(
    lambda parts: "/" + "/".join(parts),
    st.lists(st.sampled_from(["a", "b", "ab", "a b", "é"]), max_size=5),
)


def test_split_examples() -> None:
    assert split("/") == ("/", "")
    assert split("/a") == ("/", "a")
    assert split("/a/b") == ("/a", "b")


@given(norm_paths)
def test_split_and_ancestors_agree(path: str) -> None:
    parent, name = split(path)
    if path == "/":
        assert ancestors(path) == []
        return
    assert posixpath.join(parent, name) == path
    assert "/" not in name and name
    chain = ancestors(path)
    assert chain[0] == "/"
    assert chain[-1] == parent
    assert len(chain) == path.count("/")
    assert all(is_ancestor(a, path) for a in chain)


@given(norm_paths, norm_paths)
def test_is_ancestor_matches_ancestors(a: str, b: str) -> None:
    assert is_ancestor(a, b) == (a in ancestors(b))
    assert not (is_ancestor(a, b) and is_ancestor(b, a))


def test_is_ancestor_examples() -> None:
    assert is_ancestor("/", "/a")
    assert is_ancestor("/a", "/a/b/c")
    assert not is_ancestor("/a", "/ab")
    assert not is_ancestor("/a", "/a")
    assert not is_ancestor("/", "/")
    assert ancestors("/a/b/c") == ["/", "/a", "/a/b"]


# -- name lengths ---------------------------------------------------------------------


def kernel_says_too_long(path: str) -> bool:
    try:
        os.lstat(path)
    except OSError as exc:
        return exc.errno == errno.ENAMETOOLONG
    return False


@pytest.mark.parametrize(
    "path",
    [
        # Names directly under "/": the kernel reports a long name only in a directory
        # that exists (a missing parent gives ENOENT first).
        "/" + "a" * NAME_MAX,
        "/" + "a" * (NAME_MAX + 1),
        "/" + "é" * 127,  # 254 bytes
        "/" + "é" * 128,  # 256 bytes: the limit counts bytes, not characters
        "/" + "\udcff" * 255,
        "/" + "\udcff" * 256,
        "/" + "a/" * ((PATH_MAX - 2) // 2) + "a",  # 4095 bytes
        "/" + "a/" * ((PATH_MAX - 2) // 2) + "ab",  # 4096 bytes
    ],
    ids=lambda p: f"{len(os.fsencode(p))}B-{len(max(os.fsencode(p).split(b'/'), key=len))}",
)
def test_check_name_lengths_matches_kernel(path: str) -> None:
    expected = errno.ENAMETOOLONG if kernel_says_too_long(path) else None
    assert check_name_lengths(path) == expected


def test_check_name_lengths_examples() -> None:
    assert check_name_lengths("/a/b") is None
    assert check_name_lengths("/" + "x" * 256) == errno.ENAMETOOLONG
    assert check_name_lengths("/" + "x" * 255) is None
