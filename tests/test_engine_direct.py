"""O_DIRECT chunk storage in the C engine: any offset and length, against a model.

A server engine with ``o_direct=1`` serves WRITE and READ of every alignment;
what it stores is compared with a bytearray model, through the engine and in
the chunk file itself. Writes sent together that patch the same blocks must
not lose each other's bytes (bfs_direct.h).
"""

from __future__ import annotations

import errno
import os
import random
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from benchfs._native.engine import (
    OP_FSYNC,
    OP_READ,
    OP_WRITE,
    Engine,
    Event,
    EventKind,
    new_uninitialized_bytes,
)
from tests.engine_support import WAIT_S, ServerThread, pattern, roundtrip

pytestmark = pytest.mark.usefixtures("engine_transport")

BLOCK = 4096
EAGER_MAX = 32 << 10  # the engine's default rendezvous threshold
INO = 0x51


@pytest.fixture
def client() -> Iterator[Engine]:
    with Engine() as engine:
        yield engine


def require_o_direct(directory: Path) -> None:
    try:
        os.close(os.open(directory / "probe", os.O_CREAT | os.O_RDWR | os.O_DIRECT))
    except OSError as exc:
        if exc.errno == errno.EINVAL:
            pytest.skip("the file system under tmp_path does not support O_DIRECT")
        raise


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerThread]:
    require_o_direct(tmp_path)
    srv = ServerThread(tmp_path / "direct", o_direct=1)
    yield srv
    srv.close()


class Remote:
    """One chunk file on the server, written and read through a client engine,
    and the bytes it should hold."""

    def __init__(self, server: ServerThread, client: Engine, ino: int = INO) -> None:
        self.server = server
        self.client = client
        self.conn = client.connect("127.0.0.1", server.port)
        self.ino = ino
        self.model = bytearray()

    def write(self, offset: int, data: bytes) -> None:
        reply = roundtrip(self.client, self.conn, OP_WRITE, self.ino, offset, len(data), data)
        assert (reply.status, reply.length) == (0, len(data))
        self.record(offset, data)

    def record(self, offset: int, data: bytes) -> None:
        end = offset + len(data)
        if end > len(self.model):
            self.model += bytes(end - len(self.model))
        self.model[offset:end] = data

    def read(self, offset: int, length: int) -> bytes:
        out, target = new_uninitialized_bytes(length)
        reply = roundtrip(self.client, self.conn, OP_READ, self.ino, offset, length,
                          recv_into=target)
        assert (reply.status, reply.length) == (0, length)
        return out

    def expected(self, offset: int, length: int) -> bytes:
        padded = self.model + bytes(max(0, offset + length - len(self.model)))
        return bytes(padded[offset:offset + length])

    def assert_file_matches(self) -> None:
        """The chunk file read with plain buffered I/O: the page cache must not
        hold anything older than what O_DIRECT wrote."""
        stored = self.server.chunk_path(self.ino).read_bytes()
        assert stored[:len(self.model)] == self.model
        assert stored[len(self.model):] == bytes(len(stored) - len(self.model))


