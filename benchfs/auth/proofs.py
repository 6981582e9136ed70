"""The hello: a mutual challenge-response over HMAC-SHA256, sans-I/O.

    client -> server  HELLO        [client nonce, who]
    server -> client  reply        [server nonce, proof("server")]
    client -> server  HELLO_PROVE  [proof("client")]
    server -> client  reply        0, or EACCES and the connection closed

``proof(role) = HMAC(secret, tag | role | cluster id | client nonce | server nonce)``.
Each side proves the secret over a nonce the other just chose, so a recorded
exchange proves nothing later; the role in the MAC keeps a server's proof from
being reflected back as a client's. The secret itself never crosses the wire.
"""

from __future__ import annotations

import errno
import hashlib
import hmac
import os
import socket
from typing import Any

from benchfs.auth.secret import Secret
from benchfs.core.wire import MalformedFrame, Op, decode_reply, encode_request

NONCE_SIZE = 32
_TAG = b"benchfs hello v1\0"


class HelloRefused(PermissionError):
    """The other side failed to prove the cluster secret, or refused our proof."""


def proof(secret: Secret, role: bytes, client_nonce: bytes, server_nonce: bytes) -> bytes:
    message = b"".join((_TAG, role, b"\0", secret.cluster_id.encode(), b"\0",
                        client_nonce, server_nonce))
    return hmac.new(secret.key, message, hashlib.sha256).digest()


def _refused(reason: str) -> HelloRefused:
    return HelloRefused(errno.EACCES, f"hello refused: {reason}")


class ClientHello:
    """The connecting side of one hello: feed it the two replies in order."""

    def __init__(self, secret: Secret) -> None:
        self._secret = secret
        self.nonce = os.urandom(NONCE_SIZE)
        self._server_nonce: bytes | None = None

    def request(self) -> bytes:
        """The HELLO body."""
        return encode_request(Op.HELLO, self.nonce, f"{socket.gethostname()}:{os.getpid()}")

    def prove(self, status: int, body: bytes) -> bytes:
        """The HELLO_PROVE body, from the server's answer to HELLO; HelloRefused
        when the server refused or could not prove the secret itself."""
        if status:
            raise _refused(f"the server answered {errno.errorcode.get(status, status)}")
        server_nonce, server_proof = _nonce_and_proof(body)
        expected = proof(self._secret, b"server", self.nonce, server_nonce)
        if not hmac.compare_digest(server_proof, expected):
            raise _refused("the server does not know the cluster secret")
        self._server_nonce = server_nonce
        return encode_request(Op.HELLO_PROVE,
                              proof(self._secret, b"client", self.nonce, server_nonce))

    @staticmethod
    def accepted(status: int) -> None:
        """HelloRefused unless the server accepted our proof."""
        if status:
            raise _refused("the server did not accept our proof of the cluster secret")


def _nonce_and_proof(body: bytes) -> tuple[bytes, bytes]:
    try:
        value: Any = decode_reply(body)
    except MalformedFrame:
        value = None
    if (not isinstance(value, list) or len(value) != 2
            or not all(isinstance(part, bytes) for part in value)
            or len(value[0]) != NONCE_SIZE):
        raise _refused("the server's answer is not a hello")
    return value[0], value[1]
