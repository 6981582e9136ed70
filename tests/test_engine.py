"""The C engine alone: two engines on loopback, no server or client Python code.

The server engine runs in a thread with a tiny request handler (the C call
releases the GIL while it sleeps); a dead peer is a subprocess killed with
SIGKILL. Nothing here asserts speed; the CPU test only checks that an idle
loop sleeps instead of spinning.
"""

from __future__ import annotations

import errno
import os
import signal
import struct
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from benchfs._native.engine import (
    HEADER_SIZE,
    OP_FSYNC,
    OP_READ,
    OP_WRITE,
    WIRE_MAGIC,
    WIRE_VERSION,
    BadFrame,
    Engine,
    EngineConfig,
    Event,
    EventKind,
    new_uninitialized_bytes,
)
from tests.engine_support import (
    OP_BIG,
    OP_ECHO,
    OP_FAIL,
    OP_HOLD,
    WAIT_S,
    ServerThread,
    pattern,
    roundtrip,
    until,
    wait_for,
    wait_reply,
)

pytestmark = pytest.mark.usefixtures("engine_transport")
HEADER = struct.Struct("<IBBHQiIQQQ")


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerThread]:
    srv = ServerThread(tmp_path / "data")
    yield srv
    srv.close()


@pytest.fixture
def client() -> Iterator[Engine]:
    with Engine() as engine:
        yield engine


# -- requests handled by Python ------------------------------------------------


def test_request_reply_round_trip_with_body(server: ServerThread, client: Engine) -> None:
    conn = client.connect("127.0.0.1", server.port)
    reply = roundtrip(client, conn, OP_ECHO, ino=7, offset=9, length=11, body=b"hello")
    assert (reply.status, reply.payload, reply.length) == (0, b"olleh", 5)
    assert (reply.conn, reply.opcode, reply.ino, reply.offset) == (conn, OP_ECHO, 7, 9)
    request = server.of_kind(EventKind.REQUEST)[0]
    assert (request.opcode, request.ino, request.offset, request.length) == (OP_ECHO, 7, 9, 11)
    assert request.payload == b"hello"


def test_reply_status_is_the_handlers_errno(server: ServerThread, client: Engine) -> None:
    conn = client.connect("127.0.0.1", server.port)
    reply = roundtrip(client, conn, OP_FAIL, ino=errno.ENOENT)
    assert reply.status == errno.ENOENT
    assert reply.payload == b""


@pytest.mark.parametrize("size", [100, 1 << 20])
def test_reply_payload_eager_and_rendezvous(server: ServerThread, client: Engine,
                                            size: int) -> None:
    conn = client.connect("127.0.0.1", server.port)
    owned = roundtrip(client, conn, OP_BIG, ino=3, length=size)
    assert owned.payload == pattern(size, seed=3)
    buf = bytearray(size + 10)
    into = roundtrip(client, conn, OP_BIG, ino=3, length=size, recv_into=buf)
    assert into.payload is None and into.length == size
    assert bytes(buf[:size]) == pattern(size, seed=3)


def test_reply_larger_than_the_receive_buffer_is_truncated(server: ServerThread,
                                                           client: Engine) -> None:
    conn = client.connect("127.0.0.1", server.port)
    for size in (1000, 1 << 20):
        buf = bytearray(64)
        reply = roundtrip(client, conn, OP_BIG, ino=5, length=size, recv_into=buf)
        assert (reply.status, reply.length) == (0, 64)
        assert bytes(buf) == pattern(size, seed=5)[:64]


def test_many_requests_in_flight_each_get_one_reply(server: ServerThread,
                                                    client: Engine) -> None:
    conn = client.connect("127.0.0.1", server.port)
    bodies = {client.send(conn, OP_ECHO, body=str(i).encode() * 3): str(i).encode() * 3
              for i in range(200)}
    replies: dict[int, Event] = {}
    deadline = time.monotonic() + WAIT_S
    while len(replies) < len(bodies) and time.monotonic() < deadline:
        for event in client.progress(50):
            assert event.kind == EventKind.REPLY and event.req_id not in replies
            replies[event.req_id] = event
    assert {r: e.payload for r, e in replies.items()} == {r: b[::-1] for r, b in bodies.items()}


