"""Helpers for the os-parity cases of the drop-in: a Mirror whose benchfs side is the
``benchfs`` module itself (module-level functions over the default client), whose
results have each side's root taken out wherever they hold paths, and which also
compares NotImplementedError; plus ``both`` for multi-step probes.
"""

from __future__ import annotations

import itertools
import os
import stat
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

import benchfs
from tests.differential.mirror import F, Mirror, P, Side, comparable_stat


class Api:
    """An api object for Side that also understands dotted names ("path.exists")."""

    def __init__(self, module: Any) -> None:
        self.module = module

    def __getattr__(self, name: str) -> Any:
        found = self.module
        for part in name.split("."):
            found = getattr(found, part)
        return found


def unresolve_deep(side: Side, value: Any) -> Any:
    if isinstance(value, (str, bytes)):
        return side.unresolve(value)
    if isinstance(value, tuple) and not hasattr(value, "_fields"):
        return tuple(unresolve_deep(side, item) for item in value)
    if isinstance(value, list):
        return [unresolve_deep(side, item) for item in value]
    return value


def capture(side: Side, call: Callable[[], Any]) -> tuple[Any, ...]:
    """An outcome as Side.run records it, NotImplementedError included."""
    try:
        result = call()
    except OSError as exc:
        return ("raise", type(exc), exc.errno, side.unresolve(exc.filename),
                side.unresolve(exc.filename2))
    except (TypeError, ValueError) as exc:
        return ("raise", type(exc), str(exc))
    except NotImplementedError:
        return ("raise", NotImplementedError)
    if isinstance(result, os.stat_result):
        return ("stat", comparable_stat(result))
    return ("value", unresolve_deep(side, result))


class ParitySide(Side):
    def run(self, name: str, args: tuple[Any, ...], kwargs: dict[str, Any],
            bind: str | None, project: Callable[[Any], Any] | None = None) -> tuple[Any, ...]:
        try:
            outcome = super().run(name, args, kwargs, bind, project)
        except NotImplementedError:
            return ("raise", NotImplementedError)
        return tuple(unresolve_deep(self, item) for item in outcome)


class OsMirror(Mirror):
    """benchfs (the module) against os; ``P``/``F`` arguments as in Mirror."""

    def __init__(self, client: benchfs.Client, remote_root: str, local_root: str) -> None:
        super().__init__(client, remote_root, local_root)
        self.client = client
        self.bfs = ParitySide(Api(benchfs), self.bfs.root)
        self.local = ParitySide(Api(os), self.local.root)

    def both(self, probe: Callable[[Any, Side], Any]) -> Any:
        """Run ``probe(api, side)`` on each side (api: the benchfs or os module) and
        assert equal outcomes; returns the oracle's."""
        ours = capture(self.bfs, lambda: probe(benchfs, self.bfs))
        theirs = capture(self.local, lambda: probe(os, self.local))
        self.log.append(f"probe {getattr(probe, '__name__', probe)} -> {theirs}")
        assert ours == theirs, (
            f"divergence in {getattr(probe, '__name__', probe)}: benchfs {ours} != os {theirs}\n"
            + "\n".join(self.log[-20:])
        )
        return theirs

    def each(self, probe: Callable[[Any, Side], Any]) -> tuple[Any, Any]:
        """Run ``probe`` on both sides without comparing: (benchfs's, os's) results."""
        return probe(benchfs, self.bfs), probe(os, self.local)

    @contextmanager
    def inside(self, rel: str = "") -> Iterator[None]:
        """Both sides' working directory at ``rel`` under their roots for a while."""
        saved = os.getcwd()
        saved_bfs = benchfs.getcwd()
        benchfs.chdir(root_of(self.bfs, rel))
        os.chdir(root_of(self.local, rel))
        try:
            yield
        finally:
            os.chdir(saved)
            benchfs.chdir(saved_bfs)


def root_of(side: Side, rel: str = "") -> str:
    return f"{side.root}/{rel}" if rel else side.root


_case_numbers = itertools.count()


def os_mirror(client: benchfs.Client, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
              kind: type[OsMirror] = OsMirror) -> Iterator[OsMirror]:
    """Fresh roots on both sides, with ``client`` as benchfs's default client."""
    monkeypatch.setattr(benchfs._api, "_default", client)
    local_root = tmp_path / "oracle"
    local_root.mkdir()
    both = kind(client, f"/os{next(_case_numbers)}", str(local_root))
    try:
        yield both
    finally:
        both.close_all()


# -- timestamps ---------------------------------------------------------------------------

OLD_NS = (1_000_000_000, 2_000_000_000)  # atime, mtime set before a probe


def times_of(api: Any, path: Any, follow_symlinks: bool = True) -> tuple[int, int, int]:
    result = api.stat(path, follow_symlinks=follow_symlinks)
    return result.st_atime_ns, result.st_mtime_ns, result.st_ctime_ns


def age(api: Any, *paths: Any) -> None:
    """Put old atime/mtime on ``paths`` and let the clock move on, so that any
    later change of a time is visible, whatever the time-stamp granularity."""
    for path in paths:
        api.utime(path, ns=OLD_NS)
    time.sleep(0.003)


def which_moved(before: tuple[int, int, int], after: tuple[int, int, int]) -> str:
    """'amc' letters for the times (atime, mtime, ctime) that changed."""
    return "".join(letter for letter, old, new in zip("amc", before, after, strict=True)
                   if old != new)


def mode_bits(result: os.stat_result) -> tuple[int, int]:
    return stat.S_IFMT(result.st_mode), stat.S_IMODE(result.st_mode)


def make_file(fs: OsMirror, rel: str, data: bytes = b"") -> None:
    """Create ``rel`` with ``data`` on both sides."""
    fs("open", P(rel), os.O_CREAT | os.O_RDWR, 0o644, bind="_new")
    if data:
        fs("write", F("_new"), data)
    fs("close", F("_new"))
