"""`benchfs bench --mount`: the phases also run with plain os on a FUSE mount of the
cluster, in the same run. Shape and verification only, never speed (DESIGN §4)."""

from __future__ import annotations

import json
from pathlib import Path

from benchfs.cli import main
from benchfs.fuse.mount import mounted_points
from tests.test_bench import TINY, _check_measurement


def test_every_phase_runs_through_the_mount_too(tmp_path: Path) -> None:
    point = tmp_path / "mnt"
    point.mkdir()
    json_path = tmp_path / "bench.json"
    assert main(["bench", *TINY, "--servers", "1", "--clients", "1",
                 "--phases", "ior-easy,mdtest-easy,random-4k", "--data-dir", str(tmp_path),
                 "--mount", str(point), "--json", str(json_path)]) == 0
    report = json.loads(json_path.read_text())
    assert report["phases"]
    for phase in report["phases"]:
        mounted = phase["results"]["mount"]
        _check_measurement(mounted, phase["expected_items"])
        if phase["name"].endswith(("read", "stat")) or "-read-" in phase["name"]:
            assert mounted["verified"] == phase["expected_items"]
        assert phase["mount_per_benchfs"] > 0
    assert str(point) not in mounted_points()  # the run's own mount is gone with it
    assert list(point.iterdir()) == []