def test_call_sends_and_returns_the_reply_in_one_step(server: ServerThread,
                                                     client: Engine) -> None:
    conn = client.connect("127.0.0.1", server.port)
    req_id, reply = client.call(conn, OP_ECHO, 7, 9, 11, b"hello", None, 5000)
    assert reply is not None and reply.req_id == req_id
    assert (reply.kind, reply.status, reply.payload, reply.length) == (
        EventKind.REPLY, 0, b"olleh", 5)
    _, failed = client.call(conn, OP_FAIL, errno.EROFS, 0, 0, None, None, 5000)
    assert failed is not None and (failed.status, failed.payload) == (errno.EROFS, b"")
    buf = bytearray(1 << 20)
    _, into = client.call(conn, OP_BIG, 4, 0, 1 << 20, None, buf, 5000)
    assert into is not None and into.payload is None and into.length == 1 << 20
    assert bytes(buf) == pattern(1 << 20, seed=4)
    assert client.events_pending == 0


def test_call_out_of_time_leaves_the_request_pending(server: ServerThread,
                                                      client: Engine) -> None:
    """A call whose reply is late returns (id, None); the reply still arrives once,
    as an ordinary REPLY event, and other calls keep working meanwhile."""
    conn = client.connect("127.0.0.1", server.port)
    held_id, reply = client.call(conn, OP_HOLD, 0, 0, 0, b"keep me", None, 50)
    assert reply is None
    until(lambda: len(server.held) == 1)
    _, echo = client.call(conn, OP_ECHO, 0, 0, 0, b"ab", None, 5000)
    assert echo is not None and echo.payload == b"ba"
    server.call(lambda engine: engine.reply(server.held[0].req_id, 0, b"late"))
    late = wait_reply(client, held_id)
    assert (late.status, late.payload) == (0, b"late")


def test_call_on_a_closed_connection_fails_locally(server: ServerThread,
                                                   client: Engine) -> None:
    conn = client.connect("127.0.0.1", server.port)
    client.disconnect(conn)
    with pytest.raises(OSError) as info:
        client.call(conn, OP_ECHO, 0, 0, 0, b"x", None, 1000)
    assert info.value.errno == errno.ENOTCONN


# -- bulk paths served in C ------------------------------------------------------


@pytest.mark.parametrize("size", [3000, 4 << 20], ids=["eager", "rendezvous"])
def test_bulk_write_lands_in_the_chunk_file(server: ServerThread, client: Engine,
                                            size: int) -> None:
    conn = client.connect("127.0.0.1", server.port)
    data = pattern(size, seed=1)
    ino, offset = 0xABC, 5 * 4096 + 17
    reply = roundtrip(client, conn, OP_WRITE, ino, offset, size, memoryview(data))
    assert (reply.status, reply.length) == (0, size)
    path = server.chunk_path(ino)
    with open(path, "rb") as f:
        assert os.pread(f.fileno(), size, offset) == data
        assert os.pread(f.fileno(), offset, 0) == bytes(offset)  # a hole before
    assert server.engine.stats()["bulk_bytes_written"] == size


