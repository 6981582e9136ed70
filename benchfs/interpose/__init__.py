"""Interposition: unmodified Python I/O under a prefix lands in benchfs (D10).

    import benchfs
    with benchfs.interpose("/bfs"):           # registry from BENCHFS_REGISTRY
        np.save("/bfs/run1/weights.npy", w)   # benchfs's /run1/weights.npy

The real os, posix, io, _io, builtins and fcntl functions are wrapped once,
process-wide, while at least one prefix is interposed; each call is routed by its
path or descriptor (router.py). docs/interpose.md describes what is routed and what
is not.
"""

from __future__ import annotations

import builtins
import os
import posix
import threading
from types import TracebackType
from typing import Any

from benchfs.client.client import Client
from benchfs.interpose import consumers, files, guards, oscalls, rebind, router
from benchfs.settings import ClientSettings, registry_from_env

_install_lock = threading.Lock()
_undo: list[tuple[Any, str, Any]] = []  # (module, name, original) replaced by name
_rebound: list[rebind.Rebound] = []
_support_sets = ("supports_dir_fd", "supports_fd", "supports_follow_symlinks",
                 "supports_effective_ids")
_added_to_support: list[tuple[set[Any], Any]] = []
_PATCHED_MODULES = {"os", "posix", "io", "_io", "builtins", "fcntl"}


def _install() -> None:
    """Replace the real functions with the wrappers (once, for all prefixes)."""
    pairs: list[tuple[Any, Any]] = []
    for name, wrapper in oscalls.wrappers().items():
        pairs.append((getattr(os, name), wrapper))
        for module in (os, posix):
            if hasattr(module, name):
                _undo.append((module, name, getattr(module, name)))
                setattr(module, name, wrapper)
    for original, wrapper in pairs:
        for set_name in _support_sets:
            support: set[Any] = getattr(os, set_name)
            if original in support:
                support.add(wrapper)
                _added_to_support.append((support, wrapper))
    for module, name, wrapper in ((builtins, "open", files.open), *files.REPLACEMENTS,
                                  *guards.replacements()):
        original = getattr(module, name)
        _undo.append((module, name, original))
        setattr(module, name, wrapper)
        pairs.append((original, wrapper))
    _rebound.extend(rebind.rebind(pairs, _PATCHED_MODULES))
    consumers.install()
    guards.install_audit_hook()


def _uninstall() -> None:
    consumers.uninstall()
    rebind.put_back(_rebound)
    _rebound.clear()
    for support, wrapper in _added_to_support:
        support.discard(wrapper)
    _added_to_support.clear()
    for module, name, original in reversed(_undo):
        setattr(module, name, original)
    _undo.clear()


class Interposition:
    """One prefix routed to one cluster; a context manager, or start()/stop()."""

    def __init__(self, prefix: str | os.PathLike[str], registry: str | os.PathLike[str] | None
                 = None, settings: ClientSettings | None = None) -> None:
        self.prefix = router.normalise_prefix(prefix)
        self.registry = registry if registry is not None else registry_from_env()
        self._mount: router.Mount | None = None
        self._settings = settings

    @property
    def client(self) -> Client:
        """The client of this prefix's cluster (connected on first use)."""
        if self._mount is None:
            raise RuntimeError(f"interposition of {self.prefix} is not started")
        return self._mount.client

    @property
    def active(self) -> bool:
        return self._mount is not None

    def start(self) -> Interposition:
        with _install_lock:
            if self._mount is not None:
                raise RuntimeError(f"interposition of {self.prefix} is started already")
            mount = router.Mount(self.prefix, self.registry, self._settings)
            first = not router.state().mounts
            if first:
                _install()
            try:
                router.add_mount(mount)
            except BaseException:
                if first:
                    _uninstall()
                raise
            self._mount = mount
        return self

    def stop(self) -> None:
        with _install_lock:
            mount, self._mount = self._mount, None
            if mount is None:
                return
            if router.remove_mount(mount):
                _uninstall()
        mount.close()

    def __enter__(self) -> Interposition:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = "active" if self.active else "stopped"
        return f"<benchfs.interpose {self.prefix!r} registry={str(self.registry)!r} {state}>"


def interpose(prefix: str | os.PathLike[str], registry: str | os.PathLike[str] | None = None,
              settings: ClientSettings | None = None) -> Interposition:
    """Route Python I/O under ``prefix`` to the cluster of ``registry`` (default:
    BENCHFS_REGISTRY). Call ``start()`` or use it in a ``with`` block."""
    return Interposition(prefix, registry, settings)


def virtual_cwd() -> str | None:
    """The working directory under a prefix that os.chdir made, if any (what os.getcwd
    answers then; the kernel's is elsewhere)."""
    return router.virtual_cwd()


__all__ = ["Interposition", "interpose", "virtual_cwd"]
