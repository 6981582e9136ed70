"""The wire decoders under fuzzing (both directions: requests as servers decode them,
replies and the hello's answer as clients do): no exception but the malformed-frame
one. A short run here; ``-m slow`` runs 10^6 executions per decoder."""

from __future__ import annotations

import json
import os
import random
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.operate.fuzz_targets import BOMBS, TARGETS, check, mutate, mutation_loop

ROOT = Path(__file__).resolve().parents[2]
NAMES = sorted(TARGETS)
FULL_RUNS = 1_000_000

# Inputs found by fuzzing, or shaped like what fuzzers find, kept as regressions.
REGRESSIONS = [
    b"", b"\x90", b"\xc1", b"\x91\xc1", b"\x91" * 10_000, b"\xdd\xff\xff\xff\xff",
    b"\x92\x01\x81\x91\x01\x02",  # a map key that is an array (unhashable)
    b"\x91\xd6\xff\x00\x00\x00\x00",  # a msgpack timestamp
    b"\x91\xcb\x7f\xf8\x00\x00\x00\x00\x00\x00",  # NaN where an int belongs
    b"\x92\xc4\x20" + b"n" * 32 + b"\xa1\xff",  # invalid UTF-8 as a string
    b"\x96\xa2/a\xcd\x01\xa4\xc2\x00\x00\xcf\xff\xff\xff\xff\xff\xff\xff\xff",
    *BOMBS,
]


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("data", REGRESSIONS, ids=range(len(REGRESSIONS)))
def test_regressions(name: str, data: bytes) -> None:
    check(TARGETS[name], data)


@pytest.mark.parametrize("name", NAMES)
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.binary(max_size=300))
def test_random_bytes(name: str, data: bytes) -> None:
    check(TARGETS[name], data)


@pytest.mark.parametrize("name", NAMES)
@settings(max_examples=150, deadline=None)
@given(seed=st.integers(0, 2**32), rounds=st.integers(1, 6))
def test_mutated_valid_frames(name: str, seed: int, rounds: int) -> None:
    rng = random.Random(seed)
    data = rng.choice(TARGETS[name].seeds)
    for _ in range(rounds):
        data = mutate(rng, data)
        check(TARGETS[name], data)


@pytest.mark.parametrize("name", NAMES)
def test_short_mutation_run(name: str) -> None:
    assert mutation_loop(TARGETS[name], 3000, seed=1) == 3000


def _one_full_run(name: str) -> tuple[str, int, float]:
    # BENCHFS_FUZZ_MUTATE=1: the mutation loop even where atheris is installed (about
    # 3x the executions per second, without coverage guidance).
    mutate_only = ["--mutate"] if os.environ.get("BENCHFS_FUZZ_MUTATE") == "1" else []
    proc = subprocess.run([sys.executable, "-m", "tests.operate.fuzz_targets", name,
                           str(FULL_RUNS), *mutate_only], cwd=ROOT, capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=3600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    done = re.search(r"Done (\d+) runs in (\d+) second", proc.stderr)
    if done:
        return "atheris", int(done[1]), float(done[2])
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    return report["engine"], report["executions"], report["seconds"]


@pytest.mark.slow
@pytest.mark.timeout(4 * 3600)
def test_a_million_executions_per_decoder() -> None:
    """Coverage-guided (atheris) when installed, else the mutation loop."""
    results = {}
    started = time.monotonic()
    for name in NAMES:
        engine, runs, seconds = _one_full_run(name)
        assert runs >= FULL_RUNS, name
        results[name] = (engine, runs, seconds)
        print(f"fuzz {name}: {runs} executions ({engine}) in {seconds:.0f} s, "
              f"{runs / max(seconds, 1):.0f}/s", flush=True)
    print(f"fuzz total: {sum(r[1] for r in results.values())} executions over "
          f"{len(results)} decoders in {time.monotonic() - started:.0f} s")
