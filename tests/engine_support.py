"""The C engine's test harness: a server engine answering test opcodes from a
thread, and helpers that drive a client engine until the events they wait for.

Shared by test_engine.py and test_engine_direct.py.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

from benchfs._native.engine import Engine, EngineConfig, Event, EventKind

# Opcodes of the test handler (>= 16: handed to Python).
OP_ECHO = 20  # reply: the body reversed
OP_FAIL = 21  # reply: status = ino, no body
OP_BIG = 22  # reply: `length` bytes of a pattern
OP_HOLD = 23  # no reply; the handle is kept for the test

WAIT_S = 20.0  # generous deadline for anything that should take milliseconds


def pattern(n: int, seed: int = 0) -> bytes:
    return bytes((i * 31 + seed) & 0xFF for i in range(256)) * (n // 256) + bytes(n % 256)


class ServerThread:
    """A listening engine answering the test opcodes from its own thread."""

    def __init__(self, data_dir: Path, **config: int) -> None:
        self.engine = Engine(EngineConfig(listen_host="127.0.0.1", data_dir=str(data_dir),
                                          **config))
        self.port = self.engine.listen_port
        self.data_dir = data_dir
        self.events: list[Event] = []
        self.held: list[Event] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            for event in self.engine.progress(20):
                self.events.append(event)
                if event.kind == EventKind.REQUEST:
                    self._answer(event)

    def _answer(self, event: Event) -> None:
        assert event.payload is not None
        if event.opcode == OP_ECHO:
            self.engine.reply(event.req_id, 0, event.payload[::-1])
        elif event.opcode == OP_FAIL:
            self.engine.reply(event.req_id, event.ino, b"")
        elif event.opcode == OP_BIG:
            self.engine.reply(event.req_id, 0, pattern(event.length, seed=event.ino))
        elif event.opcode == OP_HOLD:
            self.held.append(event)

    def call(self, fn: Callable[[Engine], object]) -> None:
        """Run fn on the engine from the test thread, with the loop paused."""
        self.stop()
        try:
            fn(self.engine)
        finally:
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, daemon=True)
            self._thread.start()

    def of_kind(self, kind: EventKind) -> list[Event]:
        return [e for e in list(self.events) if e.kind == kind]

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def close(self) -> None:
        self.stop()
        self.engine.close()

    def chunk_path(self, ino: int) -> Path:
        return self.data_dir / "chunks" / f"{ino:016x}"


def wait_for(engine: Engine, match: Callable[[Event], bool],
             seen: list[Event] | None = None) -> Event:
    """The first event that matches; every event of the batches read, up to
    and including that one's, is appended to seen."""
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        batch = engine.progress(50)
        if seen is not None:
            seen.extend(batch)
        for event in batch:
            if match(event):
                return event
    raise AssertionError("no matching event before the deadline")


def wait_reply(engine: Engine, req_id: int) -> Event:
    return wait_for(engine, lambda e: e.kind == EventKind.REPLY and e.req_id == req_id)


def until(predicate: Callable[[], bool], engine: Engine | None = None) -> list[Event]:
    """Wait for predicate, driving engine (whose sends only move while it
    progresses) meanwhile; returns the events engine produced."""
    seen: list[Event] = []
    deadline = time.monotonic() + WAIT_S
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached before the deadline"
        if engine is None:
            time.sleep(0.01)
        else:
            seen.extend(engine.progress(10))
    return seen


def roundtrip(client: Engine, conn: int, opcode: int, ino: int = 0, offset: int = 0,
              length: int = 0, body: bytes | bytearray | memoryview | None = None,
              recv_into: bytearray | memoryview | None = None) -> Event:
    return wait_reply(client, client.send(conn, opcode, ino, offset, length, body, recv_into))
