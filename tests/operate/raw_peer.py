"""A peer that talks raw engine frames to a real server: what a stranger on the
network can send, with or without the cluster secret."""

from __future__ import annotations

from benchfs._native.engine import Engine, EngineConfig, Event
from benchfs.auth.proofs import ClientHello, proof
from benchfs.auth.secret import Secret
from benchfs.cluster import LocalCluster
from benchfs.core.wire import Op, decode_reply, encode_request
from tests.engine_support import roundtrip


class RawPeer:
    def __init__(self, cluster: LocalCluster, rank: int = 0) -> None:
        entry = cluster.entries()[rank]
        # The cluster runs without peer error handling: endpoints must match (UCX).
        self.engine = Engine(EngineConfig(err_mode_peer=False))
        self.conn = self.engine.connect(entry.host, entry.port)

    def call(self, op: int, ino: int = 0, offset: int = 0, length: int = 0,
             body: bytes | None = None, recv_into: bytearray | None = None) -> Event:
        return roundtrip(self.engine, self.conn, op, ino, offset, length, body, recv_into)

    def hello(self, secret: Secret) -> tuple[Event, Event, bytes, bytes]:
        """A full hello: both replies and the two request bodies sent (to replay)."""
        exchange = ClientHello(secret)
        first = exchange.request()
        challenge = self.call(int(Op.HELLO), body=first)
        second = exchange.prove(challenge.status, challenge.payload or b"")
        return challenge, self.call(int(Op.HELLO_PROVE), body=second), first, second

    def prove_blindly(self, secret: Secret) -> Event:
        """A hello whose proof is made with ``secret`` without checking the server's."""
        exchange = ClientHello(secret)
        challenge = self.call(int(Op.HELLO), body=exchange.request())
        server_nonce, _ = decode_reply(challenge.payload or b"")
        ours = proof(secret, b"client", exchange.nonce, server_nonce)
        return self.call(int(Op.HELLO_PROVE), body=encode_request(Op.HELLO_PROVE, ours))

    def close(self) -> None:
        self.engine.close()
