"""The replacements of os, io and builtins functions behave like the builtins they
replace when a class stores them (``open = io.open``, tempfile's ``_unlink =
os.unlink``): no method binding; and they keep the real one's name, doc, __wrapped__
and signature."""

from __future__ import annotations

import _io
import builtins
import fcntl
import inspect
import io
import os
from typing import Any

import pytest

import benchfs
from benchfs.interpose import oscalls
from tests.interpose.conftest import Pair

_REAL = {name: getattr(os, name) for name in oscalls.wrappers()}


class _Stores:
    """A class defined while interposition runs, with the functions as attributes."""

    def __init__(self) -> None:
        cls = type(self)
        cls.open = io.open  # type: ignore[attr-defined]
        cls.builtin_open = builtins.open  # type: ignore[attr-defined]
        cls.unlink = os.unlink  # type: ignore[attr-defined]
        cls.stat = os.stat  # type: ignore[attr-defined]
        cls.listdir = os.listdir  # type: ignore[attr-defined]


def test_class_attributes_are_not_methods(bfs: benchfs.Interposition, pair: Pair) -> None:
    holder: Any = _Stores()
    for root in (pair.bfs.root, pair.local.root):
        path = f"{root}/held"
        with holder.open(path, "w") as f:
            f.write("abc")
        with holder.builtin_open(path) as f:
            assert f.read() == "abc"
        assert holder.stat(path).st_size == 3
        assert holder.listdir(root) == ["held"]
        holder.unlink(path)
        assert not os.path.exists(path)


@pytest.mark.parametrize("name", sorted(_REAL))
def test_os_wrappers_look_like_the_real_ones(bfs: benchfs.Interposition, name: str) -> None:
    wrapper, real = getattr(os, name), _REAL[name]
    assert wrapper is not real
    assert not hasattr(type(wrapper), "__set__")
    assert wrapper.__name__ == real.__name__
    assert wrapper.__doc__ == real.__doc__
    assert inspect.unwrap(wrapper) is real
    try:
        expected = inspect.signature(real)
    except ValueError:
        return
    assert inspect.signature(wrapper) == expected


_ORIGINALS = {"open": io.open, "open_code": io.open_code, "flock": fcntl.flock,
              "fcntl": fcntl.fcntl}


def test_io_and_fcntl_wrappers_are_not_methods(bfs: benchfs.Interposition,
                                               pair: Pair) -> None:
    path = f"{pair.local.root}/local"
    with open(path, "w") as f:
        f.write("local")
    functions = {"builtin_open": builtins.open, "io_open": io.open, "_io_open": _io.open,
                 "open_code": io.open_code, "flock": fcntl.flock, "fcntl": fcntl.fcntl}
    holder: Any = type("Holder", (), functions)()
    for name in ("builtin_open", "io_open", "_io_open", "open_code"):
        with getattr(holder, name)(path, "rb") if name != "open_code" else (
                holder.open_code(path)) as f:
            assert f.read() == b"local", name
    with open(path) as f:
        holder.flock(f.fileno(), fcntl.LOCK_SH)
        assert holder.fcntl(f.fileno(), fcntl.F_GETFD) & fcntl.FD_CLOEXEC  # non-inheritable
    for name, wrapper in functions.items():
        real = _ORIGINALS[name.removeprefix("builtin_").removeprefix("_io_").removeprefix(
            "io_")]
        assert wrapper is not real
        assert wrapper.__name__ == real.__name__
        assert inspect.unwrap(wrapper) is real
        assert inspect.signature(wrapper) == inspect.signature(real)
