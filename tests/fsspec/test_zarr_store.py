"""zarr's store test suite (``zarr.testing.store.StoreTests``) over FsspecStore on
benchfs and, as the reference, on fsspec's LocalFileSystem."""

from __future__ import annotations

import posixpath
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

zarr = pytest.importorskip("zarr")

from fsspec.implementations.asyn_wrapper import AsyncFileSystemWrapper  # noqa: E402
from fsspec.implementations.local import LocalFileSystem  # noqa: E402
from zarr.core.buffer import Buffer, cpu  # noqa: E402
from zarr.storage import FsspecStore  # noqa: E402
from zarr.testing.store import StoreTests  # noqa: E402

from benchfs.fsspec import BenchFileSystem  # noqa: E402


class FsspecStoreTests(StoreTests[FsspecStore, cpu.Buffer]):  # type: ignore[misc]
    """set/get bypass the store, as the suite asks, through the sync file system."""

    store_cls = FsspecStore
    buffer_cls = cpu.Buffer

    async def set(self, store: FsspecStore, key: str, value: Buffer) -> None:
        store.fs.sync_fs.pipe_file(posixpath.join(store.path, key), value.to_bytes())

    async def get(self, store: FsspecStore, key: str) -> Buffer:
        return self.buffer_cls.from_bytes(
            store.fs.sync_fs.cat_file(posixpath.join(store.path, key)))

    def test_store_repr(self, store: FsspecStore) -> None:
        assert repr(store) == f"<FsspecStore(AsyncFileSystemWrapper, {store.path})>"

    def test_store_supports_writes(self, store: FsspecStore) -> None:
        assert store.supports_writes

    def test_store_supports_listing(self, store: FsspecStore) -> None:
        assert store.supports_listing


class TestBenchFsspecStore(FsspecStoreTests):
    @pytest.fixture
    def store_kwargs(self, bench_fs: BenchFileSystem) -> Iterator[dict[str, Any]]:
        path = f"/zarr-{uuid.uuid4().hex[:12]}"
        bench_fs.mkdir(path)
        yield {"fs": AsyncFileSystemWrapper(bench_fs, asynchronous=True), "path": path}
        bench_fs.rm(path, recursive=True)


class TestLocalFsspecStore(FsspecStoreTests):
    @pytest.fixture
    def store_kwargs(self, tmp_path: Path) -> dict[str, Any]:
        fs = LocalFileSystem(auto_mkdir=True)
        return {"fs": AsyncFileSystemWrapper(fs, asynchronous=True), "path": str(tmp_path)}
