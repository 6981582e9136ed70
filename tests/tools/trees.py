"""An awkward tree to copy, and a snapshot of a tree that two copies must share."""

from __future__ import annotations

import os
import random
import stat
from pathlib import Path

CHUNK = 64 << 10

# Names a shell script would trip over: spaces, a newline, bytes that are not UTF-8.
ODD_NAMES = [b"with space", b"new\nline", b"bad\xff\xfename", b"-dash", b"*star?"]


def make_awkward_tree(root: Path, seed: int = 7) -> Path:
    rng = random.Random(seed)
    base = os.fsencode(root)
    os.mkdir(base)

    def write(rel: bytes, data: bytes, mode: int = 0o644) -> None:
        path = os.path.join(base, rel)
        with open(path, "wb") as handle:
            handle.write(data)
        os.chmod(path, mode)

    for name in ODD_NAMES:
        write(name, name * 3)
    write(b"empty-file", b"")
    write(b"several-chunks", rng.randbytes(5 * CHUNK + 1234))
    write(b"exactly-one-chunk", rng.randbytes(CHUNK))
    write(b"read-only", b"do not touch\n", 0o444)
    write(b"executable", b"#!/bin/sh\n", 0o755)
    os.mkdir(os.path.join(base, b"empty dir"))
    os.makedirs(os.path.join(base, b"sub\xff/inner"))
    write(b"sub\xff/inner/leaf", b"leaf")
    # A sparse file: data, a hole of several chunks, data, and a trailing hole.
    with open(os.path.join(base, b"sparse"), "wb") as handle:
        handle.write(rng.randbytes(1000))
        handle.seek(6 * CHUNK)
        handle.write(rng.randbytes(CHUNK + 7))
        handle.truncate(12 * CHUNK)
    # Hard links, also across directories; symlinks relative, absolute, dangling, to a dir.
    os.link(os.path.join(base, b"several-chunks"), os.path.join(base, b"hard link"))
    os.link(os.path.join(base, b"several-chunks"), os.path.join(base, b"sub\xff/hard"))
    os.symlink(b"several-chunks", os.path.join(base, b"rel-link"))
    os.symlink(b"/nowhere/at/all", os.path.join(base, b"dangling"))
    os.symlink(b"sub\xff", os.path.join(base, b"dir-link"))
    deep = base
    for level in range(24):
        deep = os.path.join(deep, b"d%d" % level)
        os.mkdir(deep)
    write(os.path.relpath(os.path.join(deep, b"bottom"), base), b"bottom")
    os.mkdir(os.path.join(base, b"read-only dir"))
    write(b"read-only dir/inside", b"in")
    os.chmod(os.path.join(base, b"read-only dir"), 0o555)
    # Distinct past times, whole seconds plus nanoseconds, deepest first so that
    # setting a directory's time is not undone by touching its contents.
    entries = []
    for directory, dirs, files in os.walk(base):
        entries += [os.path.join(directory, name) for name in dirs + files]
    for index, path in enumerate(sorted(entries, key=len, reverse=True)):
        moment = 1_500_000_000_000_000_000 + index * 1_000_003_007
        os.utime(path, ns=(moment, moment), follow_symlinks=False)
    return root


def snapshot(root: Path) -> dict[bytes, tuple[object, ...]]:
    """rel path -> (type, mode, mtime s, size, contents or target, link group).

    Times to the second (the issue's "times to the second"); directories' sizes and
    link counts are the file system's own and left out."""
    base = os.fsencode(root)
    names: dict[int, list[bytes]] = {}
    result: dict[bytes, tuple[object, ...]] = {}
    for directory, dirs, files in os.walk(base):
        for name in dirs + files:
            path = os.path.join(directory, name)
            rel = os.path.relpath(path, base)
            st = os.lstat(path)
            kind = stat.S_IFMT(st.st_mode)
            if stat.S_ISLNK(st.st_mode):
                body: object = os.readlink(path)
            elif stat.S_ISREG(st.st_mode):
                with open(path, "rb") as handle:
                    body = handle.read()
            else:
                body = None
            names.setdefault(st.st_ino, []).append(rel)
            size = st.st_size if not stat.S_ISDIR(st.st_mode) else None
            result[rel] = (kind, stat.S_IMODE(st.st_mode), st.st_mtime_ns // 10**9, size,
                           body, st.st_ino)
    # The link structure: each name's group is the smallest name of its inode.
    first = {ino: min(rels) for ino, rels in names.items()}
    return {rel: (*fields[:-1], first[fields[-1]] if fields[0] == stat.S_IFREG else rel)
            for rel, fields in result.items()}


def allocated(path: Path | bytes) -> int:
    return os.stat(path).st_blocks * 512
