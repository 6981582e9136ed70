"""The partition table: keys hash to a fixed number of partitions, and a view maps
each partition to its servers (DESIGN.md D12).

Random ring points give uneven shares (the busiest of 1 000 servers with 128 points
each owns 1.32x the mean). A table of 2^16 partitions dealt out evenly is balanced
by construction: every server owns ``P // N`` or ``P // N + 1`` of them. The changes
are plain functions that return a new table:

- ``add_server``: the newcomer takes whole partitions, one at a time from whichever
  server owns the most at that moment, until it owns its share; about 1/(N+1) of
  the partitions move, all of them onto the newcomer.
- ``remove_server``: the leaver's partitions go, one at a time, to whichever server
  owns the fewest; nothing else moves.

Each partition lists ``replicas`` distinct servers, the primary first (slot 0). Every
slot is balanced on its own, so primaries are spread as evenly as the table. Today
the cluster runs with one replica; the replication work (issue 13) fills the others.
"""

from __future__ import annotations

import base64
import heapq
import sys
import zlib
from array import array
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

PARTITION_BITS = 16
MAX_RANK = 0xFFFF  # ranks are stored as uint16 (and name an inode's server in 16 bits)


def partition_of_hash(key_hash: int, bits: int = PARTITION_BITS) -> int:
    """The partition of a 64-bit key hash: its top ``bits`` bits."""
    return key_hash >> (64 - bits)


def _owner_array(owners: Iterable[int]) -> array[int]:
    return array("H", owners)


@dataclass(frozen=True, eq=False)
class PartitionTable:
    """``slots[s][p]``: the server of partition ``p`` in replica slot ``s`` (0: primary).

    Treated as immutable: the change functions build new tables.
    """

    bits: int
    slots: tuple[array[int], ...]

    def __post_init__(self) -> None:
        if not 1 <= self.bits <= PARTITION_BITS:
            raise ValueError(f"partition bits must be 1..{PARTITION_BITS}, not {self.bits}")
        if not self.slots:
            raise ValueError("a partition table needs at least one replica slot")
        for slot in self.slots:
            if len(slot) != self.partitions:
                raise ValueError(f"a slot holds {len(slot)} owners, not {self.partitions}")
        if len(self.slots) > 1:
            for partition in range(self.partitions):
                owners = self.owners(partition)
                if len(set(owners)) != len(owners):
                    raise ValueError(f"partition {partition} lists a server twice: {owners}")

    @property
    def partitions(self) -> int:
        return 1 << self.bits

    @property
    def replicas(self) -> int:
        return len(self.slots)

    @property
    def primaries(self) -> array[int]:
        """Slot 0: ``primaries[p]`` is the server of partition ``p``."""
        return self.slots[0]

    def owners(self, partition: int) -> tuple[int, ...]:
        """The servers of one partition, the primary first."""
        return tuple(slot[partition] for slot in self.slots)

    def servers(self) -> list[int]:
        """Every server named by the table, in rank order."""
        return sorted({rank for slot in self.slots for rank in set(slot)})

    def load(self, slot: int = 0) -> dict[int, int]:
        """Partitions per server in one replica slot."""
        counts: dict[int, int] = {}
        for rank in self.slots[slot]:
            counts[rank] = counts.get(rank, 0) + 1
        return counts

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, PartitionTable) and self.bits == other.bits
                and self.slots == other.slots)

    def __hash__(self) -> int:
        return hash((self.bits, *(slot.tobytes() for slot in self.slots)))

    # -- encoding: a view file carries the table as compressed little-endian uint16s ----

    def to_json(self) -> dict[str, object]:
        return {"bits": self.bits,
                "slots": [base64.b64encode(zlib.compress(_le_bytes(slot), 6)).decode("ascii")
                          for slot in self.slots]}

    @classmethod
    def from_json(cls, raw: dict[str, object]) -> PartitionTable:
        bits = raw["bits"]
        slots = raw["slots"]
        if not isinstance(bits, int) or not isinstance(slots, list):
            raise ValueError("a partition table needs int bits and a list of slots")
        return cls(bits, tuple(_from_le_bytes(zlib.decompress(base64.b64decode(text)))
                               for text in slots))


def _le_bytes(slot: array[int]) -> bytes:
    if sys.byteorder == "little":
        return slot.tobytes()
    swapped = array("H", slot)
    swapped.byteswap()
    return swapped.tobytes()


def _from_le_bytes(data: bytes) -> array[int]:
    slot = array("H")
    slot.frombytes(data)
    if sys.byteorder != "little":
        slot.byteswap()
    return slot


