"""The connecting side of the hello, for clients (blocking) and for servers that
connect to other servers (driven by the loop's events, so serving never waits).
"""

from __future__ import annotations

import errno
import time
from collections.abc import Callable
from dataclasses import dataclass

from benchfs._native.engine import Engine, Event, EventKind
from benchfs.auth.proofs import ClientHello
from benchfs.auth.secret import Secret
from benchfs.core.errors import os_error
from benchfs.core.wire import Op


def hello(engine: Engine, conn: int, secret: Secret, timeout: float,
          absorb: Callable[[Event], None]) -> None:
    """Prove the secret on a new connection and check the server's proof, waiting
    for both answers; HelloRefused, or the OSError of a failed connection.
    Other events that arrive meanwhile go to ``absorb``."""
    exchange = ClientHello(secret)
    status, body = _call(engine, conn, Op.HELLO, exchange.request(), timeout, absorb)
    status, _ = _call(engine, conn, Op.HELLO_PROVE, exchange.prove(status, body), timeout,
                      absorb)
    exchange.accepted(status)


def _call(engine: Engine, conn: int, op: Op, body: bytes, timeout: float,
          absorb: Callable[[Event], None]) -> tuple[int, bytes]:
    deadline = time.monotonic() + timeout
    req_id, reply = engine.call(conn, int(op), 0, 0, 0, body, None, int(timeout * 1000))
    while reply is None:  # a signal, or out of time: wait on through the loop
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise os_error(errno.ETIMEDOUT)
        for event in engine.progress(max(1, int(remaining * 1000))):
            if event.req_id == req_id and event.kind == EventKind.REPLY:
                reply = event
            else:
                absorb(event)
    return reply.status, reply.payload or b""


@dataclass
class _Pending:
    conn: int
    exchange: ClientHello
    proving: bool = False  # the HELLO_PROVE is out


class PeerHellos:
    """Hellos on a server's own connections to other servers, advanced by REPLY
    events. ``start`` sends a HELLO; ``on_reply`` takes the answers and says
    whether the event was one of ours."""

    def __init__(self, engine: Engine, secret: Secret) -> None:
        self._engine = engine
        self._secret = secret
        self._by_request: dict[int, _Pending] = {}
        self.proved: set[int] = set()  # connections whose hello succeeded

    def started(self, conn: int) -> bool:
        return conn in self.proved or any(p.conn == conn for p in self._by_request.values())

    def start(self, conn: int) -> None:
        pending = _Pending(conn, ClientHello(self._secret))
        self._send(pending, Op.HELLO, pending.exchange.request())

    def _send(self, pending: _Pending, op: Op, body: bytes) -> None:
        self._by_request[self._engine.send(pending.conn, int(op), body=body)] = pending

    def on_reply(self, event: Event) -> bool:
        """Advance the hello ``event`` answers: True when it was one; a failure
        raises HelloRefused (or leaves the connection unproved when it failed)."""
        pending = self._by_request.pop(event.req_id, None)
        if pending is None:
            return False
        if pending.proving:
            pending.exchange.accepted(event.status)
            self.proved.add(pending.conn)
        else:
            body = pending.exchange.prove(event.status, event.payload or b"")
            pending.proving = True
            self._send(pending, Op.HELLO_PROVE, body)
        return True

    def forget(self, conn: int) -> None:
        self.proved.discard(conn)
        for req_id in [r for r, p in self._by_request.items() if p.conn == conn]:
            del self._by_request[req_id]
