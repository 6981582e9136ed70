"""References to the real functions that other modules captured before interposition
started (``from os import stat``, tarfile's ``bltn_open``, bz2's ``_builtin_open``,
3.10 pathlib's accessor, 3.13 glob's ``_StringGlobber.scandir``, default arguments):
found in every imported module's namespace, its classes and its functions' defaults,
and pointed at the wrappers; put back at the end.

Modules imported while interposition runs need nothing: the attributes they copy
from (os, posix, io, _io, builtins) hold the wrappers already.
"""

from __future__ import annotations

import sys
import types
from collections.abc import Callable, MutableMapping
from dataclasses import dataclass
from typing import Any

# Modules whose references stay real: benchfs itself (its client talks to the real
# kernel) and the ones interposition patches by name.
_SKIPPED_PREFIXES = ("benchfs", "_pytest", "pytest", "pluggy")


@dataclass
class Rebound:
    """One replaced reference, and how to put the original back."""

    put_back: Callable[[], None]


def _restoring(setter: Callable[[Any, Any], None], key: Any, value: Any) -> Rebound:
    return Rebound(lambda: setter(key, value))


def _wrapped_for(value: Any, replacement: dict[int, tuple[Any, Any]]) -> Any:
    """The wrapper for ``value`` if it is a replaced original, else None."""
    found = replacement.get(id(value))
    return found[1] if found is not None and found[0] is value else None


def _rebind_namespace(namespace: MutableMapping[str, Any],
                      replacement: dict[int, tuple[Any, Any]], done: list[Rebound],
                      setter: Callable[[str, Any], None], in_class: bool) -> None:
    for key, value in list(namespace.items()):
        wrapper = _wrapped_for(value, replacement)
        if wrapper is not None:
            setter(key, wrapper)  # a staticmethod object: a method in no class
            done.append(_restoring(setter, key, value))
        elif in_class and isinstance(value, staticmethod):
            wrapper = _wrapped_for(value.__func__, replacement)
            if wrapper is not None:
                setter(key, wrapper)
                done.append(_restoring(setter, key, value))
        elif isinstance(value, types.FunctionType):
            _rebind_defaults(value, replacement, done)
        elif not in_class and isinstance(value, type):
            _rebind_class(value, replacement, done)
        elif not in_class and _is_plain_instance(value):
            _rebind_instance(value, replacement, done)


def _rebind_defaults(function: types.FunctionType, replacement: dict[int, tuple[Any, Any]],
                     done: list[Rebound]) -> None:
    defaults = function.__defaults__
    if defaults and any(_wrapped_for(d, replacement) is not None for d in defaults):
        function.__defaults__ = tuple(_wrapped_for(d, replacement) or d for d in defaults)
        done.append(Rebound(lambda: setattr(function, "__defaults__", defaults)))
    kwdefaults = function.__kwdefaults__
    if kwdefaults and any(_wrapped_for(d, replacement) is not None
                          for d in kwdefaults.values()):
        function.__kwdefaults__ = {k: _wrapped_for(d, replacement) or d
                                   for k, d in kwdefaults.items()}
        done.append(Rebound(lambda: setattr(function, "__kwdefaults__", kwdefaults)))


def _rebind_class(cls: type, replacement: dict[int, tuple[Any, Any]],
                  done: list[Rebound]) -> None:
    if cls.__flags__ & (1 << 9) == 0:  # not Py_TPFLAGS_HEAPTYPE: a C type, immutable
        return

    def setter(key: str, value: Any) -> None:
        setattr(cls, key, value)

    _rebind_namespace(dict(vars(cls)), replacement, done, setter, in_class=True)


def _is_plain_instance(value: Any) -> bool:
    return (isinstance(getattr(value, "__dict__", None), dict)
            and not isinstance(value, (types.ModuleType, types.FunctionType, type))
            and type(value).__flags__ & (1 << 9) != 0)


def _rebind_instance(instance: Any, replacement: dict[int, tuple[Any, Any]],
                     done: list[Rebound]) -> None:
    """A module-level object's attributes, and the dicts among them (numpy's
    ``_datasource._file_openers`` keeps ``{None: io.open}``)."""
    attributes = vars(instance)
    for value in list(attributes.values()):
        if type(value) is dict:
            _rebind_mapping(value, replacement, done)
    _rebind_mapping(attributes, replacement, done)


def _rebind_mapping(mapping: dict[Any, Any], replacement: dict[int, tuple[Any, Any]],
                    done: list[Rebound]) -> None:
    for key, value in list(mapping.items()):
        wrapper = _wrapped_for(value, replacement)
        if wrapper is not None:
            mapping[key] = wrapper
            done.append(_restoring(mapping.__setitem__, key, value))


def rebind(pairs: list[tuple[Any, Any]], patched: set[str]) -> list[Rebound]:
    """Point every captured original of ``pairs`` (original, wrapper) at its wrapper in
    the imported modules, except those in ``patched`` and benchfs's own."""
    replacement = {id(original): (original, wrapper) for original, wrapper in pairs}
    done: list[Rebound] = []
    for name, module in list(sys.modules.items()):
        if (name in patched or name.startswith(_SKIPPED_PREFIXES)
                or not isinstance(module, types.ModuleType)):
            continue
        namespace = getattr(module, "__dict__", None)
        if not isinstance(namespace, dict):
            continue

        def setter(key: str, value: Any, namespace: dict[str, Any] = namespace) -> None:
            namespace[key] = value

        _rebind_namespace(namespace, replacement, done, setter, in_class=False)
    return done


def put_back(done: list[Rebound]) -> None:
    for rebound in reversed(done):
        rebound.put_back()
