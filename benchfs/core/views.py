"""Views: the cluster's membership at an epoch (DESIGN.md D11).

A view is (epoch, members with their addresses and states, partition table). One
authority commits each new view with the next epoch (``benchfs.view_registry``);
every request and reply carries its sender's epoch, and a server that sees an older
one answers ``STALE_VIEW`` so the client loads the newer view and resends.

States: *joining* (taking over partitions, not serving them yet), *up*, *suspect*
(silent, being confirmed through others), *down* (confirmed silent: calls to it fail
at once), *leaving* (handing its partitions over before it stops).
"""

from __future__ import annotations

import enum
import errno
from collections.abc import Iterable
from dataclasses import dataclass, replace

from benchfs.core.partitions import PartitionTable, initial_table

# The reply status of a request sent with an older epoch than the server's. The
# request was not run; the client loads the newer view and sends it again. Servers
# answer ESTALE for nothing else (no file handles here go stale).
STALE_VIEW = errno.ESTALE


class MemberState(enum.Enum):
    JOINING = "joining"
    UP = "up"
    SUSPECT = "suspect"
    DOWN = "down"
    LEAVING = "leaving"


# Members that answer requests: calls to the others fail at once.
SERVING = frozenset({MemberState.UP, MemberState.SUSPECT, MemberState.LEAVING})


@dataclass(frozen=True)
class Member:
    rank: int
    host: str = ""
    port: int = 0
    state: MemberState = MemberState.UP

    def to_json(self) -> dict[str, object]:
        return {"rank": self.rank, "host": self.host, "port": self.port,
                "state": self.state.value}

    @classmethod
    def from_json(cls, raw: dict[str, object]) -> Member:
        rank, host, port, state = raw["rank"], raw["host"], raw["port"], raw["state"]
        if not (isinstance(rank, int) and isinstance(host, str) and isinstance(port, int)
                and isinstance(state, str)):
            raise ValueError(f"malformed view member {raw!r}")
        return cls(rank, host, port, MemberState(state))


@dataclass(frozen=True)
class View:
    epoch: int
    members: tuple[Member, ...]  # in rank order
    table: PartitionTable

    def __post_init__(self) -> None:
        if self.epoch < 1:
            raise ValueError(f"view epochs start at 1, not {self.epoch}")
        ranks = [member.rank for member in self.members]
        if ranks != sorted(set(ranks)):
            raise ValueError(f"view members must be distinct and in rank order: {ranks}")
        unknown = set(self.table.servers()) - set(ranks)
        if unknown:
            raise ValueError(f"the partition table names non-members {sorted(unknown)}")

    def member(self, rank: int) -> Member | None:
        for member in self.members:
            if member.rank == rank:
                return member
        return None

    def state(self, rank: int) -> MemberState | None:
        member = self.member(rank)
        return member.state if member is not None else None

    def ranks(self, states: Iterable[MemberState] = tuple(MemberState)) -> list[int]:
        wanted = frozenset(states)
        return [member.rank for member in self.members if member.state in wanted]

    def authority(self) -> int | None:
        """The member that commits the next view: the lowest rank that is up."""
        up = self.ranks([MemberState.UP])
        return up[0] if up else None

    def with_member(self, member: Member) -> View:
        """The next view, with ``member`` added or replacing the one of its rank."""
        others = [m for m in self.members if m.rank != member.rank]
        members = tuple(sorted([*others, member], key=lambda m: m.rank))
        return View(self.epoch + 1, members, self.table)

    def with_state(self, rank: int, state: MemberState) -> View:
        member = self.member(rank)
        if member is None:
            raise ValueError(f"server {rank} is not a member of view {self.epoch}")
        return self.with_member(replace(member, state=state))

    def to_json(self) -> dict[str, object]:
        return {"epoch": self.epoch, "members": [m.to_json() for m in self.members],
                "table": self.table.to_json()}

    @classmethod
    def from_json(cls, raw: dict[str, object]) -> View:
        epoch, members, table = raw["epoch"], raw["members"], raw["table"]
        if not (isinstance(epoch, int) and isinstance(members, list)
                and isinstance(table, dict)):
            raise ValueError("malformed view")
        return cls(epoch, tuple(Member.from_json(m) for m in members),
                   PartitionTable.from_json(table))


def initial_view(servers: int) -> View:
    """Epoch 1 of a cluster started with ``servers`` servers: all up, partitions dealt
    round-robin. Every process computes the same one, so it needs no file to agree on."""
    ranks = list(range(servers))
    return View(1, tuple(Member(rank) for rank in ranks), initial_table(ranks))
