"""Failure detection and the server's view (DESIGN.md D11).

Each server pings the next ``NEIGHBOURS`` members after it in rank order (its ring
neighbours, skipping those already down), not everyone. A neighbour that does not
answer a ping within ``ping_timeout``, or whose connection fails, is *suspect*: up
to ``HELPERS`` other members are asked to ping it for us (``PROBE``, SWIM's indirect
probe). Only when a helper answers that it could not reach it either, and our own
pings still fail for a grace period after that (SWIM's suspicion timeout), is it
declared down: the detector asks the view's authority (the lowest rank that is up)
to commit a view marking it so (``VIEW_CHANGE``).

A server that restarts after it was declared down commits itself up before it
registers its new address. A member is watched from its first answer on: a cluster
whose servers start one after the other does not declare the late ones down. So one
slow process on a busy machine, or a pause shorter than a ping's timeout, a probe's
and the grace together, is not evicted.
A server cut off from everyone gets no helper's confirmation and declares nobody
down. The authority also pings the members that are down; one that answers (it
restarted, or its link came back) is committed up again.

Timing, with ``T`` the failure timeout (3 s by default): a ping every ``T/10`` to
each neighbour; a ping or a probe answers within ``T/5``; the grace is ``T/5``. A
killed server's TCP connection resets, so pings fail at once and it is down within
about ``T/10 + T/5`` plus the commit; a silent one (a cut link) within about
``T/10 + 3 T/5 + T/10``, and a pause shorter than ``3 T/5`` is never evicted.

Suspicion stays with the detector (the committed views hold up, down, joining and
leaving): committing it would make every client reload the view for nothing.
"""

from __future__ import annotations

import errno
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

from loguru import logger

from benchfs._native.engine import Engine, Event
from benchfs.core.views import MemberState, View
from benchfs.core.wire import MalformedFrame, Op, decode_reply, decode_request, encode_reply
from benchfs.core.wire import encode_request as encode
from benchfs.registry import ServerEntry, read_server
from benchfs.server.transactions import UNREACHED, Peers
from benchfs.view_registry import commit_view, current_view

DEFAULT_FAILURE_TIMEOUT = 3.0
NEIGHBOURS = 2  # members each server pings
HELPERS = 2  # members asked to confirm a silent one
# A ping unanswered this many failure timeouts has its connection closed, so the
# next one connects anew (the peer may have restarted elsewhere).
_STALE_CONNECTION = 4
# Commits tried before giving up on a change (other proposers keep winning).
_COMMIT_TRIES = 8
_PING = encode(Op.PING)


@dataclass
class _Target:
    """What we know of one member we ping."""

    rank: int
    ping: int | None = None  # request id of the ping in flight
    ping_sent: float = 0.0
    next_ping: float = 0.0
    seen: bool = False  # it answered since we started: only then can it be suspected
    suspect: bool = False  # a ping failed or is overdue, and no answer came since
    suspect_of: ServerEntry | None = None  # the registered instance that went silent
    probes: set[int] = field(default_factory=set)  # PROBE request ids in flight
    probes_sent: float = 0.0
    confirmed_at: float | None = None  # when a helper could not reach it either

    def clear(self) -> None:
        self.suspect = False
        self.suspect_of = None
        self.confirmed_at = None
        self.probes.clear()


@dataclass(slots=True)
class _Probe:
    """A PROBE we run for another member: ping ``rank``, then answer ``handle``."""

    handle: int
    rank: int
    deadline: float


