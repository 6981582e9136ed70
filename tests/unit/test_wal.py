"""benchfs.server.wal: framing, torn tails, group commit, compaction and crash recovery.

A process crash is simulated by copying the directory's files as they are at
that moment (what the page cache holds) into a fresh directory and recovering
there; a real kill -9 is done once, in a subprocess.
"""

from __future__ import annotations

import contextlib
import errno
import os
import random
import signal
import subprocess
import sys
import tempfile
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from benchfs.server.wal import (
    HEADER_SIZE,
    LOCK_NAME,
    WALCorruptError,
    WALError,
    WALStateError,
    WriteAheadLog,
)

Image = dict[str, bytes]


def open_log(directory: Path, **options: Any) -> tuple[WriteAheadLog, list[bytes]]:
    wal = WriteAheadLog(directory, **options)
    return wal, list(wal.replay())


def recovered(directory: Path) -> list[bytes]:
    with WriteAheadLog(directory) as wal:
        return list(wal.replay())


def disk_image(directory: Path) -> Image:
    """The directory's files as a crash at this moment would leave them."""
    return {p.name: p.read_bytes() for p in directory.iterdir() if p.name != LOCK_NAME}


def restore(image: Image, directory: Path) -> Path:
    directory.mkdir(parents=True)
    for name, data in image.items():
        (directory / name).write_bytes(data)
    return directory


def names(directory: Path) -> set[str]:
    return {p.name for p in directory.iterdir()} - {LOCK_NAME}


def frame_size(record: bytes) -> int:
    return HEADER_SIZE + len(record)


@contextlib.contextmanager
def crash_points(directory: Path, images: list[Image]) -> Iterator[None]:
    """Record a disk image before every file system call that changes something."""
    busy = False

    def wrap(real: Callable[..., Any]) -> Callable[..., Any]:
        def call(*args: Any, **kwargs: Any) -> Any:
            nonlocal busy
            if not busy:
                busy = True
                try:
                    images.append(disk_image(directory))
                finally:
                    busy = False
            return real(*args, **kwargs)
        return call

    with pytest.MonkeyPatch.context() as patch:
        for name in ("open", "write", "fsync", "fdatasync", "ftruncate", "rename", "unlink",
                     "close"):
            patch.setattr(os, name, wrap(getattr(os, name)))
        yield


# -- round trips -----------------------------------------------------------------------

OPS = st.lists(
    st.one_of(
        st.binary(max_size=48).map(lambda payload: ("append", payload)),
        st.sampled_from(["flush", "sync", "reopen", "crash", "compact"]).map(
            lambda op: (op, b"")),
    ),
    max_size=40,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops=OPS)
def test_round_trip_against_a_model(ops: list[tuple[str, bytes]]) -> None:
    options = {"compact_bytes": 200}  # small, so automatic compactions happen too
    with tempfile.TemporaryDirectory() as root:
        directory = Path(root) / "d0"
        wal, replayed = open_log(directory, **options)
        assert replayed == []
        flushed: list[bytes] = []  # what a process crash keeps
        pending: list[bytes] = []
        try:
            for step, (op, payload) in enumerate(ops):
                if op == "append":
                    wal.append(payload)
                    pending.append(payload)
                elif op in ("flush", "sync", "compact"):
                    if op == "compact":
                        wal.compact(list(flushed + pending))
                    else:
                        getattr(wal, op)()
                    flushed += pending
                    pending = []
                    assert wal.stats.pending_bytes == 0
                elif op == "reopen":
                    wal.close()
                    flushed += pending
                    pending = []
                    wal, replayed = open_log(directory, **options)
                    assert replayed == flushed
                else:  # crash: the buffered records are lost, the flushed ones are not
                    image = disk_image(directory)
                    wal.close()
                    directory = restore(image, Path(root) / f"d{step + 1}")
                    pending = []
                    wal, replayed = open_log(directory, **options)
                    assert replayed == flushed
                if wal.should_compact():
                    wal.compact(list(flushed + pending))
                    flushed += pending
                    pending = []
        finally:
            wal.close()
        assert recovered(directory) == flushed + pending


def test_records_of_every_size_class_round_trip(tmp_path: Path) -> None:
    records = [b"", b"\x00", b"x" * 65536, bytes(range(256)) * 3, b"BFW1" * 10]
    wal, _ = open_log(tmp_path / "d")
    for record in records:
        wal.append(record)
    wal.close()
    assert recovered(tmp_path / "d") == records
    assert (tmp_path / "d" / "wal.0").stat().st_size == sum(map(frame_size, records))