def _check_rank(rank: int) -> None:
    if not 0 <= rank <= MAX_RANK:
        raise ValueError(f"server rank must be 0..{MAX_RANK}, not {rank}")


def initial_table(ranks: Sequence[int], replicas: int = 1,
                  bits: int = PARTITION_BITS) -> PartitionTable:
    """Partitions dealt round-robin: partition ``p`` slot ``s`` goes to the server
    ``(p + s) mod N`` places along ``ranks`` (so a partition's replicas are distinct)."""
    ranks = sorted(ranks)
    for rank in ranks:
        _check_rank(rank)
    if len(set(ranks)) != len(ranks):
        raise ValueError("server ranks must be distinct")
    if not 1 <= replicas <= len(ranks):
        raise ValueError(f"{replicas} replicas need at least as many servers, not {len(ranks)}")
    partitions = 1 << bits
    n = len(ranks)
    return PartitionTable(bits, tuple(_owner_array(ranks[(p + s) % n] for p in range(partitions))
                                      for s in range(replicas)))


def _by_owner(slot: array[int]) -> dict[int, list[int]]:
    owned: dict[int, list[int]] = {}
    for partition, rank in enumerate(slot):
        owned.setdefault(rank, []).append(partition)
    return owned


def add_server(table: PartitionTable, rank: int) -> PartitionTable:
    """``table`` with ``rank`` added: in every slot it takes ``P // (N+1)`` partitions,
    each from the server owning the most at that moment (ties: the higher rank), and
    only partitions it is not already a replica of."""
    _check_rank(rank)
    members = table.servers()
    if rank in members:
        raise ValueError(f"server {rank} is already in the table")
    share = table.partitions // (len(members) + 1)
    slots = [array("H", slot) for slot in table.slots]
    for s, slot in enumerate(slots):
        owned = _by_owner(slot)
        # Max-heap on (partitions owned, rank): the fullest gives first.
        fullest = [(-len(parts), -owner) for owner, parts in owned.items()]
        heapq.heapify(fullest)
        for _ in range(share):
            skipped = []
            while fullest:
                count, negated = heapq.heappop(fullest)
                giver = -negated
                partition = _giveable(owned[giver], slots, s, rank)
                if partition is not None:
                    slot[partition] = rank
                    heapq.heappush(fullest, (count + 1, negated))
                    break
                skipped.append((count, negated))
            for entry in skipped:
                heapq.heappush(fullest, entry)
    return PartitionTable(table.bits, tuple(slots))


def _giveable(parts: list[int], slots: list[array[int]], s: int, taker: int) -> int | None:
    """The giver's last partition in slot ``s`` that ``taker`` holds no other replica of
    (taken out of ``parts``), or None."""
    for index in range(len(parts) - 1, -1, -1):
        partition = parts[index]
        if all(slots[other][partition] != taker for other in range(len(slots)) if other != s):
            parts.pop(index)
            return partition
    return None


def remove_server(table: PartitionTable, rank: int) -> PartitionTable:
    """``table`` without ``rank``: each of its partitions, slot by slot, goes to the
    server owning the fewest in that slot at that moment (ties: the lower rank) that
    is not already a replica of it. No other partition moves."""
    members = table.servers()
    if rank not in members:
        raise ValueError(f"server {rank} is not in the table")
    remaining = [member for member in members if member != rank]
    if len(remaining) < table.replicas:
        raise ValueError(f"{table.replicas} replicas need {table.replicas} servers; "
                         f"removing {rank} leaves {len(remaining)}")
    slots = [array("H", slot) for slot in table.slots]
    for s, slot in enumerate(slots):
        counts = {member: 0 for member in remaining}
        leaving = []
        for partition, owner in enumerate(slot):
            if owner == rank:
                leaving.append(partition)
            else:
                counts[owner] += 1
        emptiest = [(count, member) for member, count in counts.items()]
        heapq.heapify(emptiest)
        for partition in leaving:
            replicas = {slots[other][partition] for other in range(len(slots)) if other != s}
            skipped = []
            while True:
                count, member = heapq.heappop(emptiest)
                if member not in replicas:
                    break
                skipped.append((count, member))
            slot[partition] = member
            heapq.heappush(emptiest, (count + 1, member))
            for entry in skipped:
                heapq.heappush(emptiest, entry)
    return PartitionTable(table.bits, tuple(slots))


def moved_partitions(before: PartitionTable, after: PartitionTable) -> list[int]:
    """The partitions whose server list differs between two tables."""
    if before.bits != after.bits or before.replicas != after.replicas:
        raise ValueError("tables of different shapes")
    return [p for p in range(before.partitions) if before.owners(p) != after.owners(p)]
