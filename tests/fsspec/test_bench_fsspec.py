"""`benchfs bench --phases fsspec`: a tiny run with two clients, every phase verified."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchfs.cli import main

pytest.importorskip("zarr")

FSSPEC_PHASES = ["fsspec-pipe-1MiB", "fsspec-cat-1MiB", "fsspec-read", "fsspec-info",
                 "fsspec-ls", "zarr-write", "zarr-read"]


def test_fsspec_phases_against_their_references(tmp_path: Path) -> None:
    json_path = tmp_path / "bench.json"
    assert main(["bench", "--phases", "fsspec", "--block-size", "8M", "--files", "30",
                 "--data-dir", str(tmp_path), "--json", str(json_path)]) == 0
    report = json.loads(json_path.read_text())
    assert [phase["name"] for phase in report["phases"]] == FSSPEC_PHASES
    for phase in report["phases"]:
        for target in ("benchfs", "os"):
            result = phase["results"][target]
            assert result["items"] == phase["expected_items"] and result["value"] > 0
        if phase["name"] in ("fsspec-cat-1MiB", "fsspec-read", "fsspec-ls", "zarr-read"):
            assert phase["results"]["benchfs"]["verified"] > 0
        assert phase["ratios"]["os"] > 0
