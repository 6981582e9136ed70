"""A client for test_transactions that is killed in the middle of its operation."""

from __future__ import annotations

import sys

import benchfs
from benchfs.settings import ClientSettings

if __name__ == "__main__":
    registry, src, dst = sys.argv[1:4]
    with benchfs.connect(registry, ClientSettings(timeout=30.0, metadata_ttl=0.0)) as client:
        client.stat(src)  # connected and resolved: what is left is the rename itself
        print("ready", flush=True)
        client.rename(src, dst)
        print("renamed", flush=True)