# -- torn and corrupt tails --------------------------------------------------------------

RECORDS = [b"r%d-" % i + b"p" * (i * 7) for i in range(8)] + [b"", b"tail-" * 8, b"last" * 20]


def written_log(tmp_path: Path) -> tuple[bytes, list[int]]:
    """The log file holding RECORDS, and the offset just past each record."""
    wal, _ = open_log(tmp_path / "source")
    for record in RECORDS:
        wal.append(record)
    wal.close()
    ends, pos = [], 0
    for record in RECORDS:
        pos += frame_size(record)
        ends.append(pos)
    log = (tmp_path / "source" / "wal.0").read_bytes()
    assert len(log) == ends[-1]
    return log, ends


def check_recovers(directory: Path, log: bytes, complete: int, ends: list[int]) -> None:
    """Replay gives the first ``complete`` records; appends then land after them."""
    restore({"wal.0": log}, directory)
    wal, replayed = open_log(directory)
    assert replayed == RECORDS[:complete]
    assert (directory / "wal.0").stat().st_size == (ends[complete - 1] if complete else 0)
    wal.append(b"new-1")
    wal.append(b"new-2")
    wal.close()
    assert recovered(directory) == RECORDS[:complete] + [b"new-1", b"new-2"]


def test_a_cut_at_every_offset_of_the_last_records(tmp_path: Path) -> None:
    log, ends = written_log(tmp_path)
    start = ends[-4]  # the last three records, one of them empty
    for cut in range(start, len(log) + 1):
        complete = sum(1 for end in ends if end <= cut)
        check_recovers(tmp_path / f"cut{cut}", log[:cut], complete, ends)


def test_zeros_after_the_last_record_are_cut(tmp_path: Path) -> None:
    log, ends = written_log(tmp_path)  # what ext4 can show after a power loss
    check_recovers(tmp_path / "zeros", log + bytes(4096), len(RECORDS), ends)


