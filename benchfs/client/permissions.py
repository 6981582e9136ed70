"""POSIX permission checks for the caller's identity, as Linux applies them.

The checks run in the client, which knows the calling process's uid, gid and
supplementary groups; servers trust their clients (an HPC job's own processes)
and the cluster can turn enforcement off for trusted scratch use.
"""

from __future__ import annotations

import os
import stat

from benchfs.core.records import Inode

READ, WRITE, EXECUTE = 4, 2, 1


class Credentials:
    """A process's identity for permission checks. The supplementary groups are
    read when first needed: most checks are decided by the uid alone."""

    __slots__ = ("uid", "gid", "is_root", "_groups")

    def __init__(self, uid: int, gid: int, groups: frozenset[int] | None = None) -> None:
        self.uid = uid
        self.gid = gid
        self.is_root = uid == 0
        self._groups = groups

    @classmethod
    def effective(cls) -> Credentials:
        return cls(os.geteuid(), os.getegid())

    @classmethod
    def real(cls) -> Credentials:
        return cls(os.getuid(), os.getgid())

    @property
    def groups(self) -> frozenset[int]:
        if self._groups is None:
            self._groups = frozenset(os.getgroups()) | {self.gid}
        return self._groups

    def in_group(self, gid: int) -> bool:
        return gid == self.gid or gid in self.groups


def permitted(inode: Inode, creds: Credentials, want: int) -> bool:
    """Whether ``creds`` may read/write/execute (bit mask ``want``) ``inode``."""
    if creds.is_root:
        # root may do anything but execute a file with no execute bit at all.
        if want & EXECUTE and not stat.S_ISDIR(inode.mode):
            return bool(inode.mode & 0o111)
        return True
    if creds.uid == inode.uid:
        granted = (inode.mode >> 6) & 7
    elif creds.in_group(inode.gid):
        granted = (inode.mode >> 3) & 7
    else:
        granted = inode.mode & 7
    return (want & granted) == want


def may_delete_from(directory: Inode, victim: Inode, creds: Credentials) -> bool:
    """The sticky-bit rule: in a sticky directory only owners (or root) delete."""
    if not directory.mode & stat.S_ISVTX or creds.is_root:
        return True
    return creds.uid in (directory.uid, victim.uid)
