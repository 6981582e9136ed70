"""benchfs.core.views and benchfs.view_registry: views, their encoding, exclusive commits."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from benchfs.core.partitions import initial_table
from benchfs.core.views import Member, MemberState, View, initial_view
from benchfs.view_registry import (
    KEEP_VIEWS,
    clear_views,
    commit_view,
    current_view,
    read_view,
    view_file,
)


def test_initial_view_is_everyone_up_at_epoch_one() -> None:
    view = initial_view(3)
    assert view.epoch == 1 and view.ranks() == [0, 1, 2]
    assert view.authority() == 0
    assert view.table == initial_table([0, 1, 2])


def test_state_changes_make_the_next_epoch() -> None:
    view = initial_view(3).with_state(0, MemberState.DOWN)
    assert view.epoch == 2 and view.state(0) == MemberState.DOWN
    assert view.authority() == 1  # the lowest rank that is up
    assert view.ranks([MemberState.UP]) == [1, 2]
    with pytest.raises(ValueError):
        view.with_state(9, MemberState.UP)


def test_views_are_checked() -> None:
    table = initial_table([0, 1])
    with pytest.raises(ValueError):
        View(0, (Member(0), Member(1)), table)
    with pytest.raises(ValueError):
        View(1, (Member(1), Member(0)), table)  # not in rank order
    with pytest.raises(ValueError):
        View(1, (Member(0),), table)  # the table names a non-member
    with pytest.raises(ValueError):
        Member.from_json({"rank": 0, "host": "h", "port": 1, "state": "gone"})


def test_json_round_trip() -> None:
    view = initial_view(4).with_member(Member(2, "10.0.0.2", 5000, MemberState.LEAVING))
    assert View.from_json(json.loads(json.dumps(view.to_json()))) == view


def test_registry_without_views_is_epoch_one(tmp_path: Path) -> None:
    assert current_view(tmp_path, 3) == initial_view(3)


def test_one_proposer_wins_each_epoch(tmp_path: Path) -> None:
    base = initial_view(3)
    proposals = [base.with_state(rank, MemberState.DOWN) for rank in range(3)] * 4
    wins: list[View] = []
    barrier = threading.Barrier(len(proposals))

    def propose(view: View) -> None:
        barrier.wait()
        if commit_view(tmp_path, view):
            wins.append(view)

    threads = [threading.Thread(target=propose, args=(view,)) for view in proposals]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(wins) == 1
    assert read_view(tmp_path, 2) == wins[0] == current_view(tmp_path, 3)
    assert [p.name for p in tmp_path.iterdir()] == ["view-2.json"]  # no temp files left


def test_old_views_are_pruned_and_clear_removes_all(tmp_path: Path) -> None:
    view = initial_view(2)
    for _ in range(KEEP_VIEWS + 5):
        view = view.with_state(1, MemberState.DOWN if view.state(1) == MemberState.UP
                               else MemberState.UP)
        assert commit_view(tmp_path, view)
    kept = sorted(int(p.name[5:-5]) for p in tmp_path.glob("view-*.json"))
    assert kept[-1] == view.epoch and len(kept) <= KEEP_VIEWS + 1
    assert current_view(tmp_path, 2) == view
    clear_views(tmp_path)
    assert not view_file(tmp_path, view.epoch).exists()
    assert current_view(tmp_path, 2) == initial_view(2)