def test_bulk_read_zero_fills_holes_and_past_the_end(server: ServerThread,
                                                     client: Engine) -> None:
    conn = client.connect("127.0.0.1", server.port)
    data = pattern(5 << 20, seed=2)
    ino, offset = 42, 1 << 20
    assert roundtrip(client, conn, OP_WRITE, ino, offset, len(data), data).status == 0
    for start, length in [(offset, len(data)), (0, 8 << 20), (offset + 100, 1000),
                          (offset + len(data) - 10, 4096)]:
        out, target = new_uninitialized_bytes(length)
        reply = roundtrip(client, conn, OP_READ, ino, start, length, recv_into=target)
        expected = (bytes(offset) + data + bytes(16 << 20))[start:start + length]
        assert (reply.status, reply.length) == (0, length)
        assert out == expected
    assert server.engine.stats()["pool_misses"] >= 1  # 8 MiB > one 4 MiB pool buffer
    missing = bytearray(b"x" * 100)
    assert roundtrip(client, conn, OP_READ, 9999, 0, 100, recv_into=missing).status == 0
    assert missing == bytes(100)


def test_bulk_read_without_receive_buffer_returns_payload(server: ServerThread,
                                                          client: Engine) -> None:
    conn = client.connect("127.0.0.1", server.port)
    assert roundtrip(client, conn, OP_WRITE, 8, 0, 5, b"abcde").status == 0
    reply = roundtrip(client, conn, OP_READ, 8, 2, 6)
    assert reply.payload == b"cde\0\0\0"


def test_fsync_and_fdatasync(server: ServerThread, client: Engine) -> None:
    conn = client.connect("127.0.0.1", server.port)
    assert roundtrip(client, conn, OP_FSYNC, 77).status == 0  # no chunk file: nothing to do
    assert roundtrip(client, conn, OP_WRITE, 77, 0, 3, b"abc").status == 0
    assert roundtrip(client, conn, OP_FSYNC, 77, offset=0).status == 0
    assert roundtrip(client, conn, OP_FSYNC, 77, offset=1).status == 0


def test_disk_errors_come_back_as_reply_status(server: ServerThread, client: Engine) -> None:
    conn = client.connect("127.0.0.1", server.port)
    chunks = server.data_dir / "chunks"
    chunks.mkdir(parents=True)
    # A chunk file that is a symlink (to /dev/full) is not followed: ELOOP, not ENOSPC
    # (tests/operate/test_auth.py: nothing the network sends leaves the data dir).
    (chunks / f"{5:016x}").symlink_to("/dev/full")
    reply = roundtrip(client, conn, OP_WRITE, 5, 0, 100, bytes(100))
    assert reply.status == errno.ELOOP
    blocked = ServerThread(server.data_dir / "blocker")
    try:
        blocked.data_dir.mkdir()
        (blocked.data_dir / "chunks").write_bytes(b"")  # a file where the directory goes
        conn2 = client.connect("127.0.0.1", blocked.port)
        assert roundtrip(client, conn2, OP_WRITE, 1, 0, 3, b"abc").status == errno.ENOTDIR
        assert roundtrip(client, conn2, OP_ECHO, body=b"ok").payload == b"ko"
    finally:
        blocked.close()


def test_chunk_truncate_and_remove(server: ServerThread, client: Engine) -> None:
    conn = client.connect("127.0.0.1", server.port)
    assert roundtrip(client, conn, OP_WRITE, 11, 0, 10000, bytes(10000)).status == 0
    path = server.chunk_path(11)

    def truncate_then_remove(engine: Engine) -> None:
        engine.chunk_truncate(11, 100)
        assert path.stat().st_size == 100
        engine.chunk_truncate(12, 100)  # no local file: nothing to cut
        engine.chunk_remove(11)
        assert not path.exists()
        engine.chunk_remove(11)  # already gone: fine

    server.call(truncate_then_remove)
    buf = bytearray(b"\xff" * 50)
    assert roundtrip(client, conn, OP_READ, 11, 0, 50, recv_into=buf).status == 0
    assert buf == bytes(50)


# -- malformed input -------------------------------------------------------------


def header(**fields: int) -> bytes:
    values = dict(magic=WIRE_MAGIC, version=WIRE_VERSION, flags=0, opcode=OP_ECHO, req_id=1,
                  status=0, epoch=0, ino=0, offset=0, length=0)
    values.update(fields)
    return HEADER.pack(*values.values())


