"""The cluster secret and the hello that proves it (DESIGN.md D14).

``secret``: the 32 random bytes in ``registry/secret`` and the checks on reading
them. ``proofs``: the mutual HMAC-SHA256 challenge-response, sans-I/O.
``gate``: the server's side of it, over the engine's per-connection flag.
``peer``: the connecting side, blocking (clients) or driven by events (servers
connecting to servers).
"""

from benchfs.auth.proofs import ClientHello, HelloRefused
from benchfs.auth.secret import Secret, create_secret, load_secret

__all__ = ["ClientHello", "HelloRefused", "Secret", "create_secret", "load_secret"]
