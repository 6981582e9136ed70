"""``benchfs bench``: IOR- and mdtest-style phases (as IO500 runs them) on benchfs, each
next to the same phase on plain os on the same disk and, for ior-easy, fio O_DIRECT."""

from benchfs.bench.measure import BenchError, VerificationError
from benchfs.bench.options import FAMILIES, FULL, QUICK, BenchOptions, OptionsError, Workload
from benchfs.bench.runner import run_bench

__all__ = ["FAMILIES", "FULL", "QUICK", "BenchError", "BenchOptions", "OptionsError",
           "VerificationError", "Workload", "run_bench"]
