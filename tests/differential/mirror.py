"""Run the same os-style operation against benchfs and the real os, and compare.

The real ``os`` on a temporary directory is the oracle. Paths are written
relative (``P("a/b")``) and descriptors by a logical name (``F("f")``); each side
substitutes its own. Outcomes are compared on return value, exception class,
errno and filename.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import benchfs


@dataclass(frozen=True)
class P:
    """A path relative to each side's root; bytes=True passes it as bytes."""

    rel: str
    as_bytes: bool = False


@dataclass(frozen=True)
class F:
    """A descriptor by logical name."""

    name: str


def comparable_stat(result: os.stat_result) -> tuple[Any, ...]:
    # Directory sizes are file-system specific (ext4: 4096 bytes) and so is block
    # allocation (benchfs counts st_blocks from the size; ext4 leaves holes
    # unallocated); everything else must match.
    is_dir = stat.S_ISDIR(result.st_mode)
    return (
        stat.S_IFMT(result.st_mode), stat.S_IMODE(result.st_mode), result.st_uid,
        result.st_gid, None if is_dir else result.st_size, result.st_nlink,
    )


class Side:
    def __init__(self, api: Any, root: str) -> None:
        self.api = api
        self.root = root.rstrip("/")
        self.fds: dict[str, int] = {}

    def resolve(self, value: Any) -> Any:
        if isinstance(value, P):
            text = f"{self.root}/{value.rel}" if value.rel else self.root or "/"
            return os.fsencode(text) if value.as_bytes else text
        if isinstance(value, F):
            return self.fds.get(value.name, 10_000_000)  # an fd nobody has: EBADF
        return value

    def unresolve(self, value: Any) -> Any:
        """Turn this side's paths back into relative ones for comparison."""
        if isinstance(value, bytes) and value.startswith(os.fsencode(self.root)):
            return os.fsdecode(value[len(self.root):])
        if isinstance(value, str) and value.startswith(self.root):
            return value[len(self.root):]
        return value

    def run(self, name: str, args: tuple[Any, ...], kwargs: dict[str, Any],
            bind: str | None, project: Callable[[Any], Any] | None = None) -> tuple[Any, ...]:
        try:
            result = getattr(self.api, name)(*map(self.resolve, args),
                                             **{k: self.resolve(v) for k, v in kwargs.items()})
        except OSError as exc:
            return ("raise", type(exc), exc.errno, self.unresolve(exc.filename),
                    self.unresolve(exc.filename2))
        except (TypeError, ValueError) as exc:
            return ("raise", type(exc), str(exc))
        if bind is not None:
            self.fds[bind] = result
            return ("fd",)
        if name == "close":
            for key, fd in list(self.fds.items()):
                if fd == self.resolve(args[0]):
                    del self.fds[key]
        if project is not None:
            return ("projected", project(result))
        if isinstance(result, os.stat_result):
            return ("stat", comparable_stat(result))
        if name == "listdir":
            return ("list", sorted(result))
        return ("value", result)


class Mirror:
    """Both sides of a differential run."""

    def __init__(self, client: benchfs.Client, remote_root: str, local_root: str) -> None:
        client.mkdir(remote_root)
        self.bfs = Side(client, remote_root)
        self.local = Side(os, local_root)
        self.log: list[str] = []

    def __call__(self, name: str, *args: Any, bind: str | None = None,
                 project: Callable[[Any], Any] | None = None, **kwargs: Any) -> Any:
        """Run on both sides; assert equal outcomes (of ``project(result)`` when given,
        for fields that are comparable only in part); return the outcome."""
        ours = self.bfs.run(name, args, kwargs, bind, project)
        theirs = self.local.run(name, args, kwargs, bind, project)
        self.log.append(f"{name}{args}{kwargs or ''} -> {theirs}")
        assert ours == theirs, (
            f"divergence on {name}{args}: benchfs {ours} != os {theirs}\n"
            + "\n".join(self.log[-20:])
        )
        return theirs

    def close_all(self) -> None:
        for side in (self.bfs, self.local):
            for fd in side.fds.values():
                side.api.close(fd)
            side.fds.clear()