def test_malformed_frames_are_reported_and_the_server_keeps_serving(
        server: ServerThread, client: Engine) -> None:
    assert HEADER.size == HEADER_SIZE
    frames = [
        (header()[:10], b"", BadFrame.HEADER_LEN),
        (header() + b"xx", b"", BadFrame.HEADER_LEN),
        (b"", b"body", BadFrame.HEADER_LEN),
        (header(magic=0xDEADBEEF), b"", BadFrame.MAGIC),
        (header(version=9), b"", BadFrame.VERSION),
        (header(opcode=7), b"", BadFrame.OPCODE),  # unknown bulk opcode
        (header(opcode=0), b"", BadFrame.OPCODE),  # a reply sent as a request
        (header(opcode=300), b"", BadFrame.OPCODE),
        (header(opcode=OP_READ, length=1 << 40), b"", BadFrame.LENGTH),
        (header(opcode=OP_WRITE, length=1 << 40), b"abc", BadFrame.LENGTH),
        (header(opcode=OP_WRITE, length=2), b"x" * 100_000, BadFrame.LENGTH),  # rendezvous
        (header(req_id=0), b"", BadFrame.REQ_ID),
    ]
    conn = client.connect("127.0.0.1", server.port)
    for head, body, _ in frames:
        client.send_raw(conn, head, body)
    until(lambda: len(server.of_kind(EventKind.MALFORMED)) >= len(frames), client)
    reasons = sorted(e.status for e in server.of_kind(EventKind.MALFORMED))
    assert reasons == sorted(int(r) for r in [f[2] for f in frames])
    assert server.engine.stats()["malformed"] == len(frames)
    # Readable headers with a bad opcode or length were answered (EPROTO,
    # EINVAL); their replies match no request here and were dropped.
    answered = sum(1 for f in frames if f[2] in (BadFrame.OPCODE, BadFrame.LENGTH))
    until(lambda: server.engine.stats()["replies_out"] == answered, client)
    assert roundtrip(client, conn, OP_ECHO, body=b"still here").payload == b"ereh llits"


def test_replies_to_unknown_requests_are_dropped(server: ServerThread, client: Engine) -> None:
    conn = client.connect("127.0.0.1", server.port)
    client.send_raw(conn, header(opcode=OP_BIG, req_id=0xDEAD, length=1 << 20))  # rendezvous
    client.send_raw(conn, header(opcode=OP_ECHO, req_id=0xBEEF), b"eager")
    seen = until(lambda: server.engine.stats()["replies_out"] == 2, client)
    seen += client.progress(100)
    assert seen == []
    assert roundtrip(client, conn, OP_BIG, ino=1, length=1 << 20).payload == pattern(1 << 20, 1)


def test_invalid_sends_fail_locally(server: ServerThread, client: Engine) -> None:
    conn = client.connect("127.0.0.1", server.port)
    for opcode in (0, 7, 256):
        with pytest.raises(OSError) as info:
            client.send(conn, opcode)
        assert info.value.errno == errno.EINVAL
    with pytest.raises(OSError) as info:
        client.send(conn, OP_WRITE, 1, 0, 10, b"short")  # length != body
    assert info.value.errno == errno.EINVAL
    with pytest.raises(BufferError):
        client.send(conn, OP_READ, 1, 0, 4, recv_into=b"immutable")
    with pytest.raises(OSError) as info:
        client.send(12345, OP_ECHO)
    assert info.value.errno == errno.ENOTCONN


# -- failures ---------------------------------------------------------------------

PEER_SCRIPT = textwrap.dedent("""
    import sys
    from benchfs._native.engine import Engine, EngineConfig, EventKind
    engine = Engine(EngineConfig(listen_host="127.0.0.1", data_dir=sys.argv[1]))
    print(engine.listen_port, flush=True)
    while True:
        for event in engine.progress(100):
            if event.kind == EventKind.REQUEST and event.opcode == 20:
                engine.reply(event.req_id, 0, event.payload[::-1])
""")


