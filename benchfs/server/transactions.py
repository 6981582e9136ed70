"""Multi-server operations as transactions, driven by the server that coordinates them.

A client sends one request (``RENAME_TX``, ``LINK_TX``, ``UNLINK_TX``,
``RENAME_DIR_TX``, ``RMDIR_TX``) to the coordinator: the server of the source name,
or of the inode for a link. The coordinator journals an *intent* (txid, kind,
arguments) and runs the operation's plan (``benchfs.server.plans``) step by step,
server to server, without blocking its loop: steps to other servers are sent after
the batch's group commit (so the intent is in the log before any participant
changes anything) and their REPLY events, which arrive in the loop's batches like
requests, advance the plan. Steps for the coordinator itself run at once.

The client gets its one reply (D4) when the plan returns, after the finish record
is committed. A plan still waiting on a server that is down when the client's
``wait_ms`` runs out answers ETIMEDOUT ("not known yet") and goes on in the
background: lost connections and silent servers are retried with backoff, so
serving never waits for them. A restarted coordinator replays its intents and runs
every unfinished plan again (see the plans module for why that is safe). A finished
transaction tells its participants to forget its step results; only then is its
intent dropped.
"""

from __future__ import annotations

import errno
import math
import os
import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from loguru import logger

from benchfs._native.engine import Engine, Event
from benchfs.auth import HelloRefused
from benchfs.auth.peer import PeerHellos
from benchfs.core.wire import (
    MalformedFrame,
    Op,
    decode_reply,
    decode_request,
    encode_reply,
    encode_request,
)
from benchfs.registry import read_server
from benchfs.server.faults import Faults
from benchfs.server.handlers import RequestHandlers
from benchfs.server.metadata import MetadataError, MetadataStore
from benchfs.server.plans import (
    PLANS,
    Decide,
    Placement,
    Plan,
    Result,
    Step,
    TxContext,
    forget_everywhere,
)
from benchfs.server.wal import WALError

_KIND_OF_OP = {Op.RENAME_TX: "rename_file", Op.LINK_TX: "link", Op.UNLINK_TX: "unlink",
               Op.RENAME_DIR_TX: "rename_dir", Op.RMDIR_TX: "rmdir", Op.MKDIR_TX: "mkdir"}
# Reply statuses meaning the connection failed under the step: connect anew.
UNREACHED = frozenset({errno.ENOTCONN, errno.ECONNRESET, errno.ETIMEDOUT, errno.EPIPE,
                        errno.ECONNREFUSED, errno.EHOSTUNREACH, errno.ECANCELED,
                        errno.ENETDOWN, errno.ESHUTDOWN})
# After this many resends of one step, say so in the log.
_PATIENCE = 8
# A participant silent this long has its connection dropped and is asked again.
STEP_TIMEOUT = 2.0
# Backoff between resends: short while a subtree is fenced (a rename takes
# milliseconds), longer while a server is down (a restart takes a second or two).
_BUSY_DELAYS = (0.001, 0.05)
UNREACHED_DELAYS = (0.02, 1.0)


@dataclass(eq=False)
class _Transaction:
    txid: int
    kind: str
    plan: Plan
    client: int | None  # the handle of the request still waiting for the answer
    answer_by: float  # monotonic; then the waiting client hears ETIMEDOUT
    finished: bool = False
    batches: int = 0
    steps: list[Step] = field(default_factory=list)
    results: list[Result | None] = field(default_factory=list)
    attempts: list[int] = field(default_factory=list)
    keyed_ranks: set[int] = field(default_factory=set)


@dataclass(slots=True)
class _InFlight:
    tx: _Transaction
    index: int
    conn: int
    deadline: float


