"""CPython's own regression tests as a peer suite: each module on ext4, then in benchfs.

    python -m tests.cpython_peer.peer [--modules test_os,test_shutil,...] [--json OUT]
                                      [--registry R] [--timeout SECONDS]

Each module runs twice in a child interpreter (``run_module.py``): once in a temporary
directory on the real disk, once under ``benchfs run`` with its working directory and
TMPDIR under the prefix. The report gives both sides' counts and the tests that pass on
ext4 but not on benchfs. Without --registry a local 2-server cluster is started.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

RUNNER = str(Path(__file__).with_name("run_module.py"))
MODULES = ("test_os", "test_shutil", "test_fileio", "test_file", "test_pathlib",
           "test_tempfile", "test_glob")
# The worst outcome of a test wins (a test with a failed subtest has failed).
_RANK = {"pass": 0, "skip": 1, "failure": 2, "error": 3}
EXT4, BENCHFS = "ext4", "benchfs"


@dataclass
class ModuleRun:
    module: str
    where: str
    cwd: str | None = None  # what os.getcwd() answered inside the run
    tmpdir: str | None = None
    outcomes: dict[str, str] = field(default_factory=dict)  # test id -> outcome
    details: dict[str, str] = field(default_factory=dict)  # test id -> traceback or reason
    finished: bool = False
    stuck_in: str | None = None  # the test that was running when the timeout struck
    exit_code: int | None = None  # None: killed at the timeout
    seconds: float = 0.0
    stderr_tail: str = ""

    def counts(self) -> dict[str, int]:
        counted = Counter(self.outcomes.values())
        return {"ran": len(self.outcomes), "failures": counted["failure"],
                "errors": counted["error"], "skips": counted["skip"]}


def _read_results(path: Path, run: ModuleRun) -> None:
    running: str | None = None
    for line in path.read_text().splitlines():
        record = json.loads(line)
        if "cwd" in record:
            run.cwd, run.tmpdir = record["cwd"], record["tmpdir"]
        elif record.get("finished"):
            run.finished = True
        elif record["outcome"] == "started":
            running = record["test"]
        else:
            test, outcome = record["test"], record["outcome"]
            if _RANK[outcome] >= _RANK.get(run.outcomes.get(test, "pass"), 0):
                run.outcomes[test] = outcome
                if record["detail"]:
                    run.details[test] = record["detail"]
            running = None if test == running else running
    if not run.finished:
        run.stuck_in = running


@dataclass(frozen=True)
class Target:
    """A cluster and the prefix its files appear under in ``benchfs run``."""

    registry: str
    prefix: str


def run_module(module: str, scratch: Path, timeout: float, target: Target | None = None,
               names: Sequence[str] = ()) -> ModuleRun:
    """``module`` in ``scratch`` on the real disk, or under ``target``'s prefix."""
    results = scratch / f"{module}-{EXT4 if target is None else BENCHFS}.jsonl"
    results.unlink(missing_ok=True)
    command = [sys.executable, RUNNER, "--results", str(results)]
    env = dict(os.environ)
    if target is None:
        run = ModuleRun(module, EXT4)
        env["TMPDIR"] = str(scratch / f"tmp-{module}")
        command += ["--cwd", str(scratch / f"cwd-{module}")]
    else:
        run = ModuleRun(module, BENCHFS)
        env["TMPDIR"] = f"{target.prefix}/peer-tmp-{module}"
        command = [sys.executable, "-m", "benchfs", "run", "--prefix", target.prefix,
                   "--registry", target.registry, "--", *command,
                   "--cwd", f"{target.prefix}/peer-{module}"]
    command += [module, *names]
    started = time.perf_counter()
    try:
        finished = subprocess.run(command, env=env, capture_output=True, text=True,
                                  timeout=timeout, check=False, cwd=scratch)
        run.stderr_tail = finished.stderr[-3000:]
        run.exit_code = finished.returncode
    except subprocess.TimeoutExpired as expired:
        stderr = expired.stderr or b""
        run.stderr_tail = (stderr.decode(errors="replace") if isinstance(stderr, bytes)
                           else stderr)[-3000:]
    run.seconds = time.perf_counter() - started
    if results.exists():
        _read_results(results, run)
    return run


def regressions(ext4: ModuleRun, benchfs: ModuleRun) -> dict[str, str]:
    """Tests that pass on ext4 and do not on benchfs -> their outcome there."""
    return {test: benchfs.outcomes.get(test, "not run")
            for test, outcome in sorted(ext4.outcomes.items())
            if outcome == "pass" and benchfs.outcomes.get(test) != "pass"}


@contextmanager
def cluster_target(registry: str | None, root: Path) -> Iterator[Target]:
    """The given cluster, or a local 2-server one for the length of the run."""
    prefix = f"/bfs-peer-{uuid.uuid4().hex[:8]}"
    if registry is not None:
        yield Target(registry, prefix)
        return
    from benchfs.cluster import LocalCluster

    os.environ.setdefault("UCX_NET_DEVICES", "lo")
    os.environ.setdefault("UCX_TLS", "sm,tcp")
    cluster = LocalCluster(root / "cluster")
    cluster.up(2, transport=os.environ["UCX_TLS"])
    try:
        yield Target(str(cluster.registry), prefix)
    finally:
        cluster.down()


def format_report(pairs: Sequence[tuple[ModuleRun, ModuleRun]]) -> str:
    lines = [f"{'module':<16}{'side':<9}{'ran':>6}{'fail':>6}{'error':>6}{'skip':>6}"
             f"{'seconds':>9}  note"]
    for pair in pairs:
        for run in pair:
            counts = run.counts()
            note = ("" if run.finished else f"timed out in {run.stuck_in}"
                    if run.exit_code is None else f"exit {run.exit_code} in {run.stuck_in}")
            if run.where == BENCHFS:
                note += f" cwd={run.cwd} tmp={run.tmpdir}"
            lines.append(f"{run.module:<16}{run.where:<9}{counts['ran']:>6}"
                         f"{counts['failures']:>6}{counts['errors']:>6}{counts['skips']:>6}"
                         f"{run.seconds:>9.1f}  {note.strip()}")
    for ext4, benchfs in pairs:
        lost = regressions(ext4, benchfs)
        lines += ["", f"{ext4.module}: {len(lost)} tests pass on ext4 and not on benchfs"]
        lines += [f"  {outcome:<8} {test}" for test, outcome in lost.items()]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--modules", default=",".join(MODULES))
    parser.add_argument("--registry", help="an existing cluster (default: start one)")
    parser.add_argument("--timeout", type=float, default=1800, help="per module and side")
    parser.add_argument("--json", dest="json_path", help="every outcome, both sides")
    args = parser.parse_args(argv)
    modules = [name.strip() for name in args.modules.split(",") if name.strip()]
    with tempfile.TemporaryDirectory(prefix="cpython-peer-") as scratch:
        root = Path(scratch)
        with cluster_target(args.registry, root) as target:
            pairs = []
            for module in modules:
                ext4 = run_module(module, root, args.timeout)
                benchfs = run_module(module, root, args.timeout, target)
                pairs.append((ext4, benchfs))
                print(format_report([(ext4, benchfs)]).split("\n\n")[0], flush=True)
    print(format_report(pairs))
    if args.json_path:
        Path(args.json_path).write_text(json.dumps(
            [{"ext4": vars(ext4), "benchfs": vars(benchfs),
              "counts": {EXT4: ext4.counts(), BENCHFS: benchfs.counts()},
              "regressions": regressions(ext4, benchfs)} for ext4, benchfs in pairs],
            indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
