"""The client's view of the cluster: which server holds a partition, who is down.

Requests are addressed by *route*: a plain server rank (an inode's home, a
broadcast) or a partition (``partition_route``: a path's entry, a chunk). The route
becomes a rank when the request is sent, through the view held at that moment, so a
request resent after the view changed goes to the partition's new server.
"""

from __future__ import annotations

import time
from pathlib import Path

from loguru import logger

from benchfs._native.engine import Engine
from benchfs.core.views import MemberState, View
from benchfs.registry import read_server
from benchfs.view_registry import current_view

PARTITION_ROUTE = 1 << 32  # routes from here up name partition (route - PARTITION_ROUTE)

# Reloading the view to learn whether a down server came back: at most this often
# (a restarted server marks itself up before it registers its new address).
_RELOAD_EVERY_S = 0.05


def partition_route(partition: int) -> int:
    return PARTITION_ROUTE + partition


class ClientView:
    """The newest view this client loaded, and the engine epoch that goes with it."""

    def __init__(self, engine: Engine, registry: Path, servers: int) -> None:
        self._engine = engine
        self._registry = registry
        self._servers = servers
        self._next_reload = 0.0
        self._adopt(current_view(registry, servers))

    def _adopt(self, view: View) -> None:
        self.view = view
        self._primaries = view.table.primaries
        # rank -> the address of the instance declared down (None: not serving at all)
        self._down: dict[int, tuple[str, int] | None] = {
            m.rank: (m.host, m.port) if m.state == MemberState.DOWN and m.port else None
            for m in view.members if m.state in (MemberState.DOWN, MemberState.JOINING)}
        self.ranks = view.table.servers()
        self._engine.set_epoch(view.epoch)

    def replace_engine(self, engine: Engine) -> None:
        """Stamp a new engine's requests with our epoch (after a fork)."""
        self._engine = engine
        engine.set_epoch(self.view.epoch)

    def reload(self) -> bool:
        """Load the newest view; whether it is newer than ours."""
        view = current_view(self._registry, self._servers)
        if view.epoch <= self.view.epoch:
            return False
        logger.debug("view {} -> {}", self.view.epoch, view.epoch)
        self._adopt(view)
        return True

    def reload_soon(self) -> None:
        """``reload``, at most once per ``_RELOAD_EVERY_S``: for polling whether a
        down server is back without reading the registry at every failing call."""
        now = time.monotonic()
        if now >= self._next_reload:
            self._next_reload = now + _RELOAD_EVERY_S
            self.reload()

    def rank_of(self, route: int) -> int:
        if route >= PARTITION_ROUTE:
            return self._primaries[route - PARTITION_ROUTE]
        return route

    def is_down(self, rank: int) -> bool:
        """Known not to serve (down, or still joining): calls to it fail at once.

        A server declared down that has registered anew since (another address) is
        a restarted instance, not the one declared down: it may be tried. The view
        that says it is up again may be a moment behind its registration."""
        if rank not in self._down:
            return False
        dead = self._down[rank]
        if dead is None:
            return True
        entry = read_server(self._registry, rank)
        return entry is None or (entry.host, entry.port) == dead
