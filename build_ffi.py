"""cffi API-mode build of the C engine in csrc/ (DESIGN.md D1, D3).

The Python-visible declarations live next to the C they describe, between
``/* CDEF-BEGIN */`` and ``/* CDEF-END */`` in the csrc headers; this script
reads them so that no cdef is written twice. liburing and UCX are found with
pkg-config. setup.py names ``build_ffi.py:ffibuilder`` in ``cffi_modules``.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from cffi import FFI

ROOT = Path(__file__).resolve().parent
CSRC = ROOT / "csrc"
MODULE = "benchfs._native._engine"
PKG_CONFIG_PACKAGES = ("liburing", "ucx")
# The public API header comes first: the other headers' cdefs use its types.
MAIN_HEADER = "bfs_engine.h"

_CDEF_RE = re.compile(r"/\* CDEF-BEGIN \*/(.*?)/\* CDEF-END \*/", re.DOTALL)

INSTALL_HINT = (
    "benchfs needs liburing and UCX development files, found with pkg-config.\n"
    "On Debian/Ubuntu install them with:\n"
    "    sudo apt-get install pkg-config liburing-dev libucx-dev"
)


def _fail(reason: str) -> None:
    sys.exit(f"error: {reason}\n{INSTALL_HINT}")


def _headers() -> list[Path]:
    rest = sorted(p for p in CSRC.glob("*.h") if p.name != MAIN_HEADER)
    return [CSRC / MAIN_HEADER, *rest]


def read_cdefs() -> dict[str, str]:
    """Header name -> its CDEF sections, for every header that has any."""
    cdefs = {}
    for header in _headers():
        blocks = _CDEF_RE.findall(header.read_text())
        if blocks:
            cdefs[header.name] = "\n".join(blocks)
    return cdefs


def _pkg_config(*args: str) -> list[str]:
    if shutil.which("pkg-config") is None:
        _fail("pkg-config was not found")
    proc = subprocess.run(
        ["pkg-config", *args, *PKG_CONFIG_PACKAGES], capture_output=True, text=True
    )
    if proc.returncode != 0:
        _fail(f"pkg-config could not find {' and '.join(PKG_CONFIG_PACKAGES)}:\n{proc.stderr}")
    return proc.stdout.split()


def _split_flags(flags: list[str], prefix: str) -> tuple[list[str], list[str]]:
    picked = [f[len(prefix) :] for f in flags if f.startswith(prefix)]
    others = [f for f in flags if not f.startswith(prefix)]
    return picked, others


def _sources() -> list[str]:
    # setuptools wants paths relative to the project root, where setup.py runs.
    return [os.path.relpath(p, Path.cwd()) for p in sorted(CSRC.glob("*.c"))]


def make_builder() -> FFI:
    include_dirs, cflags = _split_flags(_pkg_config("--cflags"), "-I")
    libs, libflags = _split_flags(_pkg_config("--libs"), "-l")
    library_dirs, ldflags = _split_flags(libflags, "-L")
    cdefs = read_cdefs()
    builder = FFI()
    builder.cdef("\n".join(cdefs.values()))
    builder.set_source(
        MODULE,
        "".join(f'#include "{name}"\n' for name in cdefs),
        sources=_sources(),
        include_dirs=[os.path.relpath(CSRC, Path.cwd()), *include_dirs],
        libraries=libs,
        library_dirs=library_dirs,
        extra_compile_args=["-O2", "-Wall", *cflags],
        extra_link_args=ldflags,
    )
    return builder


ffibuilder = make_builder()

if __name__ == "__main__":
    ffibuilder.compile(verbose=True)