def test_every_bit_flip_in_the_last_record_is_detected(tmp_path: Path) -> None:
    log, ends = written_log(tmp_path)
    for bit in range(ends[-2] * 8, len(log) * 8):
        flipped = bytearray(log)
        flipped[bit // 8] ^= 1 << (bit % 8)
        check_recovers(tmp_path / f"bit{bit}", bytes(flipped), len(RECORDS) - 1, ends)


def test_corruption_in_the_middle_stops_replay_there(tmp_path: Path) -> None:
    log, ends = written_log(tmp_path)
    flipped = bytearray(log)
    flipped[ends[2] + HEADER_SIZE] ^= 0x40  # the first payload byte of record 3
    check_recovers(tmp_path / "middle", bytes(flipped), 3, ends)
    with WriteAheadLog(tmp_path / "middle") as wal:
        list(wal.replay())
        assert wal.stats.dropped_bytes == 0  # cut once, on the first recovery


# -- group commit -------------------------------------------------------------------------


def test_a_batch_costs_one_write_and_one_fdatasync(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    wal, _ = open_log(tmp_path / "d")
    calls: Counter[str] = Counter()
    for name in ("write", "fdatasync", "fsync"):
        real = getattr(os, name)

        def counted(*args: Any, _name: str = name, _real: Any = real) -> Any:
            calls[_name] += 1
            return _real(*args)
        monkeypatch.setattr(os, name, counted)
    for i in range(100):
        wal.append(b"mutation %d" % i)
    assert calls["write"] == 0  # append only buffers
    wal.sync()
    wal.sync()  # many fsync requests of a batch: nothing new, no second fdatasync
    wal.flush()
    assert calls == {"write": 1, "fdatasync": 1}
    wal.append(b"one more")
    wal.flush()
    assert calls == {"write": 2, "fdatasync": 1}
    stats = wal.stats
    assert (stats.records, stats.flushes, stats.syncs) == (101, 2, 1)
    assert stats.bytes_written == stats.log_bytes == sum(
        frame_size(b"mutation %d" % i) for i in range(100)) + frame_size(b"one more")
    wal.close()
    assert calls["fdatasync"] == 2  # close syncs


def test_a_failed_write_leaves_no_partial_record(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    wal, _ = open_log(tmp_path / "d")
    wal.append(b"kept")
    wal.flush()
    wal.append(b"b" * 100)
    wal.append(b"c" * 100)
    real_write = os.write
    attempts = []

    def disk_fills(fd: int, data: Any) -> int:
        attempts.append(len(data))
        if len(attempts) == 1:
            return real_write(fd, bytes(data[:len(data) // 2]))
        raise OSError(errno.ENOSPC, "No space left on device")
    monkeypatch.setattr(os, "write", disk_fills)
    with pytest.raises(OSError) as failure:
        wal.flush()
    assert failure.value.errno == errno.ENOSPC and len(attempts) == 2
    monkeypatch.undo()
    assert (tmp_path / "d" / "wal.0").stat().st_size == frame_size(b"kept")
    wal.append(b"d")
    wal.flush()  # the space came back: the buffered records go out
    wal.close()
    assert recovered(tmp_path / "d") == [b"kept", b"b" * 100, b"c" * 100, b"d"]


def test_a_failed_fdatasync_breaks_the_log(tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    wal, _ = open_log(tmp_path / "d")
    wal.append(b"x")

    def eio(fd: int) -> None:
        raise OSError(errno.EIO, "I/O error")
    monkeypatch.setattr(os, "fdatasync", eio)
    with pytest.raises(OSError):
        wal.sync()
    with pytest.raises(WALStateError, match="broken"):
        wal.append(b"y")
    wal.close()
    monkeypatch.undo()
    assert recovered(tmp_path / "d") == [b"x"]  # it was written; only its sync failed


def test_kill_9_keeps_every_flushed_batch(tmp_path: Path) -> None:
    script = (
        "import os, signal, sys\n"
        "from benchfs.server.wal import WriteAheadLog\n"
        "wal = WriteAheadLog(sys.argv[1])\n"
        "assert list(wal.replay()) == []\n"
        "for batch in range(20):\n"
        "    for i in range(50):\n"
        "        wal.append(b'%d:%d' % (batch, i))\n"
        "    wal.flush()\n"
        "    print(batch, flush=True)\n"
        "wal.append(b'never flushed')\n"
        "os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    directory = tmp_path / "d"
    done = subprocess.run([sys.executable, "-c", script, str(directory)],
                          capture_output=True, timeout=60, check=False)
    assert done.returncode == -signal.SIGKILL, done.stderr.decode()
    acknowledged = done.stdout.split()
    assert acknowledged[-1] == b"19"
    assert recovered(directory) == [b"%d:%d" % (b, i) for b in range(20) for i in range(50)]


# -- misuse ---------------------------------------------------------------------------------


def test_calls_out_of_order_raise(tmp_path: Path) -> None:
    wal = WriteAheadLog(tmp_path / "d")
    with pytest.raises(WALStateError, match="replay"):
        wal.append(b"x")
    with pytest.raises(WALStateError):
        wal.flush()
    replay = wal.replay()
    with pytest.raises(WALStateError, match="replay"):
        wal.replay()
    with pytest.raises(WALStateError, match="run to its end"):
        wal.append(b"x")
    assert list(replay) == []
    wal.append(b"x")
    with pytest.raises(WALStateError, match="replay"):
        wal.replay()
    wal.close()
    wal.close()
    for call in (lambda: wal.append(b"y"), wal.flush, wal.sync, wal.should_compact,
                 lambda: wal.compact([])):
        with pytest.raises(WALStateError, match="closed"):
            call()
    with pytest.raises(ValueError):
        WriteAheadLog(tmp_path / "e", compact_bytes=0)


def test_close_during_replay_stops_it(tmp_path: Path) -> None:
    wal, _ = open_log(tmp_path / "d")
    for i in range(3):
        wal.append(b"%d" % i)
    wal.close()
    wal = WriteAheadLog(tmp_path / "d")
    replay = wal.replay()
    assert next(replay) == b"0"
    wal.close()
    with pytest.raises(WALStateError, match="closed"):
        next(replay)


def test_one_log_per_directory(tmp_path: Path) -> None:
    with WriteAheadLog(tmp_path / "d"):
        with pytest.raises(WALError, match="another"):
            WriteAheadLog(tmp_path / "d")
    with WriteAheadLog(tmp_path / "d") as wal:
        assert list(wal.replay()) == []


# -- compaction -----------------------------------------------------------------------------


def test_compaction_starts_a_new_generation(tmp_path: Path) -> None:
    directory = tmp_path / "d"
    wal, _ = open_log(directory, compact_bytes=100)
    for i in range(10):
        wal.append(b"set %d" % i)
    assert wal.should_compact()
    wal.compact([b"state"])
    assert not wal.should_compact()
    assert names(directory) == {"snapshot.1", "wal.1"}
    assert (wal.generation, wal.stats.compactions, wal.stats.log_bytes) == (1, 1, 0)
    wal.append(b"after")
    wal.close()
    assert recovered(directory) == [b"state", b"after"]


def test_compaction_waits_for_the_log_to_match_the_snapshot(tmp_path: Path) -> None:
    wal, _ = open_log(tmp_path / "d", compact_bytes=1000)
    big_state = [b"s" * 100] * 100  # a snapshot of about 11 KiB
    wal.compact(big_state)
    snapshot = wal.stats.snapshot_bytes
    assert snapshot > 10000
    while wal.stats.log_bytes + wal.stats.pending_bytes < snapshot - 200:
        wal.append(b"m" * 88)
        assert not wal.should_compact()
    for _ in range(3):
        wal.append(b"m" * 88)
    assert wal.should_compact()
    wal.close()


OLD = [b"old-%d" % i for i in range(40)]
NEW = [b"new-%d" % i for i in range(30)]  # another encoding of the same state


def compaction_images(directory: Path, earlier_compactions: int) -> list[Image]:
    """Disk images before every change compaction makes, and after it."""
    wal, _ = open_log(directory)
    for record in OLD[:20]:
        wal.append(record)
    for _ in range(earlier_compactions):
        wal.compact(OLD[:20])
    for record in OLD[20:35]:
        wal.append(record)
    wal.flush()
    for record in OLD[35:]:
        wal.append(record)  # still buffered: compaction flushes them first
    images: list[Image] = []
    with crash_points(directory, images):
        wal.compact(NEW)
    images.append(disk_image(directory))
    wal.close()
    return images


@pytest.mark.parametrize("earlier_compactions", [0, 1])
def test_a_crash_at_any_step_of_compaction_recovers(tmp_path: Path,
                                                    earlier_compactions: int) -> None:
    images = compaction_images(tmp_path / "live", earlier_compactions)
    old_generation = earlier_compactions
    new_generation = old_generation + 1
    # The images cover the interesting states: a temp file, and both generations at once.
    assert any(name.endswith(".tmp") for image in images for name in image)
    assert any({f"wal.{old_generation}", f"snapshot.{new_generation}"} <= set(image)
               for image in images)
    outcomes = []
    for i, image in enumerate(images):
        directory = restore(image, tmp_path / f"crash{i}")
        wal, replayed = open_log(directory)
        outcome = [OLD[:35], OLD, NEW].index(replayed)  # ValueError on anything else
        outcomes.append(outcome)
        generation = new_generation if outcome == 2 else old_generation
        assert wal.generation == generation
        snapshot = {f"snapshot.{generation}"} if generation else set()
        assert names(directory) == {f"wal.{generation}"} | snapshot
        wal.append(b"more")
        wal.close()
        assert recovered(directory) == replayed + [b"more"]
    # Old state (without, then with, the flushed tail) until the commit point; new after.
    assert outcomes == sorted(outcomes)
    assert outcomes[0] == 0 and 1 in outcomes and outcomes[-1] == 2


@pytest.mark.parametrize("step", ["rename", "open", "fsync"])
def test_a_failed_compaction_keeps_the_old_generation(tmp_path: Path, step: str) -> None:
    directory = tmp_path / "d"
    wal, _ = open_log(directory)
    for record in OLD:
        wal.append(record)
    real = getattr(os, step)
    target = "snapshot.1.tmp" if step != "open" else "wal.1"

    def fails(*args: Any, **kwargs: Any) -> Any:
        if step == "fsync" or str(args[0]).endswith(target):
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(*args, **kwargs)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(os, step, fails)
        with pytest.raises(OSError):
            wal.compact(NEW)
    assert names(directory) == {"wal.0"}
    wal.append(b"after")
    wal.close()
    assert recovered(directory) == OLD + [b"after"]


def test_snapshot_records_that_raise_abort_the_compaction(tmp_path: Path) -> None:
    directory = tmp_path / "d"
    wal, _ = open_log(directory)
    wal.append(b"a")

    def broken_state() -> Iterator[bytes]:
        yield b"partial"
        raise RuntimeError("store bug")
    with pytest.raises(RuntimeError):
        wal.compact(broken_state())
    assert names(directory) == {"wal.0"}
    wal.close()
    assert recovered(directory) == [b"a"]


def corrupt(path: Path, offset: int = HEADER_SIZE) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0xFF
    path.write_bytes(bytes(data))


def test_a_corrupt_snapshot_falls_back_only_when_nothing_is_lost(tmp_path: Path) -> None:
    images = compaction_images(tmp_path / "live", 0)
    both = next(image for image in images
                if {"wal.0", "snapshot.1"} <= set(image) and not image.get("wal.1"))
    directory = restore(both, tmp_path / "fallback")
    corrupt(directory / "snapshot.1")
    assert recovered(directory) == OLD  # wal.0 is still whole
    assert names(directory) == {"wal.0"}

    directory = restore(images[-1], tmp_path / "lost")  # snapshot.1 and wal.1 only
    corrupt(directory / "snapshot.1")
    with pytest.raises(WALCorruptError, match="gone"):
        WriteAheadLog(directory)

    directory = restore(images[-1], tmp_path / "unreachable")
    (directory / "wal.1").write_bytes((tmp_path / "live" / "wal.1").read_bytes() or b"x" * 20)
    (directory / "snapshot.1").unlink()
    with pytest.raises(WALCorruptError, match="holds records"):
        WriteAheadLog(directory)


def test_churn_with_compaction_keeps_the_directory_small(tmp_path: Path) -> None:
    directory = tmp_path / "d"
    compact_bytes = 64 << 10
    wal, _ = open_log(directory, compact_bytes=compact_bytes)
    rng = random.Random(7)
    state: dict[bytes, bytes] = {}
    value = b"v" * 100
    keys, batch = 300, 100
    peak = 0
    for _ in range(400):
        for _ in range(batch):
            key = rng.randrange(keys).to_bytes(4, "big")
            if key in state:
                del state[key]
                wal.append(b"-" + key)
            else:
                state[key] = value
                wal.append(b"+" + key + value)
        wal.flush()
        peak = max(peak, sum(p.stat().st_size for p in directory.iterdir()))
        if wal.should_compact():
            wal.compact(b"+" + key + data for key, data in state.items())
    stats = wal.stats
    wal.close()
    largest_record = frame_size(b"+" + bytes(4) + value)
    bound = compact_bytes + (batch + keys) * largest_record + 64
    assert peak <= bound
    assert stats.bytes_written > 20 * bound and stats.compactions >= 20
    rebuilt: dict[bytes, bytes] = {}
    for record in recovered(directory):
        if record[:1] == b"+":
            rebuilt[record[1:5]] = record[5:]
        else:
            del rebuilt[record[1:5]]
    assert rebuilt == state


def allocated(path: Path) -> int:
    return path.stat().st_blocks * 512


def test_space_stays_reserved_past_the_end_of_the_log(tmp_path: Path) -> None:
    reserve = 256 << 10
    wal, _ = open_log(tmp_path / "d", reserve_bytes=reserve, compact_bytes=1 << 20)
    log = tmp_path / "d" / "wal.0"
    assert log.stat().st_size == 0 and allocated(log) >= reserve
    record = b"r" * 1000
    for _ in range(300):  # past the first reserve: it is topped up as the log grows
        wal.append(record)
        wal.flush()
        assert allocated(log) >= log.stat().st_size + reserve // 2
    wal.compact([record])
    assert allocated(tmp_path / "d" / "wal.1") >= reserve
    wal.close()
    assert recovered(tmp_path / "d") == [record]


def test_a_disk_too_full_to_reserve_still_logs(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    from benchfs.server import wal as wal_module

    def enospc(fd: int, offset: int, length: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")
    monkeypatch.setattr(wal_module, "_preallocate", enospc)
    warnings: list[str] = []
    handler = wal_module.logger.add(warnings.append, level="WARNING")
    wal_module.logger.enable("benchfs")
    try:
        wal, _ = open_log(tmp_path / "d", reserve_bytes=4096)
        for i in range(50):
            wal.append(b"%d" % i)
            wal.flush()
    finally:
        wal_module.logger.disable("benchfs")
        wal_module.logger.remove(handler)
    assert len([w for w in warnings if "reserved" in w]) == 1  # said once, not per flush
    monkeypatch.undo()
    wal.append(b"after")
    wal.sync()
    wal.close()
    assert recovered(tmp_path / "d") == [b"%d" % i for i in range(50)] + [b"after"]
