"""The server's side of the hello: proves the secret to a connecting peer, checks
its proof, and only then lets the engine serve that connection everything.

The engine refuses every other opcode on a connection until ``Engine.authenticate``
(``require_auth``), bulk ones included, and counts them. A wrong or missing proof
is answered EACCES and the connection is closed.
"""

from __future__ import annotations

import errno
import hmac
import os
from collections import OrderedDict

from loguru import logger

from benchfs._native.engine import Engine, Event
from benchfs.auth.proofs import NONCE_SIZE, proof
from benchfs.auth.secret import Secret
from benchfs.core.wire import MalformedFrame, Op, decode_request, encode_reply
from benchfs.server.throttle import ThrottledWarning

# Hellos begun and not yet proved, one per connection: a peer that never sends its
# proof cannot make this grow past the bound (the oldest is closed).
MAX_PENDING = 1024


class Gate:
    OPS = frozenset({Op.HELLO, Op.HELLO_PROVE})

    def __init__(self, engine: Engine, secret: Secret) -> None:
        self._engine = engine
        self._secret = secret
        self._pending: OrderedDict[int, tuple[bytes, bytes]] = OrderedDict()  # conn -> nonces
        self.refused = 0  # hellos that failed (the engine counts the other refusals)
        self._warning = ThrottledWarning()

    def handle(self, event: Event) -> None:
        """Answer a HELLO or HELLO_PROVE request (replies at once: nothing to log)."""
        try:
            fields = decode_request(event.opcode, event.payload or b"")
        except MalformedFrame as exc:
            self._refuse(event, f"malformed {Op(event.opcode).name}: {exc}")
            return
        if event.opcode == Op.HELLO:
            self._challenge(event, fields[0], fields[1])
        else:
            self._check(event, fields[0])

    def _challenge(self, event: Event, client_nonce: bytes, who: str) -> None:
        if len(client_nonce) != NONCE_SIZE:
            self._refuse(event, "a nonce of the wrong size")
            return
        server_nonce = os.urandom(NONCE_SIZE)
        self._pending.pop(event.conn, None)
        self._pending[event.conn] = (client_nonce, server_nonce)
        while len(self._pending) > MAX_PENDING:
            stale, _ = self._pending.popitem(last=False)
            self._close(stale)
        logger.debug("hello from {} on connection {}", who[:80], event.conn)
        ours = proof(self._secret, b"server", client_nonce, server_nonce)
        self._engine.reply(event.req_id, 0, encode_reply([server_nonce, ours]))

    def _check(self, event: Event, client_proof: bytes) -> None:
        nonces = self._pending.pop(event.conn, None)
        if nonces is None:
            self._refuse(event, "a proof without a hello")
            return
        if not hmac.compare_digest(client_proof, proof(self._secret, b"client", *nonces)):
            self._refuse(event, "a wrong proof of the cluster secret")
            return
        self._engine.authenticate(event.conn)
        self._engine.reply(event.req_id, 0, encode_reply(None))

    def _refuse(self, event: Event, reason: str) -> None:
        self.refused += 1
        self._warning("refused connection {}: {}", event.conn, reason)
        self._pending.pop(event.conn, None)
        self._engine.reply(event.req_id, errno.EACCES)
        self._close(event.conn)

    def forget(self, conn: int) -> None:
        """The connection went away."""
        self._pending.pop(conn, None)

    def _close(self, conn: int) -> None:
        try:
            self._engine.disconnect(conn)  # a flush close: the EACCES reply goes first
        except OSError:
            pass  # gone already