class Peers:
    """This server's connections to the other servers, found through the registry,
    each usable once its hello (benchfs.auth) succeeded."""

    def __init__(self, engine: Engine, registry: Path, hellos: PeerHellos) -> None:
        self._engine = engine
        self._registry = registry
        self._conns: dict[int, int] = {}  # rank -> connection
        self.hellos = hellos

    def connection(self, rank: int) -> int:
        """The proved connection to ``rank``; EAGAIN while its hello is under way."""
        conn = self._conns.get(rank)
        if conn is None:
            # Read the registry at every (re)connect: a restarted server has a new port.
            entry = read_server(self._registry, rank)
            if entry is None:
                raise OSError(errno.ENOTCONN, f"server {rank} is not registered")
            conn = self._conns[rank] = self._engine.connect(entry.host, entry.port)
        if conn in self.hellos.proved:
            return conn
        if not self.hellos.started(conn):
            try:
                self.hellos.start(conn)
            except OSError:
                self.lost(conn, close=True)
                raise
        raise OSError(errno.EAGAIN, f"hello to server {rank} under way")

    def on_reply(self, event: Event) -> bool:
        """Whether ``event`` answered a hello; a refused hello drops its connection."""
        try:
            return self.hellos.on_reply(event)
        except HelloRefused as exc:
            logger.error("connection to a server dropped: {}", exc)
            self.lost(event.conn, close=True)
            return True

    def lost(self, conn: int, close: bool = False) -> None:
        """``conn`` failed (or, with ``close``, is given up on): connect anew next time."""
        self.hellos.forget(conn)
        for rank, known in list(self._conns.items()):
            if known == conn:
                del self._conns[rank]
        if close:
            try:
                self._engine.disconnect(conn)  # fails its pending requests: REPLY events
            except OSError:
                pass  # closed by the engine already


