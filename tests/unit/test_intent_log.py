"""Transactions in the metadata log: intents, stored step results and fences survive
replay, torn tails and compaction, and a resent step is never applied twice.

As in test_wal, a crash is the directory's files copied as they are at that moment
into a fresh directory, recovered there.
"""

from __future__ import annotations

import errno
import stat
from pathlib import Path

import msgpack
import pytest

from benchfs.core.records import ROOT_INO
from benchfs.server.metadata import MetadataError, MetadataStore
from benchfs.server.wal import WriteAheadLog
from tests.unit.test_wal import disk_image, restore

TX = 0x1234_5678_9ABC


def packed(*args: object) -> bytes:
    return msgpack.packb(list(args))


def open_store(directory: Path) -> tuple[MetadataStore, WriteAheadLog]:
    wal = WriteAheadLog(directory)
    store = MetadataStore(0, holds_root=True, journal=wal.append)
    for record in wal.replay():
        store.apply(record)
    return store, wal


def recovered(directory: Path) -> MetadataStore:
    """The state a restart rebuilds (not journaling further changes)."""
    store = MetadataStore(0, holds_root=True)
    with WriteAheadLog(directory) as wal:
        for record in wal.replay():
            store.apply(record)
    return store


def make_file(store: MetadataStore, path: str) -> int:
    ino, _, _, _ = store.create(path, 0o644, True, 0, 0, ROOT_INO)
    return ino


def test_intents_and_step_results_survive_replay(tmp_path: Path) -> None:
    store, wal = open_store(tmp_path / "meta")
    ino = make_file(store, "/f")
    store.tx_begin(TX, "link", ["/g", ino, stat.S_IFREG])
    assert store.tx_step(TX, 1, "adjust", packed(ino, 1, False, False), 0) == [0, 2]
    store.tx_decide(TX, [["/g", ino, stat.S_IFREG]])
    wal.flush()
    again = recovered(restore(disk_image(tmp_path / "meta"), tmp_path / "crash"))
    intent = again.intents[TX]
    assert (intent.kind, intent.args, intent.decision, intent.finished) == (
        "link", ["/g", ino, stat.S_IFREG], [["/g", ino, stat.S_IFREG]], False)
    # The resend after the restart meets the stored answer; the count moved once.
    assert again.tx_step(TX, 1, "adjust", packed(ino, 1, False, False), 0) == [0, 2]
    assert again.getattr(ino).nlink == 2
    wal.close()


def test_a_step_and_its_stored_result_are_one_record(tmp_path: Path) -> None:
    """Cut the log at every offset of its last records: the link count never moves
    without its stored result, so no resend can count it twice."""
    store, wal = open_store(tmp_path / "meta")
    ino = make_file(store, "/f")
    wal.flush()
    before = (tmp_path / "meta" / "wal.0").stat().st_size
    store.tx_begin(TX, "unlink", ["/f", False, ROOT_INO, True])
    store.tx_step(TX, 1, "adjust", packed(ino, 1, False, False), 0)
    store.tx_finish(TX)
    wal.flush()
    image = disk_image(tmp_path / "meta")
    wal.close()
    log = image["wal.0"]
    outcomes = set()
    for cut in range(before, len(log) + 1):
        again = recovered(restore({**image, "wal.0": log[:cut]}, tmp_path / f"cut{cut}"))
        nlink = again.getattr(ino).nlink
        assert again.tx_step(TX, 1, "adjust", packed(ino, 1, False, False), 0) == [0, 2]
        assert again.getattr(ino).nlink == 2, (cut, nlink)  # once, whatever the cut
        outcomes.add((TX in again.intents, nlink,
                      TX in again.intents and again.intents[TX].finished))
    assert outcomes == {(False, 1, False), (True, 1, False), (True, 2, False), (True, 2, True)}


def test_failures_are_stored_but_a_fenced_subtree_is_not(tmp_path: Path) -> None:
    store, wal = open_store(tmp_path / "meta")
    ino = make_file(store, "/f")
    make_file(store, "/g")
    step = packed("/g", ino, stat.S_IFREG, False)
    assert store.tx_step(TX, 2, "add_entry", step, 0) == [errno.EEXIST, None]
    store.unlink("/g", False, ROOT_INO)
    # The name is free now, but the resend keeps the first answer: the plan that
    # saw EEXIST (and undid its link count) takes the same path when re-run.
    assert store.tx_step(TX, 2, "add_entry", step, 0) == [errno.EEXIST, None]
    store.mkdir("/d", 0o755, 0, 0)
    store.fence(TX + 1, "/d", "/d")
    with pytest.raises(MetadataError) as busy:
        store.tx_step(TX, 3, "add_entry", packed("/d/x", ino, stat.S_IFREG, False), 0)
    assert busy.value.errno == errno.EAGAIN
    wal.flush()
    again = recovered(restore(disk_image(tmp_path / "meta"), tmp_path / "crash"))
    assert again.tx_step(TX, 2, "add_entry", step, 0) == [errno.EEXIST, None]
    again.unfence(TX + 1, False)
    assert again.tx_step(TX, 3, "add_entry", packed("/d/x", ino, stat.S_IFREG, False),
                         0) == [0, None]
    with pytest.raises(MetadataError):
        again.tx_step(TX, 4, "setattr", packed(ino, {}), 0)  # not a step method
    wal.close()


def test_fences_outlive_a_restart_and_compaction(tmp_path: Path) -> None:
    store, wal = open_store(tmp_path / "meta")
    store.mkdir("/d", 0o755, 0, 0)
    make_file(store, "/d/a")
    listing = store.fence(TX, "/d", "/e")
    assert store.fence(TX, "/d", "/e") == listing  # a resend lists what the fence holds
    wal.compact(store.snapshot_records())
    store.tx_begin(TX + 1, "rmdir", ["/x", 5, 2, False, ROOT_INO])
    wal.flush()
    again = recovered(restore(disk_image(tmp_path / "meta"), tmp_path / "crash"))
    assert list(again.intents) == [TX + 1]
    for path in ("/d", "/d/a", "/e/b"):
        with pytest.raises(MetadataError) as busy:
            again.check_unfenced(path)
        assert busy.value.errno == errno.EAGAIN
    again.unfence(TX, True)  # the coordinator's redo after the restart
    with pytest.raises(MetadataError):
        again.lookup("/d/a")
    again.lookup("/")
    wal.close()


def test_forgetting_bounds_what_is_kept(tmp_path: Path) -> None:
    store, wal = open_store(tmp_path / "meta")
    ino = make_file(store, "/f")
    for txid in range(100):
        store.tx_begin(txid, "link", [])
        store.tx_step(txid, 1, "adjust", packed(ino, 0, False, False), 0)
        store.tx_finish(txid)
        store.tx_forget(txid)
        store.tx_drop(txid)
    wal.compact(store.snapshot_records())
    wal.close()
    again = recovered(tmp_path / "meta")
    assert again.intents == {}
    assert [r for r in again.snapshot_records()
            if b"_restore_step" in r or b"_restore_intent" in r] == []
