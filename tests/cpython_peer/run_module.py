"""Run one CPython regression test module with unittest, in a given working directory.

    python run_module.py --cwd DIR --results OUT.jsonl test_os [test_os.TestX.test_y ...]

The interpreter may be interposed (``benchfs run``): then DIR is under the prefix, and the
tests' files (``os_helper.TESTFN`` is relative to the working directory) land in benchfs.
Each outcome is appended to OUT (on the real disk) as soon as it is known, so a run killed
by its timeout still tells what ran and which test it was in.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import unittest
from typing import Any, TextIO


class Recording(unittest.TextTestResult):
    """Writes one JSON line per test outcome."""

    def __init__(self, sink: TextIO, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._sink = sink
        self._started = 0.0

    def _record(self, test: unittest.TestCase, outcome: str, detail: str = "") -> None:
        self._sink.write(json.dumps({"test": test.id(), "outcome": outcome,
                                     "seconds": round(time.perf_counter() - self._started, 3),
                                     "detail": detail[-2000:]}) + "\n")
        self._sink.flush()

    def startTest(self, test: unittest.TestCase) -> None:  # noqa: N802 (unittest's names)
        self._started = time.perf_counter()
        self._sink.write(json.dumps({"test": test.id(), "outcome": "started"}) + "\n")
        self._sink.flush()
        super().startTest(test)

    def addSuccess(self, test: unittest.TestCase) -> None:  # noqa: N802
        super().addSuccess(test)
        self._record(test, "pass")

    def addFailure(self, test: unittest.TestCase, err: Any) -> None:  # noqa: N802
        super().addFailure(test, err)
        self._record(test, "failure", self.failures[-1][1])

    def addError(self, test: unittest.TestCase, err: Any) -> None:  # noqa: N802
        super().addError(test, err)
        self._record(test, "error", self.errors[-1][1])

    def addSkip(self, test: unittest.TestCase, reason: str) -> None:  # noqa: N802
        super().addSkip(test, reason)
        self._record(test, "skip", reason)

    def addExpectedFailure(self, test: unittest.TestCase, err: Any) -> None:  # noqa: N802
        super().addExpectedFailure(test, err)
        self._record(test, "pass")  # as regrtest counts it

    def addUnexpectedSuccess(self, test: unittest.TestCase) -> None:  # noqa: N802
        super().addUnexpectedSuccess(test)
        self._record(test, "failure", "unexpected success")

    def addSubTest(self, test: unittest.TestCase, subtest: unittest.TestCase,
                   err: Any) -> None:  # noqa: N802
        super().addSubTest(test, subtest, err)
        if err is not None:  # the test then fails as a whole: recorded under its own id
            outcome = "failure" if issubclass(err[0], test.failureException) else "error"
            self._record(test, outcome, f"{subtest}\n{self._exc_info_to_string(err, test)}")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cwd", required=True)
    parser.add_argument("--results", required=True)
    parser.add_argument("module")
    parser.add_argument("names", nargs="*", help="test ids within the module (default: all)")
    args = parser.parse_args()
    # The results file is opened before the chdir: a relative path means the caller's cwd.
    sink = open(args.results, "a")  # noqa: SIM115 (kept open for the whole run)
    os.makedirs(args.cwd, exist_ok=True)
    os.chdir(args.cwd)
    if os.environ.get("TMPDIR"):  # tempfile would fall back to /tmp if it did not exist
        os.makedirs(os.environ["TMPDIR"], exist_ok=True)
    import tempfile

    tempfile.tempdir = None  # chosen again, now that TMPDIR exists
    from test import support

    support.use_resources = []  # as regrtest without -u: no network, cpu, largefile...
    with open("cwd-probe", "w") as probe:  # the caller checks where this landed
        probe.write(os.getcwd())
    sink.write(json.dumps({"cwd": os.getcwd(), "tmpdir": tempfile.gettempdir(),
                           "python": sys.version.split()[0]}) + "\n")
    loader = unittest.TestLoader()
    module = f"test.{args.module}"
    suite = (loader.loadTestsFromNames([f"{module}.{name}" for name in args.names])
             if args.names else loader.loadTestsFromName(module))
    runner = unittest.TextTestRunner(stream=sys.stderr, verbosity=0,
                                     resultclass=lambda *a, **k: Recording(sink, *a, **k))
    runner.run(suite)
    sink.write(json.dumps({"finished": True}) + "\n")
    sink.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
