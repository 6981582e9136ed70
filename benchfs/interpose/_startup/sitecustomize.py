"""``benchfs run``'s startup hook: site imports it before the program's first line.

With BENCHFS_INTERPOSE set it starts interposition or, when that fails, stops the
interpreter with a message: the program would otherwise write its prefix's paths to
the local disk. Then the sitecustomize this one shadows on sys.path, if any, runs too.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import os
import sys

_GATE = "BENCHFS_INTERPOSE"
# The exit status when interposition could not start (EX_SOFTWARE).
_STARTUP_FAILED = 70
_HERE = os.path.dirname(os.path.abspath(__file__))


def _start_interposition() -> None:
    routes = os.environ.get(_GATE)
    if not routes:
        return
    try:
        from benchfs.interpose.launch import start_from_environment

        start_from_environment(routes)
    except Exception as error:  # any failure: refuse to run unrouted
        sys.stderr.write(f"benchfs run: {_GATE}={routes} is set, but interposition could not "
                         f"start in {sys.executable}: {type(error).__name__}: {error}\n")
        sys.stderr.flush()
        # SystemExit here would be a fatal error of the site import, with a traceback.
        os._exit(_STARTUP_FAILED)


def _chain_shadowed_sitecustomize() -> None:
    """Run the next sitecustomize on sys.path (a distribution's, a venv's) as its own."""
    others = [entry for entry in sys.path if os.path.abspath(entry or os.curdir) != _HERE]
    spec = importlib.machinery.PathFinder.find_spec("sitecustomize", others)
    if spec is None or spec.loader is None:
        return
    module = importlib.util.module_from_spec(spec)
    sys.modules["sitecustomize"] = module
    spec.loader.exec_module(module)


_start_interposition()
_chain_shadowed_sitecustomize()
