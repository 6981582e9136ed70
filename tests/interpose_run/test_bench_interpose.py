"""`benchfs bench --interpose` end to end with tiny sizes: the shape of the figures only."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

from tests.interpose_run.conftest import RUN_TIMEOUT

PAIRS = ["outside os.stat", "outside open+read+close", "inside open().read() 4KiB",
         "inside Path.stat()", "inside write 1MiB", "inside read 1MiB"]


def test_interpose_mode_measures_every_pair(tmp_path: Path) -> None:
    json_path = tmp_path / "interpose.json"
    result = subprocess.run(
        [sys.executable, "-m", "benchfs", "bench", "--interpose", "--servers", "1",
         "--random-ops", "20", "--block-size", "2M", "--data-dir", str(tmp_path),
         "--json", str(json_path)],
        capture_output=True, text=True, timeout=RUN_TIMEOUT, check=False)
    assert result.returncode == 0, result.stderr
    report = json.loads(json_path.read_text())
    assert [pair["name"] for pair in report["pairs"]] == PAIRS
    for pair in report["pairs"]:
        assert pair["subject_value"] > 0 and pair["baseline_value"] > 0
        assert math.isfinite(pair["ratio"]) and pair["ratio"] > 0
    assert report["config"]["stream_mib"] == 2
    assert all(name in result.stdout for name in PAIRS)
    # The scratch directory (local file, cluster) is gone with the run.
    assert list(tmp_path.iterdir()) == [json_path]
