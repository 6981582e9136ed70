#!/usr/bin/env bash
# Installs what a fresh Debian machine lacks and builds benchfs into .venv.
# Sourced by run.sh and test.sh; safe to run again (it only adds what is missing).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DEBIAN_PACKAGES=(liburing-dev libucx-dev ucx-utils pkg-config gcc fio openmpi-bin libopenmpi-dev fuse3 libfuse3-dev iproute2)

missing=()
for pkg in "${DEBIAN_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if ((${#missing[@]})); then
    echo "setup: installing Debian packages: ${missing[*]}" >&2
    SUDO=""; [[ $(id -u) -ne 0 ]] && SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

pick_python() {
    for candidate in "${BENCHFS_PYTHON:-}" python3.11 python3.12 python3.13 python3.10 python3; do
        [[ -n "$candidate" ]] || continue
        if command -v "$candidate" >/dev/null 2>&1 &&
            "$candidate" -c 'import sys, venv, ensurepip; sys.exit(sys.version_info < (3, 10))' 2>/dev/null; then
            echo "$candidate"; return
        fi
    done
    echo "setup: no Python >= 3.10 with venv found; installing python3-venv python3-dev" >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv python3-dev >/dev/null
    echo python3
}

VENV="$ROOT/.venv"
if [[ ! -x "$VENV/bin/python" ]]; then
    "$(pick_python)" -m venv "$VENV"
fi
# CPython's own regression tests (tests/cpython_peer): Debian ships them in a package apart.
if ! "$VENV/bin/python" -c 'import test.test_os' 2>/dev/null; then
    testsuite="libpython$("$VENV/bin/python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')-testsuite"
    if apt-cache show "$testsuite" >/dev/null 2>&1; then
        echo "setup: installing $testsuite" >&2
        SUDO=""; [[ $(id -u) -ne 0 ]] && SUDO="sudo"
        DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "$testsuite" >/dev/null
    fi
fi
stamp="$VENV/.benchfs-installed"
# Rebuild when the build inputs changed since the last install.
if [[ ! -f "$stamp" ]] || [[ -n "$(find "$ROOT/pyproject.toml" "$ROOT/build_ffi.py" "$ROOT/csrc" -newer "$stamp" 2>/dev/null)" ]]; then
    "$VENV/bin/python" -m pip install -q --upgrade pip >/dev/null
    "$VENV/bin/python" -m pip install -q -e "$ROOT[test,dev,bench,mpi,fsspec,fuse]"
    touch "$stamp"
fi
