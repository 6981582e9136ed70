"""What a copy of a tree consists of: a plan of entries, made by one walk of the source.

The plan holds paths relative to the source and destination roots and the attributes to
give each copy, and nothing tied to a connection, so it can be pickled to worker processes
or broadcast to MPI ranks, which then each carry out their share of it.
"""

from __future__ import annotations

import errno
import os
import stat
from dataclasses import dataclass, field

from benchfs.tools.diagnostics import Diagnostics
from benchfs.tools.paths import Location

DIR, FILE, SYMLINK, HARDLINK = "dir", "file", "symlink", "hardlink"


@dataclass(frozen=True)
class Entry:
    rel: bytes  # b"" for the root itself
    kind: str  # DIR, FILE, SYMLINK or HARDLINK (another name of an earlier FILE)
    mode: int = 0
    uid: int = 0
    gid: int = 0
    size: int = 0
    atime_ns: int = 0
    mtime_ns: int = 0
    target: bytes = b""  # a symlink's target; a hard link's first name (its rel)

    @classmethod
    def of(cls, rel: bytes, kind: str, st: os.stat_result, target: bytes = b"") -> Entry:
        return cls(rel, kind, st.st_mode, st.st_uid, st.st_gid, st.st_size, st.st_atime_ns,
                   st.st_mtime_ns, target)


@dataclass
class Plan:
    entries: list[Entry] = field(default_factory=list)


def walk(src: Location, *, recursive: bool, dereference: bool, hard_links: bool,
         diagnostics: Diagnostics) -> Plan:
    """Plan the copy of ``src`` (preorder: a directory comes before its contents).

    ``dereference``: copy what symlinks point to (cp without -r), else the links.
    ``hard_links``: names of one inode after the first become HARDLINK entries.
    """
    plan = Plan()
    first_names: dict[tuple[int, int], bytes] = {}

    def visit(location: Location, rel: bytes, st: os.stat_result) -> None:
        if stat.S_ISDIR(st.st_mode):
            if not recursive:
                diagnostics.fail(f"-r not specified; omitting directory '{location.text}'")
                return
            plan.entries.append(Entry.of(rel, DIR, st))
            try:
                with location.fs.scandir(location.path) as listing:
                    names = sorted(entry.name for entry in listing)
            except OSError as error:
                diagnostics.os_error("cannot access", location, error)
                return
            for name in names:
                child = location.join(name)
                child_rel = rel + b"/" + name if rel else name
                try:
                    child_st = location.fs.lstat(child.path)
                except OSError as error:
                    diagnostics.os_error("cannot stat", child, error)
                    continue
                visit(child, child_rel, child_st)
        elif stat.S_ISLNK(st.st_mode):
            try:
                target = os.fsencode(location.fs.readlink(location.path))
            except OSError as error:
                diagnostics.os_error("cannot read symbolic link", location, error)
                return
            plan.entries.append(Entry.of(rel, SYMLINK, st, target))
        elif stat.S_ISREG(st.st_mode):
            key = (st.st_dev, st.st_ino)
            if hard_links and st.st_nlink > 1 and key in first_names:
                plan.entries.append(Entry.of(rel, HARDLINK, st, first_names[key]))
                return
            if hard_links and st.st_nlink > 1:
                first_names[key] = rel
            plan.entries.append(Entry.of(rel, FILE, st))
        else:
            # FIFOs, sockets and devices are kernel objects of one node: benchfs has none.
            unsupported = OSError(errno.EOPNOTSUPP, os.strerror(errno.EOPNOTSUPP))
            diagnostics.os_error("cannot copy special file", location, unsupported)

    try:
        top = src.fs.stat(src.path) if dereference else src.fs.lstat(src.path)
    except OSError as error:
        diagnostics.os_error("cannot stat", src, error)
        return plan
    visit(src, b"", top)
    return plan

