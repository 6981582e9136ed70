#!/usr/bin/env bash
# The main job: set up, start a local cluster, benchmark it against plain os, stop it.
# Extra arguments go to `benchfs bench` (try --help).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$ROOT/scripts/setup.sh"
if (($# == 0)); then set -- --quick; fi
exec "$ROOT/.venv/bin/benchfs" bench "$@"
