"""The drop-in's differential cases, run a second time through interposition: the
benchfs side is the real ``os`` module itself, on ``/bfs/...`` paths."""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

import benchfs
from benchfs.interpose import router
from tests.differential.mirror import Mirror, Side
from tests.differential.parity_support import Api, OsMirror, ParitySide, capture, root_of
from tests.interpose.conftest import PREFIX

_case_numbers = itertools.count()


class CwdSide(ParitySide):
    """A side that runs with its own working directory while ``inside`` is active: the
    kernel's cwd is the oracle's, and the virtual one (interposition's) is switched on
    for the benchfs side only, so both hold at once as in the drop-in's cases."""

    def __init__(self, api: Any, root: str, virtual: bool) -> None:
        super().__init__(api, root)
        self.virtual = virtual
        self.mount: router.Mount | None = None  # set while inside a directory

    @contextmanager
    def current(self) -> Iterator[None]:
        mount = self.mount
        if mount is None:
            yield
            return
        if self.virtual:
            router.set_virtual_cwd(mount, mount.client.cwd)
        else:
            router.set_real_cwd()
        yield

    def run(self, name: str, args: tuple[Any, ...], kwargs: dict[str, Any],
            bind: str | None, project: Callable[[Any], Any] | None = None) -> tuple[Any, ...]:
        with self.current():
            return super().run(name, args, kwargs, bind, project)


class InterposedMirror(OsMirror):
    """os on /bfs/<case> (interposed) against os on a temporary directory."""

    def __init__(self, client: benchfs.Client, remote_root: str, local_root: str) -> None:
        super().__init__(client, remote_root, local_root)
        self.bfs: CwdSide = CwdSide(Api(os), PREFIX + remote_root, virtual=True)
        self.local: CwdSide = CwdSide(Api(os), local_root, virtual=False)

    def _probe(self, side: CwdSide, probe: Callable[[Any, Side], Any]) -> Any:
        with side.current():
            return probe(os, side)

    def both(self, probe: Callable[[Any, Side], Any]) -> Any:
        ours = capture(self.bfs, lambda: self._probe(self.bfs, probe))
        theirs = capture(self.local, lambda: self._probe(self.local, probe))
        self.log.append(f"probe {getattr(probe, '__name__', probe)} -> {theirs}")
        assert ours == theirs, (
            f"divergence in {getattr(probe, '__name__', probe)}: interposed {ours} != os "
            f"{theirs}\n" + "\n".join(self.log[-20:])
        )
        return theirs

    def each(self, probe: Callable[[Any, Side], Any]) -> tuple[Any, Any]:
        return self._probe(self.bfs, probe), self._probe(self.local, probe)

    @contextmanager
    def inside(self, rel: str = "") -> Iterator[None]:
        saved = os.getcwd()
        os.chdir(root_of(self.local, rel))  # the kernel's cwd
        os.chdir(root_of(self.bfs, rel))  # the virtual one, on top
        mount = router.state().cwd_mount
        self.bfs.mount = self.local.mount = mount
        try:
            yield
        finally:
            self.bfs.mount = self.local.mount = None
            os.chdir(saved)


def interposed_fs(active: benchfs.Interposition, tmp_path: Path,
                  monkeypatch: pytest.MonkeyPatch) -> Iterator[OsMirror]:
    client = active.client
    monkeypatch.setattr(benchfs._api, "_default", client)
    local_root = tmp_path / "oracle"
    local_root.mkdir()
    both = InterposedMirror(client, f"/ip{next(_case_numbers)}", str(local_root))
    try:
        yield both
    finally:
        both.close_all()


def interposed_mirror(active: benchfs.Interposition, tmp_path: Path) -> Iterator[Mirror]:
    local_root = tmp_path / "oracle"
    local_root.mkdir()
    both = Mirror(active.client, f"/ipm{next(_case_numbers)}", str(local_root))
    both.bfs = Side(os, PREFIX + both.bfs.root)
    try:
        yield both
    finally:
        both.close_all()
