#!/usr/bin/env bash
# The test suite: set up, then lint, type-check and run the tests.
# Extra arguments go to pytest (e.g. -k engine, or -m slow for the long runs).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$ROOT/scripts/setup.sh"
cd "$ROOT"
.venv/bin/ruff check benchfs tests build_ffi.py
.venv/bin/mypy
exec .venv/bin/python -m pytest "$@"
