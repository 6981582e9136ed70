"""Requests to servers over one engine: connections, deadlines, one reply per request.

Every request gets exactly one reply event (D4): a server's answer, or a local
failure when the connection dies. A call that outlives its deadline drops the
connection it waited on, which makes the engine fail everything pending there,
so nothing is left waiting and no buffer is written after the caller gave up.

A request's ``rank`` is a route (``benchfs.client.views``), turned into a server
when it is sent. A server that holds a newer view answers STALE_VIEW without
running the request: the client loads the new view and sends it again, so no call
fails because the view changed. Calls to a server the view says is down fail at
once with ENOTCONN.
"""

from __future__ import annotations

import errno
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from loguru import logger

from benchfs._native.engine import Engine, Event, EventKind
from benchfs.auth import Secret
from benchfs.auth.peer import hello
from benchfs.client.views import ClientView
from benchfs.core.errors import os_error
from benchfs.core.views import STALE_VIEW
from benchfs.core.wire import Op, decode_reply, encode_request
from benchfs.metrics import RequestMetrics
from benchfs.registry import read_server

Buffer = bytes | bytearray | memoryview

# Safe to send twice: they change nothing, or nothing a second time.
_REPEATABLE = frozenset({Op.LOOKUP, Op.GETATTR, Op.READDIR, Op.STATFS, Op.DATA_SEEK, Op.READ,
                         Op.FSYNC, Op.META_SYNC})
# Reply statuses that mean the connection died under the request (the engine's
# own deadline-free failures), not that the server answered.
_LOST_CONNECTION = frozenset({errno.ENOTCONN, errno.ECONNRESET, errno.ETIMEDOUT, errno.EPIPE})
# Resending repeatable requests to a server that went away (it may be restarting):
# first after this long, then twice as long each time, up to the cap.
_RESEND_FIRST_S = 0.01
_RESEND_CAP_S = 0.2
# A call left unanswered this long looks at the view (and again as often) so that it
# fails at once when its server is declared down, instead of at its deadline: a cut
# link resets nothing, and the connection would wait on.
_VIEW_CHECK_S = 0.25


def _failed_reply(request: Request, err: int) -> Event:
    """What the engine reports for a request whose connection failed under it."""
    return Event(EventKind.REPLY, err, 0, 0, int(request.op), request.ino, request.offset, 0,
                 b"")


@dataclass(slots=True)
class Request:
    """One request to send: where, what, and where its reply payload goes."""

    rank: int  # a route: a server rank, or a partition (benchfs.client.views)
    op: Op
    ino: int = 0
    offset: int = 0
    length: int = 0
    body: Buffer | None = None
    recv_into: memoryview | None = None