class Coordinator:
    """Runs the transactions this server coordinates."""

    OPS = frozenset(_KIND_OF_OP)

    def __init__(self, rank: int, where: Placement, store: MetadataStore,
                 handlers: RequestHandlers, engine: Engine, peers: Peers,
                 faults: Faults) -> None:
        self._rank = rank
        self._where = where
        self._store = store
        self._handlers = handlers
        self._engine = engine
        self._faults = faults
        self._peers = peers
        self._txs: dict[int, _Transaction] = {}
        self._unsent: list[tuple[_Transaction, int]] = []  # sent after the next commit
        self._inflight: dict[int, _InFlight] = {}  # request id -> step
        self._retries: list[tuple[float, _Transaction, int]] = []
        self._replies: list[tuple[int, int, bytes]] = []

    # -- the daemon's side -------------------------------------------------------------

    def begin(self, handle: int, opcode: int, body: bytes) -> None:
        """A client's transaction request; answered later, through ``take_replies``."""
        try:
            *args, wait_ms = decode_request(opcode, body)
        except MalformedFrame as exc:
            logger.warning("dropped malformed {} request body: {}", Op(opcode).name, exc)
            self._replies.append((handle, errno.EPROTO, b""))
            return
        kind = _KIND_OF_OP[Op(opcode)]
        if self._source_busy(args[0]):
            # One transaction at a time per name it starts from: a client retrying
            # after an ETIMEDOUT must not move or remove a name still moving.
            self._replies.append((handle, errno.EAGAIN, b""))
            return
        local = self._local_call(kind, args)
        if local is not None:
            self._replies.append((handle, *self._handlers.run_local(*local)))
            return
        txid = random.getrandbits(63)
        try:
            self._store.tx_begin(txid, kind, args)
        except WALError as exc:  # the log is broken: nothing can be made durable
            logger.error("{} transaction not logged: {}", kind, exc)
            self._replies.append((handle, errno.EIO, b""))
            return
        self._start(txid, kind, args, None, handle, time.monotonic() + wait_ms / 1000)

    def _source_busy(self, path: str) -> bool:
        return any(not tx.finished and self._store.intents[tx.txid].args[0] == path
                   for tx in self._txs.values())

    def _local_call(self, kind: str, args: list[Any]) -> tuple[str, list[Any]] | None:
        """The one journaled store call an operation comes down to when it changes
        only this server (no transaction needed), or None."""
        if kind == "unlink" and self._unlink_is_local(*args):
            return "unlink", args[:3]
        if (kind == "mkdir" and self._store.holds_inode(args[-1])
                and not self._store.buried(args[0])):  # else every server must revive it
            return "make_directory", args
        return None

    def _unlink_is_local(self, path: str, keep_inode: bool, _parent: int,
                         _chunked: bool) -> bool:
        """Whether an unlink changes only this server: the inode is here and no chunk
        files go with it (it keeps other links, stays open, or its data is in its
        record). Such an unlink is one journaled step, no transaction. The record
        decides, not the client's view, which another client's spill may have
        outdated."""
        try:
            _, inode = self._store.lookup(path)
        except MetadataError:
            return True  # the plain unlink answers the same errno (ENOENT, EAGAIN)
        return inode is not None and (keep_inode or inode.nlink > 1 or inode.inline is not None)

    def resume(self) -> None:
        """After a restart: run every replayed intent that did not finish again."""
        for txid, intent in list(self._store.intents.items()):
            logger.info("resuming {} transaction {:#x} ({})", intent.kind, txid,
                        "finished, participants to tell" if intent.finished else "unfinished")
            if intent.finished:
                tx = _Transaction(txid, intent.kind, forget_everywhere(txid, self._where.all_ranks),
                                  None, 0.0, finished=True)
                self._txs[txid] = tx
                self._run(tx, None)
            else:
                self._start(txid, intent.kind, intent.args, intent.decision, None, 0.0)

    def on_reply(self, event: Event) -> None:
        """A REPLY event: the answer to one of our steps (or a local failure)."""
        if self._peers.on_reply(event):
            return
        sent = self._inflight.pop(event.req_id, None)
        if sent is None:
            return
        if event.status in UNREACHED:
            self._peers.lost(sent.conn)
        if self._received(sent.tx, sent.index, event.status, event.payload or b""):
            self._continue_if_done(sent.tx)

    def on_conn_error(self, conn: int) -> None:
        self._peers.lost(conn)

    def tick(self) -> None:
        """Resends that are due, silent participants given up on, clients told ETIMEDOUT."""
        if not self._busy:
            return  # every batch calls this: the idle case must cost nothing
        now = time.monotonic()
        due = [(tx, index) for when, tx, index in self._retries if when <= now]
        self._retries = [entry for entry in self._retries if entry[0] > now]
        for tx, index in due:
            self._dispatch(tx, index)
        for tx in {tx for tx, _ in due}:
            self._continue_if_done(tx)
        for sent in list(self._inflight.values()):
            if sent.deadline <= now:
                logger.warning("server {} silent for {:.0f} s on transaction {:#x}",
                               sent.tx.steps[sent.index].rank, STEP_TIMEOUT, sent.tx.txid)
                sent.deadline = math.inf  # its failure comes back as a REPLY event
                self._peers.lost(sent.conn, close=True)
        for tx in self._txs.values():
            if tx.client is not None and tx.answer_by <= now:
                logger.warning("{} transaction {:#x} still waits on a server; the client "
                               "hears ETIMEDOUT, recovery goes on", tx.kind, tx.txid)
                self._answer(tx, (errno.ETIMEDOUT, None))

    @property
    def _busy(self) -> bool:
        """Whether anything waits on time: a resend, a step in flight, a transaction."""
        return bool(self._retries or self._inflight or self._txs)

    def take_replies(self) -> list[tuple[int, int, bytes]]:
        replies, self._replies = self._replies, []
        return replies

    @property
    def sends_waiting(self) -> bool:
        return bool(self._unsent)

    def send_queued(self) -> None:
        """Send the steps queued for other servers: call after the batch's commit."""
        unsent, self._unsent = self._unsent, []
        for tx, index in unsent:
            step = tx.steps[index]
            try:
                conn = self._peers.connection(step.rank)
                req_id = self._engine.send(conn, int(step.op), body=self._body(tx, step))
            except OSError as exc:
                logger.debug("step for server {} not sent: {}", step.rank, exc)
                # A hello under way (EAGAIN) takes a round trip: retry soon.
                self._retry(tx, index, busy=exc.errno == errno.EAGAIN)
                continue
            self._inflight[req_id] = _InFlight(tx, index, conn, time.monotonic() + STEP_TIMEOUT)

    def wait_ms(self, idle_ms: int) -> int:
        """How long the loop may sleep before something here is due."""
        if self._unsent:
            return 0
        if not self._busy:
            return idle_ms
        moments = [when for when, _, _ in self._retries]
        moments += [sent.deadline for sent in self._inflight.values()]
        moments += [tx.answer_by for tx in self._txs.values() if tx.client is not None]
        moments = [moment for moment in moments if moment != math.inf]
        if not moments:
            return idle_ms
        return max(0, min(idle_ms, math.ceil((min(moments) - time.monotonic()) * 1000)))

    # -- running plans -----------------------------------------------------------------

    def _start(self, txid: int, kind: str, args: list[Any], decision: Any, client: int | None,
               answer_by: float) -> None:
        plan = PLANS[kind](TxContext(txid, self._where, decision), *args)
        tx = _Transaction(txid, kind, plan, client, answer_by)
        self._txs[txid] = tx
        self._run(tx, None)

    def _run(self, tx: _Transaction, sent: Any) -> None:
        """Advance the plan until it waits on another server or is done."""
        while True:
            try:
                batch = tx.plan.send(sent)
            except StopIteration as done:
                if tx.finished:  # the participants forgot it: nothing is left
                    self._store.tx_drop(tx.txid)
                    del self._txs[tx.txid]
                    return
                self._finish(tx, done.value)
                sent = None
                continue
            if isinstance(batch, Decide):
                self._store.tx_decide(tx.txid, batch.value)
                sent = batch.value
                continue
            tx.batches += 1
            self._faults.before_batch(tx.kind, tx.batches)
            tx.steps, tx.results, tx.attempts = batch, [None] * len(batch), [0] * len(batch)
            for index, step in enumerate(batch):
                if step.op == Op.TX_STEP:
                    tx.keyed_ranks.add(step.rank)
                self._dispatch(tx, index)
            if any(result is None for result in tx.results):
                return
            sent = list(tx.results)

    def _continue_if_done(self, tx: _Transaction) -> None:
        if tx.results and all(result is not None for result in tx.results):
            self._run(tx, list(tx.results))

    def _finish(self, tx: _Transaction, outcome: Result) -> None:
        self._store.tx_finish(tx.txid)
        self._answer(tx, outcome)
        tx.finished = True
        tx.plan = forget_everywhere(tx.txid, sorted(tx.keyed_ranks))
        tx.steps, tx.results = [], []

    def _answer(self, tx: _Transaction, outcome: Result) -> None:
        if tx.client is None:
            return
        status, value = outcome
        self._replies.append((tx.client, status, b"" if status else encode_reply(value)))
        tx.client = None

    def _dispatch(self, tx: _Transaction, index: int) -> None:
        step = tx.steps[index]
        if step.rank != self._rank:
            self._unsent.append((tx, index))
            return
        body = self._body(tx, step)
        status, answer = self._handlers.handle(step.op, body)
        self._faults.after_request(step.op, body)
        self._received(tx, index, status, answer)

    def _received(self, tx: _Transaction, index: int, status: int, body: bytes) -> bool:
        """Record a step's answer; False when it must be sent again (scheduled)."""
        step = tx.steps[index]
        if status and status not in step.answers:
            if tx.attempts[index] == _PATIENCE:
                logger.warning("{} to server {} for transaction {:#x} keeps failing: {}",
                               step.op.name, step.rank, tx.txid, os.strerror(status))
            self._retry(tx, index, busy=status == errno.EAGAIN)
            return False
        value: Any = decode_reply(body) if not status and body else None
        if step.op == Op.TX_STEP and not status:
            status, value = value  # the participant's stored [errno, value]
        tx.results[index] = (status, value)
        return True

    def _retry(self, tx: _Transaction, index: int, busy: bool) -> None:
        first, longest = _BUSY_DELAYS if busy else UNREACHED_DELAYS
        delay = min(longest, first * 2 ** tx.attempts[index])
        tx.attempts[index] += 1
        self._retries.append((time.monotonic() + delay * random.uniform(0.5, 1.0), tx, index))

    def _body(self, tx: _Transaction, step: Step) -> bytes:
        if step.op == Op.TX_STEP:
            method, args = step.args
            return encode_request(Op.TX_STEP, tx.txid, step.key, method, encode_reply(args))
        return encode_request(step.op, *step.args)
