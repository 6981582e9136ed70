"""File-object scenarios run on two sides and compared: the built-in ``open`` on a real
temporary directory (the oracle) and benchfs file objects (``Client.open_file``, or the
built-in ``open`` itself under interposition). Each scenario returns a list of outcomes:
results, exception types, errno and messages, with each side's root taken out.
"""

from __future__ import annotations

import io
import os
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

# Every mode open() accepts, in both spellings of text.
MODES = ["r", "rb", "rt", "r+", "rb+", "r+t", "w", "wb", "wt", "w+", "wb+", "a", "ab", "a+",
         "ab+", "at", "x", "xb", "x+", "xb+"]
BUFFERINGS = [0, 1, -1, 5, 4096]
BAD_MODES = ["", "z", "rr", "rw", "wa", "tb", "bt", "+", "b", "t", "r++", "rbb", "xw", "U",
             "rU", "wU", "rwb", "aw+"]
SEED = "line one\nline two\r\nline three\rlast"


@dataclass
class FileSide:
    """How one side opens files and sees its directory."""

    root: str
    open: Callable[..., Any]
    os_open: Callable[..., int]  # a descriptor for fd-based open()
    os_close: Callable[[int], None]
    read_raw: Callable[[str], bytes]  # the bytes a path holds, read by other means
    write_raw: Callable[[str, bytes], None]

    def path(self, rel: str) -> str:
        return f"{self.root}/{rel}"

    def scrub(self, value: Any) -> Any:
        if isinstance(value, str):
            return value.replace(self.root, "<root>")
        if isinstance(value, bytes):
            return value.replace(os.fsencode(self.root), b"<root>")
        if isinstance(value, (list, tuple)):
            return type(value)(self.scrub(item) for item in value)
        if isinstance(value, os.PathLike):
            return ("path", self.scrub(os.fspath(value)))
        return value


def outcome(side: FileSide, call: Callable[[], Any]) -> tuple[Any, ...]:
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            result = call()
    except OSError as exc:
        return ("raise", type(exc), exc.errno, side.scrub(exc.filename),
                side.scrub(str(exc)) if exc.errno is None else None)
    except (ValueError, TypeError, LookupError) as exc:
        return ("raise", type(exc), side.scrub(str(exc)))
    return ("value", side.scrub(result), [(w.category, str(w.message)) for w in caught])


def kind(f: Any) -> str:
    """The class of a file object, a raw one named alike on both sides."""
    if isinstance(f, io.RawIOBase):
        return "raw"
    return type(f).__name__


def describe(f: Any) -> tuple[Any, ...]:
    raw = getattr(getattr(f, "buffer", f), "raw", getattr(f, "buffer", f))
    return (kind(f), f.mode, f.name, f.readable(), f.writable(), f.seekable(), f.isatty(),
            f.closed, getattr(f, "line_buffering", None), getattr(f, "encoding", None),
            raw.mode, raw.closefd, kind(raw))


def exercise(side: FileSide, f: Any, text: bool) -> list[Any]:
    """Everything a file object does, in an order that makes each step matter."""
    data: Any = "grün\nzwei\r\ndrei" if text else b"\x00bin\nary\r\ndata"
    steps: list[Callable[[], Any]] = [
        lambda: describe(f),
        f.tell,
        lambda: f.read(3),
        f.tell,
        f.readline,
        lambda: f.write(data),
        f.flush,
        f.tell,
        lambda: f.seek(0),
        f.read,
        lambda: f.seek(2),
        lambda: f.readlines(),
        lambda: f.seek(0),
        lambda: list(f),
        lambda: f.seek(0, os.SEEK_END),
        lambda: f.seek(1, os.SEEK_SET),
        lambda: f.truncate(),
        lambda: f.truncate(40),
        f.tell,
        lambda: f.seek(0),
        lambda: f.read(100),
    ]
    if not text:
        buffer = bytearray(6)
        steps += [lambda: f.seek(0), lambda: f.readinto(buffer), lambda: bytes(buffer),
                  lambda: f.seek(-2, os.SEEK_END) if f.seekable() else None,
                  lambda: f.read1(10) if hasattr(f, "read1") else f.read(10)]
    else:
        steps += [lambda: f.seek(0), lambda: f.newlines, lambda: f.seek(0, os.SEEK_END),
                  lambda: f.write("tail\n"), lambda: f.seek(0), lambda: f.read()]
    steps += [f.close, lambda: f.closed, f.close]
    steps += [lambda: f.read(), lambda: f.write(data), lambda: f.seek(0), f.tell,
              f.fileno, f.readable, f.writable, f.seekable, f.flush, lambda: next(iter(f)),
              lambda: f.truncate(0), f.isatty]
    return [outcome(side, step) for step in steps]