class Rpc:
    """Sends requests to the servers of one cluster and collects their replies."""

    def __init__(self, engine: Engine, registry: Path, timeout: float, secret: Secret,
                 views: ClientView, metrics: bool = True) -> None:
        self._engine = engine
        self._registry = registry
        self.views = views
        self.timeout = timeout
        self._secret = secret
        self.metrics = RequestMetrics(metrics)
        self._conns: dict[int, int] = {}  # server rank -> engine connection id
        self._rank_of_conn: dict[int, int] = {}
        self._replies: dict[int, Event] = {}  # req_id -> reply not yet collected
        self._conn_of_request: dict[int, int] = {}  # req_id -> connection, while pending

    def _connection(self, route: int) -> int:
        rank = self.views.rank_of(route)
        conn = self._conns.get(rank)
        if conn is not None and not self.views.is_down(rank):
            return conn
        # (Re)connecting: the connection failed or is new. Look at the view first
        # (at most every 50 ms): the server may have been declared down. One we know
        # as down is looked up every time: it may be back.
        if self.views.is_down(rank):
            self.views.reload()
        else:
            self.views.reload_soon()
        rank = self.views.rank_of(route)
        if self.views.is_down(rank):
            raise os_error(errno.ENOTCONN)
        conn = self._conns.get(rank)
        if conn is not None:
            return conn
        # Read the registry each time we (re)connect: a restarted server
        # publishes a new port under the same rank.
        entry = read_server(self._registry, rank)
        if entry is None:
            raise os_error(errno.ENOTCONN)
        conn = self._engine.connect(entry.host, entry.port)
        try:
            hello(self._engine, conn, self._secret, self.timeout, self._absorb)
        except BaseException:
            self._engine.disconnect(conn)
            raise
        self._conns[rank] = conn
        self._rank_of_conn[conn] = rank
        return conn

    def _forget_connection(self, conn: int) -> None:
        rank = self._rank_of_conn.pop(conn, None)
        if rank is not None and self._conns.get(rank) == conn:
            del self._conns[rank]
            logger.debug("connection to server {} dropped", rank)

    def _drop_connection(self, conn: int) -> None:
        self._forget_connection(conn)
        try:
            self._engine.disconnect(conn)
        except OSError:
            pass  # it had failed already: the engine closed it and failed its requests

    def submit(self, request: Request) -> int:
        conn = self._connection(request.rank)
        try:
            req_id = self._engine.send(
                conn, int(request.op), request.ino, request.offset, request.length,
                request.body, request.recv_into,
            )
        except OSError:
            self._drop_connection(conn)
            raise
        self._conn_of_request[req_id] = conn
        return req_id

    def wait(self, req_ids: Sequence[int], deadline: float | None = None) -> list[Event]:
        """The reply events of ``req_ids``, in that order, by ``deadline``
        (``time.monotonic()``; default: the call timeout from now)."""
        wanted = set(req_ids)
        if deadline is None:
            deadline = time.monotonic() + self.timeout
        while not wanted.issubset(self._replies):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self._abandon(wanted - self._replies.keys())
                raise os_error(errno.ETIMEDOUT)
            events = self._engine.progress(max(1, int(min(remaining, _VIEW_CHECK_S) * 1000)))
            for event in events:
                self._absorb(event)
            if not events:
                self._fail_if_down(wanted - self._replies.keys())
        return [self._replies.pop(req_id) for req_id in req_ids]

    def _fail_if_down(self, req_ids: set[int]) -> None:
        """Fail the requests whose server a newer view declares down: drop their
        connections (the engine fails everything pending there with ENOTCONN)."""
        self.views.reload_soon()
        conns = {self._conn_of_request[r] for r in req_ids if r in self._conn_of_request}
        for conn in conns:
            rank = self._rank_of_conn.get(conn)
            if rank is not None and self.views.is_down(rank):
                self._drop_connection(conn)

    def _absorb(self, event: Event) -> None:
        if event.kind == EventKind.REPLY:
            if self._conn_of_request.pop(event.req_id, None) is not None:
                self._replies[event.req_id] = event
        elif event.kind == EventKind.CONN_ERROR:
            self._forget_connection(event.conn)

    def _abandon(self, req_ids: set[int]) -> None:
        """Give up on late requests: drop their connections so their buffers are released."""
        late_conns = {self._conn_of_request.pop(r) for r in req_ids if r in self._conn_of_request}
        for conn in late_conns:
            # The engine fails everything pending on the connection and releases
            # its buffers; those failure replies find no owner and are dropped.
            self._drop_connection(conn)
        for event in self._engine.progress(0):
            self._absorb(event)

    def run(self, requests: Sequence[Request]) -> list[Event]:
        """Send every request at once (pipelined across servers) and wait for all replies.

        Requests answered STALE_VIEW are sent again under the newer view. Requests
        that only read (or only sync) and lost their connection are sent again on a
        new one, with backoff, until the deadline or until the view declares their
        server down: a restarted server is found through the registry (it marks
        itself up before it registers) and the caller carries on. Other requests,
        and all requests to a server known down, fail at once.
        """
        started = time.perf_counter_ns()
        replies = self._run_with_resends(requests)
        if self.metrics.enabled:
            self._count(requests, replies, time.perf_counter_ns() - started)
        return replies

    def _run_with_resends(self, requests: Sequence[Request]) -> list[Event]:
        deadline = time.monotonic() + self.timeout
        replies = self._run_once(requests, deadline)
        delay = _RESEND_FIRST_S
        while True:
            again = [i for i, reply in enumerate(replies) if self._resend(requests[i], reply)]
            if not again or time.monotonic() >= deadline:
                return replies
            stale = any(replies[i].status == STALE_VIEW for i in again)
            if not (stale and self.views.reload()):
                time.sleep(min(delay, max(0.0, deadline - time.monotonic())))
                delay = min(delay * 2, _RESEND_CAP_S)
                self.views.reload_soon()
            try:
                resent = self._run_once([requests[i] for i in again], deadline)
            except OSError:
                continue  # not even sent (still down): the failure stands, or a retry
            for index, reply in zip(again, resent, strict=True):
                replies[index] = reply

    def _count(self, requests: Sequence[Request], replies: list[Event], elapsed_ns: int) -> None:
        """Each request of a batch took the batch's time (they went out together)."""
        for request, reply in zip(requests, replies, strict=True):
            sent = request.length if request.op == Op.WRITE else len(request.body or b"")
            self.metrics.observe(request.op, reply.status, sent, reply.length, elapsed_ns)

    def _resend(self, request: Request, reply: Event) -> bool:
        if reply.status == STALE_VIEW:
            return True
        return (reply.status in _LOST_CONNECTION and request.op in _REPEATABLE
                and not self.views.is_down(self.views.rank_of(request.rank)))

    def _run_once(self, requests: Sequence[Request], deadline: float) -> list[Event]:
        if len(requests) == 1:
            return [self._call_one(requests[0], deadline)]
        sent: list[int | Event] = []
        try:
            for request in requests:
                sent.append(self._submit_or_lost(request))
        finally:
            # Even when a submit fails, wait for those already sent so that no
            # reply can land in a buffer the caller is about to free.
            if len(sent) != len(requests):
                self._drain([r for r in sent if isinstance(r, int)])
        replies = iter(self.wait([r for r in sent if isinstance(r, int)], deadline))
        return [next(replies) if isinstance(r, int) else r for r in sent]

    def _submit_or_lost(self, request: Request) -> int | Event:
        """The request's id, or the failed reply of a request whose connection
        died before it could be sent (``run`` may send it again)."""
        try:
            return self.submit(request)
        except OSError as exc:
            if exc.errno not in _LOST_CONNECTION:
                raise
            return _failed_reply(request, exc.errno)

    def _call_one(self, request: Request, deadline: float) -> Event:
        """A single request: sent and awaited in one engine call (the common case
        of a synchronous client), with the same deadline and failure handling."""
        try:
            conn = self._connection(request.rank)
        except OSError as exc:
            if exc.errno not in _LOST_CONNECTION:
                raise
            return _failed_reply(request, exc.errno)
        try:
            req_id, reply = self._engine.call(
                conn, int(request.op), request.ino, request.offset, request.length,
                request.body, request.recv_into,
                max(1, int(min(deadline - time.monotonic(), _VIEW_CHECK_S) * 1000)))
        except OSError as exc:
            self._drop_connection(conn)
            if exc.errno not in _LOST_CONNECTION:
                raise
            return _failed_reply(request, exc.errno)
        if self._engine.events_pending:
            for event in self._engine.progress(0):
                self._absorb(event)
        if reply is None:  # out of time, or a signal came first: wait as for any send
            self._conn_of_request[req_id] = conn
            return self.wait([req_id], deadline)[0]
        return reply

    def _drain(self, req_ids: list[int]) -> None:
        try:
            self.wait(req_ids)
        except OSError:
            pass

    def run_retrying(self, requests: Sequence[Request]) -> list[Event]:
        """``run`` for metadata requests, resending those a server answered EAGAIN
        (their subtree is fenced by a directory rename or rmdir) until the deadline."""
        replies = self.run(requests)
        deadline = time.monotonic() + self.timeout
        delay = 0.0005
        while time.monotonic() < deadline:
            busy = [i for i, reply in enumerate(replies) if reply.status == errno.EAGAIN]
            if not busy:
                break
            time.sleep(delay)
            delay = min(delay * 2, 0.05)
            for index, reply in zip(busy, self.run([requests[i] for i in busy]), strict=True):
                replies[index] = reply
        return replies

    def call(self, rank: int, op: Op, *args: object, filename: object = None,
             filename2: object = None) -> Any:
        """One metadata request; raises the server's errno as the matching OSError."""
        (reply,) = self.run_retrying([Request(rank, op, body=encode_request(op, *args))])
        if reply.status:
            raise os_error(reply.status, filename, filename2)
        return decode_reply(reply.payload or b"")

    def call_all(self, ranks: Sequence[int], op: Op, *args: object,
                 filename: object = None) -> list[Any]:
        """The same metadata request to several servers at once."""
        body = encode_request(op, *args)
        replies = self.run_retrying([Request(rank, op, body=body) for rank in ranks])
        for reply in replies:
            if reply.status:
                raise os_error(reply.status, filename)
        return [decode_reply(reply.payload or b"") for reply in replies]

    def close(self) -> None:
        for conn in list(self._rank_of_conn):
            self._drop_connection(conn)

    def replace_engine(self, engine: Engine) -> None:
        """Go on over a new engine (after a fork); connections are made again on demand."""
        self._engine = engine
        self.views.replace_engine(engine)
        self._conns.clear()
        self._rank_of_conn.clear()
        self._replies.clear()
        self._conn_of_request.clear()

    def rank_of(self, route: int) -> int:
        """The server a route leads to under the current view."""
        return self.views.rank_of(route)
