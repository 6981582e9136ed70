"""``UPath("benchfs:///results")``: universal_pathlib's path class for benchfs.

Registered through the ``universal_pathlib.implementations`` entry point, so UPath
picks it without its "not explicitly implemented" warning.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import SplitResult

from upath import UPath


class BenchPath(UPath):
    __slots__ = ()

    @property
    def _url(self) -> SplitResult:
        # benchfs paths have no host part: benchfs:///a/b, never benchfs://a/b.
        return SplitResult._make((self.protocol, "", self.path, "", ""))

    def iterdir(self) -> Iterator[Any]:
        # fsspec's ls of a file lists the file itself; pathlib's iterdir refuses it.
        if self.is_file():
            raise NotADirectoryError(str(self))
        return super().iterdir()