class HealthMonitor:
    """Pings, indirect probes, view changes; owns the server's current view."""

    OPS = frozenset({Op.PROBE, Op.VIEW_CHANGE})

    def __init__(self, rank: int, engine: Engine, registry: Path, servers: int, peers: Peers,
                 failure_timeout: float = DEFAULT_FAILURE_TIMEOUT) -> None:
        self._rank = rank
        self._engine = engine
        self._registry = registry
        self._servers = servers
        self._peers = peers
        # Told every view this server adopts (the daemon points its placement at it).
        self.on_view: Callable[[View], None] = lambda view: None
        self.interval = failure_timeout / 10
        self.ping_timeout = failure_timeout / 5
        self.grace = failure_timeout / 5
        self._targets: dict[int, _Target] = {}
        self._pings: dict[int, int] = {}  # ping request id -> rank
        self._probe_of: dict[int, int] = {}  # PROBE request id (ours) -> rank probed
        self._probing: dict[int, _Probe] = {}  # our ping id -> the PROBE we answer
        self._changes: dict[int, tuple[int, MemberState]] = {}  # VIEW_CHANGE id -> change
        self._replies: list[tuple[int, int, bytes]] = []
        # Before this moment (monotonic) nothing is due: every batch calls tick, and
        # the idle case must cost nothing. Anything that changes a target resets it.
        self._quiet_until = 0.0
        self.view = current_view(registry, servers)
        self._adopt(self.view)
        self.refute_down()

    def refute_down(self) -> None:
        """Commit ourselves up if the newest view says we are down: we restarted.

        Called before the server registers its new address, so that a client
        finding it finds us up, and again right after, for a verdict on our
        previous instance that was committed in between."""
        if current_view(self._registry, self._servers).state(self._rank) == MemberState.DOWN:
            self._commit(self._rank, MemberState.UP)

    # -- the view --------------------------------------------------------------------------

    def _adopt(self, view: View) -> None:
        self._quiet_until = 0.0
        self.view = view
        self._engine.set_epoch(view.epoch)
        wanted = set(self._ring_neighbours())
        if self.view.authority() == self._rank:
            wanted |= set(view.ranks([MemberState.DOWN]))
        for rank in list(self._targets):
            if rank not in wanted:
                del self._targets[rank]
        now = time.monotonic()
        for rank in wanted - self._targets.keys():
            self._targets[rank] = _Target(rank, next_ping=now)
        self.on_view(view)

    def _ring_neighbours(self) -> list[int]:
        """The next members after us in rank order, wrapping, skipping the down ones."""
        alive = [r for r in self.view.ranks() if self.view.state(r) != MemberState.DOWN]
        if self._rank not in alive:
            return []
        at = alive.index(self._rank)
        ring = alive[at + 1:] + alive[:at]
        return ring[:NEIGHBOURS]

    def follow(self) -> None:
        """Load the registry's newest view when a peer's message carried a newer epoch."""
        if self._engine.peer_epoch > self.view.epoch:
            view = current_view(self._registry, self._servers)
            if view.epoch > self.view.epoch:
                logger.info("view {} -> {}", self.view.epoch, view.epoch)
                self._adopt(view)

    def _commit(self, rank: int, state: MemberState, dead: tuple[str, int] = ("", 0)) -> int:
        """Commit a view with ``rank`` in ``state``: 0, or an errno. A member goes down
        with the address of the instance found dead (``dead``), so that clients can
        tell a restarted instance from it; up, with the address it registered."""
        for _ in range(_COMMIT_TRIES):
            view = current_view(self._registry, self._servers)
            if view.epoch > self.view.epoch:
                self._adopt(view)
            if view.state(rank) == state:
                return 0
            member = view.member(rank)
            if member is None:
                return errno.ENOENT
            if state == MemberState.UP:
                entry = read_server(self._registry, rank)
                if entry is not None:
                    member = replace(member, host=entry.host, port=entry.port)
            elif state == MemberState.DOWN:
                member = replace(member, host=dead[0], port=dead[1])
            proposed = view.with_member(replace(member, state=state))
            if commit_view(self._registry, proposed):
                logger.info("view {}: server {} is {}", proposed.epoch, rank, state.value)
                self._adopt(proposed)
                return 0
        return errno.EAGAIN

    def _propose(self, rank: int, state: MemberState,
                 dead: tuple[str, int] = ("", 0)) -> None:
        """Ask the authority to commit the change (commit it when we are the authority)."""
        authority = self.view.authority()
        if authority == rank:  # the authority itself is the one changing: the next one
            up = [r for r in self.view.ranks([MemberState.UP]) if r != rank]
            authority = up[0] if up else None
        if authority is None:
            return
        if authority == self._rank:
            self._commit(rank, state, dead)
            return
        req_id = self._send(authority, Op.VIEW_CHANGE,
                            encode(Op.VIEW_CHANGE, rank, state.value, *dead))
        if req_id is not None:
            self._changes[req_id] = (rank, state)

    # -- the loop's side -------------------------------------------------------------------

    def _send(self, rank: int, op: Op, body: bytes | None = None) -> int | None:
        try:
            return self._engine.send(self._peers.connection(rank), int(op), body=body)
        except OSError as exc:
            logger.debug("{} to server {} not sent: {}", op.name, rank, exc)
            return None

    def on_request(self, handle: int, opcode: int, body: bytes) -> None:
        self._quiet_until = 0.0
        try:
            args = decode_request(opcode, body)
        except MalformedFrame as exc:
            logger.warning("dropped malformed {} request body: {}", Op(opcode).name, exc)
            self._replies.append((handle, errno.EPROTO, b""))
            return
        if opcode == Op.PROBE:
            (rank,) = args
            ping = self._send(rank, Op.PING, _PING)
            if ping is None:
                self._replies.append((handle, 0, encode_reply(False)))
            else:
                self._probing[ping] = _Probe(handle, rank, time.monotonic() + self.ping_timeout)
        else:  # VIEW_CHANGE: we are (or should be) the authority
            rank, state, host, port = args
            try:
                wanted = MemberState(state)
            except ValueError:
                self._replies.append((handle, errno.EINVAL, b""))
                return
            self._replies.append((handle, self._commit(rank, wanted, (host, port)), b""))

    def on_reply(self, event: Event) -> bool:
        """Take a REPLY event to one of our requests; False when it is not ours."""
        req_id = event.req_id
        if not (req_id in self._pings or req_id in self._probing or req_id in self._probe_of
                or req_id in self._changes):
            return False
        self._quiet_until = 0.0
        alive = event.status not in UNREACHED
        rank = self._pings.pop(event.req_id, None)
        if rank is not None:
            self._ping_answered(rank, alive)
            return True
        probe = self._probing.pop(event.req_id, None)
        if probe is not None:
            self._replies.append((probe.handle, 0, encode_reply(alive)))
            return True
        rank = self._probe_of.pop(event.req_id, None)
        if rank is not None:
            target = self._targets.get(rank)
            if target is not None and event.req_id in target.probes:
                target.probes.discard(event.req_id)
                if alive and event.status == 0 and decode_reply(event.payload or b""):
                    self._ping_answered(rank, True)  # the helper reached it
                elif event.status == 0 and target.suspect and target.confirmed_at is None:
                    target.confirmed_at = time.monotonic()  # the helper could not reach it
            return True
        change = self._changes.pop(event.req_id, None)
        if change is not None:
            if event.status:
                logger.warning("authority refused or missed view change {}: {}", change,
                               event.status)
            self.follow()
            return True
        return False

    def _mark_suspect(self, target: _Target) -> None:
        if target.seen and not target.suspect:
            target.suspect = True
            target.suspect_of = read_server(self._registry, target.rank)

    def _ping_answered(self, rank: int, alive: bool) -> None:
        target = self._targets.get(rank)
        if target is None:
            return
        target.ping = None
        if not alive:
            self._mark_suspect(target)
            return
        target.seen = True
        target.clear()
        if self.view.state(rank) == MemberState.DOWN:
            self._propose(rank, MemberState.UP)

    def tick(self) -> None:
        """Pings due, timeouts, probes, and the down verdicts they lead to."""
        now = time.monotonic()
        if now < self._quiet_until:
            return
        for target in list(self._targets.values()):
            if target.ping is not None and now - target.ping_sent > self.ping_timeout:
                self._mark_suspect(target)
                if now - target.ping_sent > _STALE_CONNECTION * 10 * self.interval:
                    self._pings.pop(target.ping, None)
                    target.ping = None
                    self._drop_connection(target.rank)
            if target.ping is None and now >= target.next_ping:
                target.ping = self._send(target.rank, Op.PING, _PING)
                target.ping_sent = now
                target.next_ping = now + self.interval
                if target.ping is None:
                    self._mark_suspect(target)
                else:
                    self._pings[target.ping] = target.rank
            if target.suspect and self.view.state(target.rank) != MemberState.DOWN:
                self._suspect(target, now)
        for ping, probe in list(self._probing.items()):
            if probe.deadline <= now:
                del self._probing[ping]
                self._replies.append((probe.handle, 0, encode_reply(False)))
        self._quiet_until = self._next_moment()

    def _suspect(self, target: _Target, now: float) -> None:
        """Confirm a silent member through others; declare it down once one could not
        reach it either."""
        if target.confirmed_at is not None:
            if now - target.confirmed_at < self.grace:
                return  # a last chance to answer our pings (SWIM's suspicion timeout)
            silent = target.suspect_of
            target.clear()
            if read_server(self._registry, target.rank) != silent:
                # It registered anew since it went silent: it restarted. Ping the new
                # instance instead of declaring it down.
                self._drop_connection(target.rank)
                return
            logger.warning("server {} confirmed silent; proposing it down", target.rank)
            self._propose(target.rank, MemberState.DOWN,
                          (silent.host, silent.port) if silent else ("", 0))
            return
        if target.probes and now - target.probes_sent <= 2 * self.ping_timeout:
            return  # helpers answer within one ping timeout; a silent helper is asked again
        target.probes.clear()
        helpers = [r for r in self.view.ranks([MemberState.UP])
                   if r not in (self._rank, target.rank)][:HELPERS]
        if not helpers:
            # Two servers: nobody to ask. Our own failed pings are the verdict.
            target.confirmed_at = now
            return
        target.probes_sent = now
        for helper in helpers:
            probe = self._send(helper, Op.PROBE, encode(Op.PROBE, target.rank))
            if probe is not None:
                target.probes.add(probe)
                self._probe_of[probe] = target.rank

    def _drop_connection(self, rank: int) -> None:
        try:
            conn = self._peers.connection(rank)
        except OSError:
            return
        self._peers.lost(conn, close=True)

    def take_replies(self) -> list[tuple[int, int, bytes]]:
        replies, self._replies = self._replies, []
        return replies

    def _next_moment(self) -> float:
        """When the next ping or timeout is due (monotonic; inf: nothing is)."""
        now = time.monotonic()
        moments = [probe.deadline for probe in self._probing.values()]
        for target in self._targets.values():
            if target.ping is None:
                moments.append(target.next_ping)
            else:
                # Overdue (a suspect): look again every interval, not in a spin.
                overdue_at = target.ping_sent + self.ping_timeout
                moments.append(overdue_at if overdue_at > now else now + self.interval)
        return min(moments, default=math.inf)

    def wait_ms(self, idle_ms: int) -> int:
        """How long the loop may sleep before a ping or a timeout is due."""
        soonest = self._next_moment() - time.monotonic()
        return idle_ms if soonest == math.inf else max(0, min(idle_ms, math.ceil(soonest * 1000)))

