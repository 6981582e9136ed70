"""``benchfs run``: start a Python program with interposition active from its first line.

The program is started through Python's own startup hook, never LD_PRELOAD: the directory
of ``_startup/sitecustomize.py`` goes first on PYTHONPATH and the environment variable
``BENCHFS_INTERPOSE`` (``PREFIX=REGISTRY;PREFIX=REGISTRY...``) says what to route. Both are
inherited, so every child interpreter (``subprocess``, multiprocessing's spawn and
forkserver) starts interposition the same way; a forked child keeps its parent's.

The interpreter opens its main script in C, before any hook could route the open, so a
script under a prefix is started as ``python [options] -c RUNNER SCRIPT ARGS`` instead,
and the runner executes it with ``runpy`` once interposition is active.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

GATE = "BENCHFS_INTERPOSE"
# The virtual working directory under a prefix, for child interpreters: their kernel cwd
# cannot be there, so the startup hook changes into it.
CWD_GATE = "BENCHFS_INTERPOSE_CWD"
STARTUP_DIR = str(Path(__file__).resolve().parent / "_startup")

# The interpreter's options that keep sitecustomize from starting interposition.
DISABLING_FLAGS = {
    "I": "-I (isolated mode) ignores PYTHONPATH and BENCHFS_INTERPOSE",
    "E": "-E ignores PYTHONPATH",
    "S": "-S skips the site module, which imports sitecustomize",
}
# Short options that take a value, attached (-Wignore) or as the next argument.
_WITH_VALUE = frozenset("cmWX")
_LONG_WITH_VALUE = frozenset({"--check-hash-based-pycs"})
_PYTHON_NAME = re.compile(r"(python|pypy)[0-9.]*[dmu]*(\.exe)?$")

RUNNER = "from benchfs.interpose.launch import run_main_script; run_main_script()"


class LaunchError(ValueError):
    """A ``benchfs run`` command line that cannot start with interposition active."""


# -- what to route ---------------------------------------------------------------------------


def parse_routes(text: str) -> list[tuple[str, str]]:
    """``/bfs=/reg;/x=/reg2`` -> [("/bfs", "/reg"), ("/x", "/reg2")]."""
    routes = []
    for entry in text.split(";"):
        if not entry:
            continue
        prefix, separator, registry = entry.partition("=")
        if not separator or not prefix or not registry:
            raise LaunchError(f"{GATE}: {entry!r} is not PREFIX=REGISTRY")
        routes.append((prefix, registry))
    return routes


def format_routes(routes: Sequence[tuple[str, str]]) -> str:
    for prefix, registry in routes:
        for text in (prefix, registry):
            if "=" in text or ";" in text:
                raise LaunchError(f"{text!r}: a prefix or registry path cannot contain "
                                  "'=' or ';'")
    return ";".join(f"{prefix}={registry}" for prefix, registry in routes)


def resolve_routes(prefixes: Sequence[str], registry: str | None) -> list[tuple[str, str]]:
    """``--prefix P`` or ``--prefix P=REGISTRY`` options as absolute (prefix, registry)."""
    routes = []
    for option in prefixes:
        prefix, separator, own_registry = option.partition("=")
        chosen = own_registry if separator else registry or os.environ.get("BENCHFS_REGISTRY")
        if not chosen:
            raise LaunchError(f"--prefix {prefix}: no registry (give --registry, "
                              "--prefix PREFIX=REGISTRY, or set BENCHFS_REGISTRY)")
        if not os.path.isabs(prefix):
            raise LaunchError(f"--prefix {prefix}: must be an absolute path")
        normal = os.path.normpath(prefix)
        if normal in ("/", "//"):
            raise LaunchError("--prefix /: the interpreter itself lives under /")
        registry_dir = os.path.abspath(chosen)
        if not os.path.isdir(registry_dir):
            raise LaunchError(f"--prefix {prefix}: registry {registry_dir} is not a directory")
        routes.append((normal, registry_dir))
    if not routes:
        raise LaunchError("give at least one --prefix")
    return routes


def under_prefix(path: str, prefixes: Sequence[str]) -> bool:
    """Whether absolute normalised ``path`` is a prefix or below one (on a / boundary)."""
    return any(path == prefix or path.startswith(prefix + "/") for prefix in prefixes)


# -- the interpreter's command line ------------------------------------------------------------


@dataclass
class PythonCommand:
    """``python [options] (SCRIPT | -c CODE | -m MODULE | -) ARGS``, split as Python does."""

    interpreter: str
    options: list[str] = field(default_factory=list)  # as given, before the program
    program: list[str] = field(default_factory=list)  # SCRIPT/-c CODE/-m MOD/- and its args
    disabling: list[str] = field(default_factory=list)  # the letters of DISABLING_FLAGS seen
    script: str | None = None  # the main script's path, when the program is a file


def is_python(command: str) -> bool:
    return _PYTHON_NAME.match(os.path.basename(command)) is not None


def parse_python_command(argv: Sequence[str]) -> PythonCommand:
    parsed = PythonCommand(argv[0])
    index = 1
    while index < len(argv):
        argument = argv[index]
        if argument == "--":
            parsed.options.append(argument)
            index += 1
            break
        if argument == "-" or not argument.startswith("-"):
            break
        if argument.startswith("--"):
            takes_value = argument in _LONG_WITH_VALUE
            parsed.options.extend(argv[index:index + 1 + takes_value])
            index += 1 + takes_value
            continue
        letters = argument[1:]
        for position, letter in enumerate(letters):
            if letter in DISABLING_FLAGS and letter not in parsed.disabling:
                parsed.disabling.append(letter)
            if letter in _WITH_VALUE:
                separate = position == len(letters) - 1  # -W x rather than -Wx
                if letter in "cm":  # the program: everything from here is its own
                    parsed.program = list(argv[index:])
                    return parsed
                if separate:
                    parsed.options.append(argument)
                    index += 1
                    argument = argv[index] if index < len(argv) else ""
                break
        parsed.options.append(argument)
        index += 1
    parsed.program = list(argv[index:])
    if parsed.program and parsed.program[0] != "-":
        parsed.script = parsed.program[0]
    return parsed


def python_command(argv: Sequence[str], prefixes: Sequence[str]) -> list[str]:
    """The interpreter's command line to execute: refused when its options disable the
    startup hook, and a main script under a prefix handed to the runner."""
    parsed = parse_python_command(argv)
    if parsed.disabling:
        reasons = "; ".join(DISABLING_FLAGS[letter] for letter in parsed.disabling)
        raise LaunchError(f"{' '.join([argv[0], *parsed.options])}: {reasons}, so "
                          "interposition could not start; drop the option")
    if parsed.script is not None and under_prefix(os.path.abspath(parsed.script), prefixes):
        return [parsed.interpreter, *parsed.options, "-c", RUNNER, *parsed.program]
    return list(argv)


def environment(routes: Sequence[tuple[str, str]],
                base: dict[str, str] | None = None) -> dict[str, str]:
    """``base`` (default: this process's environment) with the gate and the startup
    directory first on PYTHONPATH. Routes inherited from an enclosing ``benchfs run``
    stay, unless a prefix is given again."""
    env = dict(os.environ if base is None else base)
    inherited = parse_routes(env.get(GATE, ""))
    given = {prefix for prefix, _ in routes}
    env[GATE] = format_routes([*(route for route in inherited if route[0] not in given),
                               *routes])
    paths = [entry for entry in env.get("PYTHONPATH", "").split(os.pathsep)
             if entry and entry != STARTUP_DIR]
    env["PYTHONPATH"] = os.pathsep.join([STARTUP_DIR, *paths])
    return env


def launch(command: Sequence[str], prefixes: Sequence[str], registry: str | None) -> None:
    """Replace this process with ``command``, interposed (does not return)."""
    if not command:
        raise LaunchError("nothing to run: benchfs run --prefix /bfs -- python ...")
    routes = resolve_routes(prefixes, registry)
    env = environment(routes)
    argv = (python_command(command, [prefix for prefix, _ in routes]) if is_python(command[0])
            else list(command))
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        os.execvpe(argv[0], argv, env)
    except OSError as error:
        raise LaunchError(f"{argv[0]}: {error.strerror}") from None


# -- inside the interpreter ----------------------------------------------------------------------

# The started interposers, kept for the life of the process.
_active: list[Any] = []


def start_from_environment(text: str) -> None:
    """Start one interposer per route of the gate (called by sitecustomize)."""
    # The package's function (benchfs.interpose), by its own name: the attribute of
    # benchfs is the package itself until benchfs/__init__ has imported the function.
    from benchfs.interpose import interpose, router

    routes = parse_routes(text)
    for prefix, registry in routes:
        interposer = interpose(prefix, registry=registry)
        interposer.start()
        _active.append(interposer)
    inherited = os.environ.get(CWD_GATE)
    if inherited:
        os.chdir(inherited)  # where the parent was; relative names resolve from there
    router.export_cwd_as(CWD_GATE)  # and where this one is, for its children
    _reexec_main_script_under_prefix([prefix for prefix, _ in routes])


def _reexec_main_script_under_prefix(prefixes: Sequence[str]) -> None:
    """A child started as ``python /bfs/x.py`` (by subprocess, a shell, os.exec*) would
    have its script opened in C after this hook: execute the interpreter again, same pid,
    with the runner instead. ``sys.argv[0]`` is the script until the program starts."""
    main = sys.argv[0] if sys.argv else ""
    if main in ("", "-", "-c", "-m") or not under_prefix(os.path.abspath(main), prefixes):
        return
    command = python_command([sys.executable, *sys.orig_argv[1:]], prefixes)
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(sys.executable, command)


def run_main_script() -> None:
    """``python -c RUNNER SCRIPT ARGS``: run SCRIPT as ``python SCRIPT ARGS`` would."""
    if not _active:
        sys.exit(f"benchfs run: {GATE} is not active in this interpreter, so "
                 f"{sys.argv[1:2]} cannot be read")
    del sys.argv[0]  # "-c": the script becomes argv[0], as the interpreter would set it
    script = sys.argv[0]
    if not getattr(sys.flags, "safe_path", False):
        sys.path[0] = os.path.dirname(os.path.abspath(script))
    import runpy

    runpy.run_path(script, run_name="__main__")