@pytest.fixture
def peer(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], int]]:
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1]))
    proc = subprocess.Popen([sys.executable, "-c", PEER_SCRIPT, str(tmp_path / "peer")],
                            stdout=subprocess.PIPE, text=True, env=env)
    assert proc.stdout is not None
    port = int(proc.stdout.readline())
    yield proc, port
    proc.kill()
    proc.wait()


def test_killed_peer_fails_pending_and_new_requests(
        peer: tuple[subprocess.Popen[str], int], client: Engine) -> None:
    proc, port = peer
    conn = client.connect("127.0.0.1", port)
    assert roundtrip(client, conn, OP_ECHO, body=b"ab").payload == b"ba"
    pending = client.send(conn, OP_HOLD)
    proc.kill()
    proc.wait()
    seen: list[Event] = []
    failed = wait_for(client, lambda e: e.kind == EventKind.REPLY and e.req_id == pending, seen)
    assert failed.status != 0
    if not any(e.kind == EventKind.CONN_ERROR for e in seen):
        wait_for(client, lambda e: e.kind == EventKind.CONN_ERROR, seen)
    conn_error = next(e for e in seen if e.kind == EventKind.CONN_ERROR)
    assert conn_error.conn == conn and conn_error.status != 0
    with pytest.raises(OSError) as info:
        client.send(conn, OP_ECHO, body=b"x")
    assert info.value.errno == errno.ENOTCONN


def test_connect_to_nobody_fails_fast(client: Engine) -> None:
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    conn = client.connect("127.0.0.1", port)
    try:
        req = client.send(conn, OP_ECHO, body=b"x")
    except OSError as exc:  # the failure may already be known
        assert exc.errno == errno.ENOTCONN
        return
    reply = wait_reply(client, req)
    assert reply.status != 0


def test_disconnect_fails_pending_requests(server: ServerThread, client: Engine) -> None:
    conn = client.connect("127.0.0.1", server.port)
    assert roundtrip(client, conn, OP_ECHO, body=b"x").status == 0
    body = bytearray(b"held")
    pending = client.send(conn, OP_HOLD, body=body)
    until(lambda: len(server.held) == 1, client)
    client.disconnect(conn)
    assert wait_reply(client, pending).status == errno.ENOTCONN
    with pytest.raises(OSError) as info:
        client.send(conn, OP_ECHO)
    assert info.value.errno == errno.ENOTCONN


def test_request_from_a_departed_client_is_still_repliable(server: ServerThread) -> None:
    with Engine() as gone:
        conn = gone.connect("127.0.0.1", server.port)
        gone.send(conn, OP_HOLD, body=b"orphan")
        until(lambda: len(server.held) == 1, gone)
    until(lambda: len(server.of_kind(EventKind.CONN_ERROR)) == 1)
    server.call(lambda engine: engine.reply(server.held[0].req_id, 0, b"too late"))
    with Engine() as fresh:
        conn = fresh.connect("127.0.0.1", server.port)
        assert roundtrip(fresh, conn, OP_ECHO, body=b"new").payload == b"wen"
    with pytest.raises(OSError) as info:  # a handle answers once
        server.call(lambda engine: engine.reply(server.held[0].req_id, 0, b""))
    assert info.value.errno == errno.EINVAL


# -- the loop itself ----------------------------------------------------------------


def test_idle_progress_sleeps(tmp_path: Path) -> None:
    with Engine(EngineConfig(listen_host="127.0.0.1", data_dir=str(tmp_path))) as engine:
        cpu, wall = time.process_time(), time.monotonic()
        while time.monotonic() - wall < 1.0:
            assert engine.progress(100) == []
        cpu, wall = time.process_time() - cpu, time.monotonic() - wall
        assert engine.stats()["sleeps"] >= 5
    # An idle loop must sleep: allow a lot (30 %) for a busy CI machine.
    assert cpu < 0.3 * wall, (cpu, wall)


