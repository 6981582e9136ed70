"""The operations that span servers, as plans a coordinating server runs (DESIGN.md D5).

A plan is a generator. It yields the steps to run next, all at once, and receives
their results, ``(errno or 0, value)``, in the same order; what it returns is the
client's answer. After a restart the coordinator runs an unfinished plan again
from the top (``benchfs.server.transactions``). Every step that changes something
is therefore either *keyed* (``applied``: its server stores the answer under
(txid, key) and answers a resend with it) or idempotent by nature (fences and
unfences by txid, inserting moved entries, removing chunk files), so a re-run
meets the first run's answers, takes its path and goes on where it stopped.

Rename, link and unlink only roll forward once their first change is made (a link
whose new name cannot be added takes its count back). A directory rename or rmdir
rolls back (unfences) until its decision is journaled on the coordinator, and
rolls forward after: the decision carries the entries to move, so a re-run does
not need listings that the first run's unfencing may already have changed.
"""

from __future__ import annotations

import errno
from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import Any

from benchfs.core.partitions import PartitionTable
from benchfs.core.placement import PartitionMemo
from benchfs.core.records import ROOT_INO, inode_owner
from benchfs.core.wire import Op

Result = tuple[int, Any]  # (errno or 0, reply value)


@dataclass(frozen=True)
class Step:
    """One request of a transaction to one server (maybe the coordinator itself)."""

    rank: int
    op: Op
    args: tuple[Any, ...]
    key: int = 0  # TX_STEP only: the change's name on its server, with the txid
    # The error replies the plan decides on. Any other is not an answer (a lost
    # connection, a fenced subtree, a server whose log write failed) and the step
    # is sent again until it gets one; a keyed step's answer, failures included,
    # comes in its reply body.
    answers: frozenset[int] = frozenset()


@dataclass(frozen=True)
class Decide:
    """Journal a directory rename's (or rmdir's) decision on the coordinator."""

    value: Any


Plan = Generator[list[Step] | Decide, Any, Result]


def applied(rank: int, key: int, method: str, *args: Any) -> Step:
    """A store method run once per transaction on ``rank``, however often it is sent."""
    return Step(rank, Op.TX_STEP, (method, list(args)), key=key)


class Placement:
    """Which server holds a name or an inode, as the clients compute it, under the
    partition table of the server's current view (``adopt`` follows a new one)."""

    def __init__(self, table: PartitionTable) -> None:
        self._partitions = PartitionMemo(table.bits)
        self.adopt(table)

    def adopt(self, table: PartitionTable) -> None:
        self._primaries = table.primaries
        self.all_ranks = table.servers()

    def of_path(self, path: str) -> int:
        return self._primaries[self._partitions.of_path(path)]

    def of_inode(self, ino: int) -> int:
        return self.of_path("/") if ino == ROOT_INO else inode_owner(ino)


@dataclass(frozen=True)
class TxContext:
    txid: int
    where: Placement
    decision: Any  # a journaled decision from before a restart, or None


def mkdir(tx: TxContext, path: str, mode: int, uid: int, gid: int, parent_ino: int) -> Plan:
    """The directory, then its parent's link (on the parent's server, when elsewhere);
    made where a subtree was just removed (rm -r, then mkdir), it is revived on every
    server, which all refuse new names under that subtree for a while."""
    ((status, reply),) = yield [applied(tx.where.of_path(path), 1, "make_directory", path, mode,
                                        uid, gid, parent_ino)]
    if status:
        return status, None
    steps = [] if reply[1] else [applied(tx.where.of_inode(parent_ino), 2, "adjust", parent_ino,
                                         1, True, False)]
    if reply[2]:
        steps += [applied(rank, 3, "revive", path) for rank in tx.where.all_ranks]
    if steps:
        yield steps
    return 0, None


def rename_file(tx: TxContext, src: str, dst: str, ino: int, file_type: int,
                keep_replaced: bool) -> Plan:
    """The new name first (replacing a target in one step), then the old name goes,
    then the replaced file loses its link: the file is never missing."""
    ((status, replaced),) = yield [applied(tx.where.of_path(dst), 1, "add_entry", dst, ino,
                                           file_type, True)]
    if status:
        return status, None
    # A failure (ENOENT) means a concurrent change took the old name first; it wins.
    yield [applied(tx.where.of_path(src), 2, "remove_entry", src, ino)]
    if replaced is None or replaced[0] == ino:  # the target already named this file
        return 0, [None, 0]
    left = yield from _drop_link(tx, 3, replaced[0], keep_replaced)
    return 0, [replaced[0], left]


def link(tx: TxContext, path: str, ino: int, file_type: int) -> Plan:
    """Count the link, then add the name; a name that cannot be added takes the count back."""
    owner = tx.where.of_inode(ino)
    ((status, _),) = yield [applied(owner, 1, "adjust", ino, 1, False, False)]
    if status:
        return status, None
    ((status, _),) = yield [applied(tx.where.of_path(path), 2, "add_entry", path, ino,
                                    file_type, False)]
    if status:
        yield [applied(owner, 3, "adjust", ino, -1, False, False)]
        return status, None
    return 0, None


def unlink(tx: TxContext, path: str, keep_inode: bool, parent_ino: int, chunked: bool) -> Plan:
    """Remove the name; with its last link (and no descriptor keeping it) the file goes."""
    ((status, reply),) = yield [applied(tx.where.of_path(path), 1, "unlink", path, keep_inode,
                                        parent_ino)]
    if status:
        return status, None
    ino, left, parent_touched = reply
    if left < 0:  # the inode lives on another server than the name did
        left = yield from _drop_link(tx, 2, ino, keep_inode, chunked)
    else:
        yield from _free_unlinked(tx, ino, left, keep_inode, chunked)
    return 0, [ino, left, parent_touched]


