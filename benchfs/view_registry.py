"""Views in the registry directory: ``view-<epoch>.json``, each created exactly once.

A view is committed by creating its file exclusively: the record is written to a
temporary name and fsynced, then hard-linked to ``view-<epoch>.json``, which fails
when that name exists. So of two proposers of the same epoch exactly one wins, and
a reader never sees half a file. Older views are pruned a while after a newer one
is committed; a reader that loses a race with pruning just reads again.

Epoch 1 needs no file: it is ``initial_view(servers)``, which every process computes
from cluster.json alike (a cluster whose membership never changed has no view file).
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from pathlib import Path

from benchfs.core.views import View, initial_view

_VIEW_NAME = re.compile(r"view-(\d+)\.json")
# Views kept behind the newest: a client that read a directory listing just before
# a commit still finds the file it listed.
KEEP_VIEWS = 8


def view_file(registry: Path, epoch: int) -> Path:
    return registry / f"view-{epoch}.json"


def commit_view(registry: Path, view: View) -> bool:
    """Create ``view-<epoch>.json``; False when another proposer created it first."""
    fd, tmp = tempfile.mkstemp(dir=registry, prefix=f".view-{view.epoch}.")
    try:
        os.fchmod(fd, 0o644)
        with os.fdopen(fd, "w") as out:
            json.dump(view.to_json(), out)
            out.flush()
            os.fsync(out.fileno())
        try:
            os.link(tmp, view_file(registry, view.epoch))
        except FileExistsError:
            return False
    finally:
        os.unlink(tmp)
    _sync_dir(registry)
    _prune(registry, view.epoch - KEEP_VIEWS)
    return True


def _sync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _epochs(registry: Path) -> list[int]:
    found = []
    for name in os.listdir(registry):
        match = _VIEW_NAME.fullmatch(name)
        if match:
            found.append(int(match.group(1)))
    return found


def _prune(registry: Path, below: int) -> None:
    for epoch in _epochs(registry):
        if epoch < below:
            view_file(registry, epoch).unlink(missing_ok=True)


def latest_epoch(registry: Path) -> int:
    """The newest committed epoch (1 when no view was ever committed)."""
    return max(_epochs(registry), default=1)


def read_view(registry: Path, epoch: int) -> View:
    return View.from_json(json.loads(view_file(registry, epoch).read_text()))


def current_view(registry: Path, servers: int) -> View:
    """The newest committed view, or epoch 1 of a cluster of ``servers``."""
    while True:
        epoch = latest_epoch(registry)
        if epoch == 1 and not view_file(registry, 1).exists():
            return initial_view(servers)
        try:
            return read_view(registry, epoch)
        except FileNotFoundError:
            continue  # pruned between the listing and the read: list again


def clear_views(registry: Path) -> None:
    """Remove every view: a new cluster starts at epoch 1 in a reused registry."""
    _prune(registry, 1 << 62)
