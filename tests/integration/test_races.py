"""Clients in separate processes racing on the same names end in one consistent state."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import benchfs
from benchfs.cluster import LocalCluster

ROOT = Path(__file__).parents[2]


def _start(registry: Path, *args: object) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "tests.integration.race_child",
                             str(registry), *map(str, args)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)


def _result(child: subprocess.Popen[str]) -> object:
    out, err = child.communicate(timeout=300)
    assert child.returncode == 0, err
    return json.loads(out)


def test_concurrent_renames_of_one_directory_leave_one_winner(cluster: LocalCluster) -> None:
    rounds = 20
    with benchfs.connect(cluster.registry) as client:
        client.mkdir("/race")
        for round_no in range(rounds):
            client.mkdir(f"/race/d{round_no}")
            client.mkdir(f"/race/d{round_no}/sub")
            client.close(client.open(f"/race/d{round_no}/sub/file", 0o101))
        first = _start(cluster.registry, "rename", "/race/d", "/race/a", rounds)
        second = _start(cluster.registry, "rename", "/race/d", "/race/b", rounds)
        won_a, won_b = _result(first), _result(second)
        names = set(client.listdir("/race"))
        for round_no in range(rounds):
            # Exactly one rename of each round won, and the tree went with it whole.
            assert won_a[round_no] != won_b[round_no], round_no
            winner = f"a{round_no}" if won_a[round_no] else f"b{round_no}"
            loser = f"b{round_no}" if won_a[round_no] else f"a{round_no}"
            assert winner in names and loser not in names and f"d{round_no}" not in names
            assert client.listdir(f"/race/{winner}/sub") == ["file"]
            assert client.stat(f"/race/{winner}/sub/file").st_nlink == 1


def test_a_rename_racing_creates_never_loses_an_acknowledged_file(
    cluster: LocalCluster,
) -> None:
    count = 20000
    with benchfs.connect(cluster.registry) as client:
        client.mkdir("/moving0")
        creator = _start(cluster.registry, "create", "/moving0", count)
        while len(client.listdir("/moving0")) < 50:  # the creator is under way
            time.sleep(0.01)
        renamer = _start(cluster.registry, "rename", "/moving", "/moved", 1)
        made, renamed = _result(creator), _result(renamer)
        assert renamed == [True]
        assert "moving0" not in client.listdir("/")
        present = set(client.listdir("/moved0"))
        # Every create the client saw succeed is there; nothing appeared from nowhere.
        assert set(made) <= present
        assert present <= {f"f{i}" for i in range(count)}
        for name in present:
            assert client.stat(f"/moved0/{name}").st_size == 0
