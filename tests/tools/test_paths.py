"""Which file system an operand names."""

from __future__ import annotations

import os

import pytest

from benchfs.tools.paths import split_operand


@pytest.mark.parametrize(("operand", "expected"), [
    ("bfs:/a/b", (True, b"/a/b")),
    ("bfs:a", (True, b"/a")),
    ("bfs:", (True, b"/")),
    ("benchfs:///a", (True, b"/a")),
    ("benchfs://a", (True, b"/a")),
    ("/local/bfs:/x", (False, b"/local/bfs:/x")),
    ("relative", (False, b"relative")),
    (os.fsdecode(b"bfs:/bad\xff"), (True, b"/bad\xff")),  # argv's surrogateescape undone
    (b"bfs:/raw\xfe", (True, b"/raw\xfe")),
])
def test_operands(operand: str | bytes, expected: tuple[bool, bytes]) -> None:
    assert split_operand(operand) == expected