def mode_scenario(side: FileSide, mode: str, buffering: int, exists: bool) -> list[Any]:
    name = side.path("f")
    if exists:
        side.write_raw(name, SEED.encode())
    text = "b" not in mode
    kwargs: dict[str, Any] = {"encoding": "utf-8"} if text else {}
    results: list[Any] = []
    opened: list[Any] = []

    def open_it() -> str:
        opened.append(side.open(name, mode, buffering, **kwargs))
        return kind(opened[0])

    results.append(outcome(side, open_it))
    if opened:
        results += exercise(side, opened[0], text)
    results.append(outcome(side, lambda: side.read_raw(name)))
    return results


def text_scenario(side: FileSide, encoding: str, errors: str | None,
                  newline: str | None) -> list[Any]:
    name = side.path("t")
    results: list[Any] = []
    content = "a\nb\r\nc\rd é ÿ €" if encoding != "ascii" else "a\nb\r\nc\rd"

    def write() -> Any:
        with side.open(name, "w", encoding=encoding, errors=errors, newline=newline) as f:
            return f.write(content), f.tell() if encoding != "utf-16" else None

    def read(newline: str | None) -> Any:
        with side.open(name, encoding=encoding, errors=errors, newline=newline) as f:
            lines = f.readlines()
            return lines, f.newlines

    results.append(outcome(side, write))
    results.append(outcome(side, lambda: side.read_raw(name)))
    for reading_newline in (None, "", "\n", "\r", "\r\n"):
        results.append(outcome(side, lambda nl=reading_newline: read(nl)))
    side.write_raw(name, b"ok\xff\xfebad\n")
    results.append(outcome(side, lambda: read(None)))
    return results


def bad_arguments_scenario(side: FileSide) -> list[Any]:
    name = side.path("bad")
    side.write_raw(name, b"x")
    calls: list[Callable[[], Any]] = [lambda m=mode: side.open(name, m) for mode in BAD_MODES]
    calls += [
        lambda: side.open(name, "rb", encoding="utf-8"),
        lambda: side.open(name, "rb", errors="strict"),
        lambda: side.open(name, "rb", newline="\n"),
        lambda: side.open(name, "r", buffering=0),
        lambda: side.open(name, "r", newline="x"),
        lambda: side.open(name, "r", encoding="no-such-codec"),
        lambda: side.open(name, "r", closefd=False),
        lambda: side.open(name, 5),
        lambda: side.open(name, "r", "1"),
        lambda: side.open(name, "r", encoding=3),
        lambda: side.open(side.path("missing"), "r"),
        lambda: side.open(side.path("missing/f"), "w"),
        lambda: side.open(name, "x"),
        lambda: side.open(side.root, "r"),
        lambda: side.open(side.root, "w"),
        lambda: side.open(name + "/", "r"),
        lambda: side.open(name + "\0", "r"),
        lambda: side.open(-1, "r"),
        lambda: side.open(1.5, "r"),
        lambda: side.open(name, "rb", opener=lambda p, flags: -3),
        lambda: side.open(name, "rb", opener=lambda p, flags: "x"),
    ]
    return [outcome(side, lambda c=call: closed_kind(c())) for call in calls]


def closed_kind(f: Any) -> str:
    f.close()
    return kind(f)


def descriptor_scenario(side: FileSide) -> list[Any]:
    """open() of a descriptor, closefd, and an opener."""
    name = side.path("d")
    side.write_raw(name, b"descriptor data\n")
    results: list[Any] = []
    fd = side.os_open(name, os.O_RDWR)
    f = side.open(fd, "r+b", closefd=False)
    results.append(outcome(side, lambda: (describe(f)[:2], f.name == fd, f.read(4))))
    results.append(outcome(side, f.close))
    results.append(outcome(side, lambda: side.open(fd, "rb", closefd=False).read()))
    g = side.open(fd, "a", encoding="utf-8")
    results.append(outcome(side, lambda: (g.write("more"), g.tell(), g.mode, g.name == fd)))
    results.append(outcome(side, g.close))
    results.append(outcome(side, lambda: side.os_close(fd)))  # closefd=True closed it
    seen: list[int] = []

    def opener(path: Any, flags: int) -> int:
        seen.append(flags & ~os.O_CLOEXEC)
        return side.os_open(path, flags, 0o644)

    for mode in ("rb", "w", "a+", "x"):
        target = side.path(f"op-{mode}")
        results.append(outcome(side, lambda t=target, m=mode: side.open(
            t, m, opener=opener).close()))
    results.append(("flags", seen))
    results.append(outcome(side, lambda: side.read_raw(name)))
    return results