# Hang guards, not timings: a wait the signal did not end would sit out its full
# timeout. The thread method, because the tests own SIGALRM (pytest-timeout's
# default method uses it).
@pytest.mark.timeout(5, method="thread")  # progress would otherwise wait 10 s
def test_a_signal_ends_the_wait(client: Engine) -> None:
    fired: list[int] = []
    old = signal.signal(signal.SIGALRM, lambda signum, frame: fired.append(signum))
    try:
        signal.setitimer(signal.ITIMER_REAL, 0.2)
        assert client.progress(10_000) == []
        assert fired == [signal.SIGALRM]
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


@pytest.mark.timeout(30, method="thread")  # a call that ignored the signal waits 120 s
def test_a_signal_ends_a_call_and_leaves_its_request_pending(server: ServerThread,
                                                              client: Engine) -> None:
    conn = client.connect("127.0.0.1", server.port)
    fired: list[int] = []
    old = signal.signal(signal.SIGALRM, lambda signum, frame: fired.append(signum))
    try:
        signal.setitimer(signal.ITIMER_REAL, 0.2)
        req_id, reply = client.call(conn, OP_HOLD, 0, 0, 0, b"wait", None, 120_000)
        assert reply is None and fired == [signal.SIGALRM]
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
    until(lambda: len(server.held) == 1)
    server.call(lambda engine: engine.reply(server.held[0].req_id, 0, b"done"))
    assert wait_reply(client, req_id).payload == b"done"


def test_listen_errors_raise_and_leave_nothing_behind() -> None:
    with Engine(EngineConfig(listen_host="127.0.0.1")) as first:
        with pytest.raises(OSError) as info:
            Engine(EngineConfig(listen_host="127.0.0.1", listen_port=first.listen_port))
        assert info.value.errno == errno.EADDRINUSE
    with pytest.raises(OSError) as info:
        Engine(EngineConfig(listen_host="no-such-host.invalid"))
    assert info.value.errno == errno.EADDRNOTAVAIL


def test_close_is_idempotent_and_final() -> None:
    engine = Engine()
    engine.close()
    engine.close()
    assert engine.closed
    with pytest.raises(ValueError):
        engine.progress(0)


def test_new_uninitialized_bytes_is_writable_in_place() -> None:
    out, view = new_uninitialized_bytes(8)
    view[:] = b"abcdefgh"
    view[2:4] = b"XY"
    assert isinstance(out, bytes) and out == b"abXYefgh"
    assert new_uninitialized_bytes(0)[0] == b""


# -- view epochs (DESIGN.md D11) -------------------------------------------------


def test_requests_from_an_older_view_are_refused_unrun(server: ServerThread,
                                                       client: Engine) -> None:
    server.call(lambda engine: engine.set_epoch(5))
    conn = client.connect("127.0.0.1", server.port)
    client.set_epoch(4)
    assert roundtrip(client, conn, OP_ECHO, body=b"abc").status == errno.ESTALE
    data = pattern(4096)
    reply = roundtrip(client, conn, OP_WRITE, 0x51, 0, len(data), memoryview(data))
    assert reply.status == errno.ESTALE
    assert not server.chunk_path(0x51).exists()  # the bulk write was not run either
    assert not server.of_kind(EventKind.REQUEST)  # nor handed to Python
    assert client.peer_epoch == 5  # the reply carried the server's epoch
    client.set_epoch(5)
    assert roundtrip(client, conn, OP_ECHO, body=b"abc").payload == b"cba"
    client.set_epoch(7)  # newer than the server's: served, and the server learns of it
    assert roundtrip(client, conn, OP_WRITE, 0x51, 0, len(data), memoryview(data)).status == 0
    assert server.engine.peer_epoch == 7
    client.set_epoch(0)  # no view (tools, tests): never checked
    assert roundtrip(client, conn, OP_ECHO, body=b"xy").payload == b"yx"
