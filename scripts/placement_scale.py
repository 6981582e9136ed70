"""Placement at scale, simulated: the partition table for many servers.

Prints, for ``--servers`` simulated servers (1 000 by default):

- ownership: the busiest server's partitions over the mean (exact, from the table);
- chunks: ``--chunks`` real chunk keys (inode, index) hashed exactly as the client
  hashes them, counted per partition and so per server: the busiest over the mean;
- adding one server: the fraction of partitions (so of keys) that move, against
  1.1/(N+1); removing one: whether only its partitions move;
- the view file's size, the time to compute a change and to load the view as a
  client does (read the file, decode the table).

``--json PATH`` writes the figures for tests (tests/unit/test_partitions.py runs
this under ``-m slow``). Usage: python scripts/placement_scale.py [--chunks 10000000]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from array import array
from pathlib import Path

from benchfs.core.partitions import (
    add_server,
    moved_partitions,
    partition_of_hash,
    remove_server,
)
from benchfs.core.placement import chunk_key, key_hash
from benchfs.core.views import View, initial_view
from benchfs.view_registry import commit_view, current_view, view_file

CHUNKS_PER_FILE = 1000


def chunk_counts(chunks: int, bits: int) -> array[int]:
    """Chunks per partition over ``chunks`` keys: files of 1 000 chunks each."""
    counts = array("Q", bytes(8 << bits))
    for n in range(chunks):
        ino, index = divmod(n, CHUNKS_PER_FILE)
        counts[partition_of_hash(key_hash(chunk_key(ino + 1, index)), bits)] += 1
    return counts


def measure(servers: int, chunks: int) -> dict[str, float]:
    view = initial_view(servers)
    table = view.table
    figures: dict[str, float] = {"servers": servers, "partitions": table.partitions,
                                 "chunks": chunks}
    load = table.load()
    mean = table.partitions / servers
    figures["ownership_max_over_mean"] = max(load.values()) / mean

    per_partition = chunk_counts(chunks, table.bits)
    per_server: dict[int, int] = {}
    for partition, count in enumerate(per_partition):
        owner = table.primaries[partition]
        per_server[owner] = per_server.get(owner, 0) + count
    figures["chunks_max_over_mean"] = max(per_server.values()) / (chunks / servers)

    started = time.perf_counter()
    grown = add_server(table, servers)
    figures["add_seconds"] = time.perf_counter() - started
    moved = moved_partitions(table, grown)
    figures["add_moved_fraction"] = len(moved) / table.partitions
    figures["add_moved_chunk_fraction"] = sum(per_partition[p] for p in moved) / chunks
    figures["add_bound"] = 1.1 / (servers + 1)
    figures["add_only_onto_newcomer"] = float(all(grown.primaries[p] == servers
                                                  for p in moved))

    started = time.perf_counter()
    shrunk = remove_server(table, servers // 2)
    figures["remove_seconds"] = time.perf_counter() - started
    gone = moved_partitions(table, shrunk)
    figures["remove_moved_fraction"] = len(gone) / table.partitions
    figures["remove_only_its_share"] = float(
        set(gone) == {p for p in range(table.partitions) if table.primaries[p] == servers // 2})

    with tempfile.TemporaryDirectory() as registry:
        # A view after a change: its table no longer round-robin, so it compresses
        # as a real one does.
        changed = View(view.epoch + 1, view.members, shrunk)
        commit_view(Path(registry), changed)
        figures["view_file_bytes"] = view_file(Path(registry), changed.epoch).stat().st_size
        started = time.perf_counter()
        loaded = current_view(Path(registry), servers)
        figures["view_load_seconds"] = time.perf_counter() - started
        assert loaded == changed
    figures["table_bytes_in_memory"] = sum(len(s) * s.itemsize for s in table.slots)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--servers", type=int, default=1000)
    parser.add_argument("--chunks", type=int, default=10_000_000)
    parser.add_argument("--json", dest="json_path")
    args = parser.parse_args()
    figures = measure(args.servers, args.chunks)
    for name, value in figures.items():
        print(f"{name:28} {value:.6g}")
    if args.json_path:
        Path(args.json_path).write_text(json.dumps(figures))


if __name__ == "__main__":
    main()
