"""fsspec's own abstract test suite (shipped in its wheel) on benchfs and, as the
reference, on LocalFileSystem: every test that passes for local must pass here."""

from __future__ import annotations

import posixpath
from collections.abc import Callable, Iterator

import pytest
from fsspec.implementations.local import LocalFileSystem, make_path_posix
from fsspec.tests.abstract import (
    AbstractCopyTests,
    AbstractFixtures,
    AbstractGetTests,
    AbstractOpenTests,
    AbstractPipeTests,
    AbstractPutTests,
)

from benchfs.fsspec import BenchFileSystem


class BenchFixtures(AbstractFixtures):  # type: ignore[misc]
    @pytest.fixture
    def fs(self, bench_fs: BenchFileSystem) -> BenchFileSystem:
        return bench_fs

    @pytest.fixture
    def fs_join(self) -> Callable[..., str]:
        return posixpath.join

    @pytest.fixture
    def fs_path(self, bench_dir: str) -> Iterator[str]:
        yield bench_dir


class LocalFixtures(AbstractFixtures):  # type: ignore[misc]
    """fsspec's own wiring of its local tests."""

    @pytest.fixture(scope="class")
    def fs(self) -> LocalFileSystem:
        return LocalFileSystem(auto_mkdir=True)

    @pytest.fixture
    def fs_path(self, tmpdir: object) -> str:
        return str(tmpdir)

    @pytest.fixture
    def fs_sanitize_path(self) -> Callable[[str], str]:
        return make_path_posix  # type: ignore[no-any-return]


class TestBenchCopy(BenchFixtures, AbstractCopyTests): ...  # type: ignore[misc]
class TestBenchGet(BenchFixtures, AbstractGetTests): ...  # type: ignore[misc]
class TestBenchPut(BenchFixtures, AbstractPutTests): ...  # type: ignore[misc]
class TestBenchPipe(BenchFixtures, AbstractPipeTests): ...  # type: ignore[misc]
class TestBenchOpen(BenchFixtures, AbstractOpenTests): ...  # type: ignore[misc]
class TestLocalCopy(LocalFixtures, AbstractCopyTests): ...  # type: ignore[misc]
class TestLocalGet(LocalFixtures, AbstractGetTests): ...  # type: ignore[misc]
class TestLocalPut(LocalFixtures, AbstractPutTests): ...  # type: ignore[misc]
class TestLocalPipe(LocalFixtures, AbstractPipeTests): ...  # type: ignore[misc]
class TestLocalOpen(LocalFixtures, AbstractOpenTests): ...  # type: ignore[misc]