def random_range(rng: random.Random, span: int) -> tuple[int, int]:
    """An offset and a length, aligned or not, eager or rendezvous sized."""
    offset = rng.choice([rng.randrange(span), rng.randrange(span // BLOCK) * BLOCK])
    length = rng.choice([rng.randint(1, 200), rng.randint(1, EAGER_MAX),
                         rng.randint(EAGER_MAX + 1, 300_000), BLOCK * rng.randint(1, 40)])
    return offset, length


def test_random_unaligned_writes_and_reads_match_a_model(server: ServerThread,
                                                         client: Engine) -> None:
    rng = random.Random(4)
    remote = Remote(server, client)
    span = 3 << 20
    for step in range(150):
        offset, length = random_range(rng, span)
        remote.write(offset, rng.randbytes(length))
        offset, length = random_range(rng, span)
        assert remote.read(offset, length) == remote.expected(offset, length), step
    assert remote.read(0, len(remote.model) + 5000) == remote.expected(0, len(remote.model) + 5000)
    remote.assert_file_matches()


@pytest.mark.parametrize(("offset", "length"), [
    (0, 1), (100, 10), (BLOCK - 1, 2), (BLOCK, BLOCK), (BLOCK + 1, BLOCK - 2),
    (3 * BLOCK - 7, 40_000), (5, 1 << 20), (BLOCK, (1 << 20) + 3),
])
def test_edge_shapes_keep_their_neighbours(server: ServerThread, client: Engine, offset: int,
                                           length: int) -> None:
    """Each write lands on a known background, so every byte around it is checked."""
    remote = Remote(server, client)
    remote.write(0, pattern(offset + length + 3 * BLOCK, seed=9))
    remote.write(offset, pattern(length, seed=1))
    whole = len(remote.model)
    assert remote.read(0, whole + BLOCK) == remote.expected(0, whole + BLOCK)
    assert remote.read(offset, length) == pattern(length, seed=1)
    remote.assert_file_matches()


def test_reads_past_the_local_end_are_zeros(server: ServerThread, client: Engine) -> None:
    remote = Remote(server, client)
    remote.write(5000, b"x" * 3000)  # the file ends off a block boundary
    for offset, length in [(0, 20000), (7999, 10), (8000, 5000), (4096 * 3 + 5, 7), (1, 7999)]:
        assert remote.read(offset, length) == remote.expected(offset, length)
    missing = Remote(server, client, ino=0x999)
    assert missing.read(123, 4567) == bytes(4567)


def test_a_write_after_a_truncate_reads_zeros_in_between(server: ServerThread,
                                                         client: Engine) -> None:
    remote = Remote(server, client)
    remote.write(0, pattern(10_000, seed=3))
    server.call(lambda engine: engine.chunk_truncate(INO, 5000))
    del remote.model[5000:]
    remote.write(6000, b"after")
    assert remote.read(0, 12_000) == remote.expected(0, 12_000)


def send_all(remote: Remote, writes: list[tuple[int, bytes]]) -> None:
    """Send every write before waiting for any reply, then check each succeeded."""
    ids = [remote.client.send(remote.conn, OP_WRITE, remote.ino, offset, len(data), data)
           for offset, data in writes]
    replies: dict[int, Event] = {}
    deadline = time.monotonic() + WAIT_S
    while len(replies) < len(ids):
        assert time.monotonic() < deadline, "replies missing after the deadline"
        replies.update((e.req_id, e) for e in remote.client.progress(50)
                       if e.kind == EventKind.REPLY)
    for req_id, (_, data) in zip(ids, writes, strict=True):
        assert (replies[req_id].status, replies[req_id].length) == (0, len(data))


def test_concurrent_writes_patching_the_same_blocks_lose_nothing(server: ServerThread,
                                                                client: Engine) -> None:
    """Disjoint byte ranges that share blocks, sent at once: each write reads,
    patches and writes back blocks the others patch too."""
    rng = random.Random(7)
    remote = Remote(server, client)
    writes, offset = [], 37
    while offset < 6 * BLOCK:
        size = rng.choice([1, 50, 700, 3000, 5000, EAGER_MAX + 3000])
        writes.append((offset, rng.randbytes(size)))
        offset += size
    rng.shuffle(writes)
    send_all(remote, writes)
    for offset, data in writes:
        remote.record(offset, data)
    assert remote.read(0, len(remote.model)) == bytes(remote.model)
    remote.assert_file_matches()


def test_concurrent_overlapping_writes_each_land_whole(server: ServerThread,
                                                      client: Engine) -> None:
    """Writes of the same unaligned range, sent at once: the range ends up as one
    write's bytes, never a mix, and the bytes around it keep the background."""
    remote = Remote(server, client)
    remote.write(0, pattern(4 * BLOCK, seed=5))
    offset, length = 1000, 2 * BLOCK + 500
    send_all(remote, [(offset, bytes([fill]) * length) for fill in range(1, 21)])
    got = remote.read(0, 4 * BLOCK)
    assert got[:offset] == remote.model[:offset]
    assert got[offset + length:] == remote.model[offset + length:]
    assert len(set(got[offset:offset + length])) == 1


def test_fsync_after_unaligned_writes(server: ServerThread, client: Engine) -> None:
    remote = Remote(server, client)
    assert roundtrip(client, remote.conn, OP_FSYNC, INO).status == 0  # no file yet
    remote.write(17, b"durable")
    assert roundtrip(client, remote.conn, OP_FSYNC, INO, offset=0).status == 0
    assert roundtrip(client, remote.conn, OP_FSYNC, INO, offset=1).status == 0
    remote.assert_file_matches()


# -- hybrid mode: large aligned transfers direct, the rest through the page cache ----------

HYBRID_MIN = 64 << 10


@pytest.fixture
def hybrid_server(tmp_path: Path) -> Iterator[ServerThread]:
    require_o_direct(tmp_path)
    srv = ServerThread(tmp_path / "hybrid", direct_min=HYBRID_MIN)
    yield srv
    srv.close()


def test_hybrid_mixes_direct_and_buffered_coherently(hybrid_server: ServerThread,
                                                     client: Engine) -> None:
    """Large aligned writes bypass the page cache, small and unaligned ones go
    through it, on overlapping ranges of one file: every read, direct or
    buffered, and the file itself show the latest bytes."""
    rng = random.Random(11)
    remote = Remote(hybrid_server, client)
    span = 2 << 20
    for step in range(120):
        if rng.random() < 0.5:
            offset = rng.randrange(span // BLOCK) * BLOCK
            length = BLOCK * rng.randint(HYBRID_MIN // BLOCK, 64)
        else:
            offset, length = random_range(rng, span)
        remote.write(offset, rng.randbytes(length))
        offset = rng.randrange(span // BLOCK) * BLOCK
        length = rng.choice([BLOCK * rng.randint(HYBRID_MIN // BLOCK, 64), rng.randint(1, 9000)])
        assert remote.read(offset, length) == remote.expected(offset, length), step
    assert hybrid_server.engine.stats()["direct_ops"] > 0
    remote.assert_file_matches()
