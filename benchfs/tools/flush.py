"""``benchfs flush``: write back to the backend directory what changed in benchfs (see
benchfs.tools.backend for what is and is not written back)."""

from __future__ import annotations

import os

from benchfs.tools.backend import NO_READ_THROUGH, backend_of
from benchfs.tools.copy import COMPLETE, archive_options
from benchfs.tools.diagnostics import Diagnostics
from benchfs.tools.paths import Location, Resolver
from benchfs.tools.stage import prepare, run_local


def flush(registry: str | None, workers: int = 1) -> int:
    """Copy back to the backend what changed in benchfs; the exit code."""
    diagnostics = Diagnostics("benchfs flush")
    os.environ[NO_READ_THROUGH] = "1"  # this process's client and its workers'
    with Resolver(registry) as resolver:
        client = resolver.client
        backend = backend_of(client.registry)
        if backend is None:
            diagnostics.fail(f"the cluster of {client.registry} has no backend directory")
            return 1
        options = archive_options(skip=COMPLETE, fsync=True, via_temporary=True)
        # Entry by entry of the root, so DIR itself keeps its own mode and times.
        for name in sorted(client.listdir(b"/")):
            src = Location(client, b"/" + name, True, b"bfs:/" + name)
            dst = resolver.locate(os.path.join(os.fsencode(backend), name))
            job = prepare("benchfs flush", src, dst, options, registry, diagnostics,
                          split_at=None)
            run_local(job, workers, resolver, diagnostics)
    return 1 if diagnostics.count else 0