def _drop_link(tx: TxContext, key: int, ino: int, keep: bool,
               chunked: bool = True) -> Generator[list[Step], Any, int]:
    ((status, left),) = yield [applied(tx.where.of_inode(ino), key, "adjust", ino, -1, False,
                                       keep)]
    if status:  # ENOENT: the inode is gone already
        return 0
    yield from _free_unlinked(tx, ino, left, keep, chunked)
    return int(left)


def _free_unlinked(tx: TxContext, ino: int, left: int, keep: bool,
                   chunked: bool) -> Generator[list[Step], Any, None]:
    """The chunk files of a file that lost its last link, unless a descriptor keeps it
    (its client frees them at the last close)."""
    if left <= 0 and not keep and chunked:
        yield [Step(rank, Op.DATA_REMOVE, (ino,)) for rank in tx.where.all_ranks]


def rename_dir(tx: TxContext, src: str, dst: str, target_ino: int, target_nlink: int,
               keep_target: bool, src_parent: int, dst_parent: int) -> Plan:
    """Fence both subtrees everywhere, check the POSIX rules on the listings, decide,
    insert the moved entries at their new servers, unfence removing the old ones,
    then fix the link counts (parents' and a replaced empty directory's)."""
    moved = tx.decision
    if moved is None:
        listings = yield from _fence_everywhere(tx, src, dst)
        if isinstance(listings, int):
            return listings, None
        moved = [entry for src_list, _ in listings for entry in src_list]
        in_target = [e for _, dst_list in listings for e in dst_list if e[0] != dst]
        status = 0
        if not any(entry[0] == src for entry in moved):
            status = errno.ENOENT  # removed before the fence
        elif in_target:
            status = errno.ENOTEMPTY
        if status:
            yield _unfence_everywhere(tx, remove_src=False)
            return status, None
        yield Decide(moved)
    by_rank: dict[int, list[list[Any]]] = {}
    for path, ino, file_type in moved:
        new_path = dst + path[len(src):]
        by_rank.setdefault(tx.where.of_path(new_path), []).append([new_path, ino, file_type])
    # ESTALE from a server means it unfenced already (a re-run after a restart), which
    # it only does after every insert was acknowledged.
    yield [Step(rank, Op.MOVE_INSERT, (tx.txid, entries), answers=frozenset({errno.ESTALE}))
           for rank, entries in by_rank.items()]
    yield _unfence_everywhere(tx, remove_src=True)
    deltas = {src_parent: -1}
    deltas[dst_parent] = deltas.get(dst_parent, 0) + (0 if target_ino else 1)
    steps = [applied(tx.where.of_inode(parent), key, "adjust", parent, delta, True, False)
             for key, (parent, delta) in enumerate(sorted(deltas.items()), start=2)]
    if target_ino:  # an empty directory was replaced
        steps.append(applied(tx.where.of_inode(target_ino), 1, "adjust", target_ino,
                             -target_nlink, False, keep_target))
    yield steps
    return 0, None


def rmdir(tx: TxContext, path: str, ino: int, nlink: int, keep_inode: bool,
          parent_ino: int) -> Plan:
    """Fence the directory everywhere; when nothing is below it, decide, remove its
    entry, drop its links and its parent's link."""
    if tx.decision is None:
        listings = yield from _fence_everywhere(tx, path, path)
        if isinstance(listings, int):
            return listings, None
        held = [entry for src_list, _ in listings for entry in src_list]
        status = 0
        if any(entry[0] != path for entry in held):
            status = errno.ENOTEMPTY
        elif not held:
            status = errno.ENOENT
        if status:
            yield _unfence_everywhere(tx, remove_src=False)
            return status, None
        yield Decide(True)
    yield _unfence_everywhere(tx, remove_src=True)
    yield [applied(tx.where.of_inode(ino), 1, "adjust", ino, -nlink, False, keep_inode),
           applied(tx.where.of_inode(parent_ino), 2, "adjust", parent_ino, -1, True, False)]
    return 0, None


def _fence_everywhere(tx: TxContext, src: str,
                      dst: str) -> Generator[list[Step], Any, list[Any] | int]:
    """Every server's listings of both subtrees, or the errno that stopped the fencing."""
    results = yield [Step(rank, Op.FENCE, (tx.txid, src, dst), answers=frozenset({errno.EAGAIN}))
                     for rank in tx.where.all_ranks]
    failed: list[int] = [status for status, _ in results if status]
    if not failed:
        return [listing for _, listing in results]
    # Release what we hold at once: two renames waiting on each other's half-taken
    # fences would otherwise both stall. EAGAIN goes back to the client, which retries.
    yield _unfence_everywhere(tx, remove_src=False)
    return failed[0]


def _unfence_everywhere(tx: TxContext, remove_src: bool) -> list[Step]:
    return [Step(rank, Op.UNFENCE, (tx.txid, remove_src)) for rank in tx.where.all_ranks]


def forget_everywhere(txid: int, ranks: list[int]) -> Plan:
    """A finished transaction's last batch: its participants drop its step results."""
    yield [Step(rank, Op.TX_FORGET, (txid,)) for rank in ranks]
    return 0, None


PLANS: dict[str, Callable[..., Plan]] = {
    "rename_file": rename_file, "link": link, "unlink": unlink, "rename_dir": rename_dir,
    "rmdir": rmdir, "mkdir": mkdir,
}
