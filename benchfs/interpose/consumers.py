"""Libraries that hand a file object's descriptor to C: told that a benchfs file is not
one of the kernel's, so they take their Python path instead.

numpy.save/load write and read an array through ``ndarray.tofile``/``numpy.fromfile``
when ``isfileobj(f)`` says the file is a real one: C then dups the descriptor and uses
stdio on it, which the kernel refuses for a benchfs descriptor (EBADF). With the fix,
a benchfs file object goes through ``f.write``/``f.readinto``, which numpy also has.
The fix is applied to the numpy modules imported already and, through a finder on
``sys.meta_path``, to those imported later.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import sys
import types
from collections.abc import Callable, Sequence
from typing import Any

from benchfs.interpose import router

# module -> name of its "is this a real file" test
_FILE_TESTS = {"numpy.lib.format": "isfileobj", "numpy.lib._format_impl": "isfileobj"}
_fixed: dict[str, Callable[..., Any]] = {}  # module name -> its original test


def _not_benchfs(original: Callable[[Any], bool]) -> Callable[[Any], bool]:
    def isfileobj(f: Any) -> bool:
        return bool(original(f)) and router.owner_of_fd(f.fileno()) is None

    isfileobj.__wrapped__ = original  # type: ignore[attr-defined]
    return isfileobj


def _fix(module: types.ModuleType) -> None:
    name = _FILE_TESTS[module.__name__]
    original = getattr(module, name, None)
    if original is not None and module.__name__ not in _fixed:
        _fixed[module.__name__] = original
        setattr(module, name, _not_benchfs(original))


class _FixingLoader(importlib.abc.Loader):
    """Runs the real loader, then the fix."""

    def __init__(self, loader: Any) -> None:
        self._loader = loader

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType | None:
        module: types.ModuleType | None = self._loader.create_module(spec)
        return module

    def exec_module(self, module: types.ModuleType) -> None:
        self._loader.exec_module(module)
        _fix(module)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._loader, name)


class _Finder(importlib.abc.MetaPathFinder):
    """Finds nothing itself: asks the other finders, and wraps the loader of the few
    modules that need a fix."""

    def find_spec(self, fullname: str, path: Sequence[str] | None,
                  target: types.ModuleType | None = None) -> importlib.machinery.ModuleSpec | None:
        if fullname not in _FILE_TESTS:
            return None
        for finder in sys.meta_path:
            find = getattr(finder, "find_spec", None)
            if finder is self or find is None:
                continue
            spec: importlib.machinery.ModuleSpec | None = find(fullname, path, target)
            if spec is not None:
                if spec.loader is not None and hasattr(spec.loader, "exec_module"):
                    spec.loader = _FixingLoader(spec.loader)
                return spec
        return None


_finder = _Finder()


def install() -> None:
    for name in _FILE_TESTS:
        module = sys.modules.get(name)
        if module is not None:
            _fix(module)
    if _finder not in sys.meta_path:
        sys.meta_path.insert(0, _finder)


def uninstall() -> None:
    if _finder in sys.meta_path:
        sys.meta_path.remove(_finder)
    for name, original in _fixed.items():
        module = sys.modules.get(name)
        if module is not None:
            setattr(module, _FILE_TESTS[name], original)
    _fixed.clear()
