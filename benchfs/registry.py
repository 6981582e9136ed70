"""The registry directory through which servers and clients find each other (D9).

Layout of a registry directory::

    cluster.json        the cluster's shape: server count, chunk size, transport
    server-<rank>.json  one per live server: its listener address and pid

Every file is written to a temporary name and renamed into place, so a reader
on a shared file system never sees half a record.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

DEFAULT_CHUNK_SIZE = 4 * 1024 * 1024
CLUSTER_FILE = "cluster.json"


@dataclass(frozen=True)
class ClusterConfig:
    """Settings every server and client of one cluster must agree on."""

    servers: int
    chunk_size: int = DEFAULT_CHUNK_SIZE
    # UCX settings the cluster was started with; clients adopt them as defaults
    # so that `import benchfs` needs no environment of its own.
    ucx_env: dict[str, str] = field(default_factory=dict)
    # Enforce mode bits and ownership for the calling process (off: trusted scratch).
    permissions: bool = True
    # UCX peer error handling on every endpoint: a dead peer fails its requests at
    # once, but UCX then never uses shared memory. Off, the same node talks over
    # shared memory (about 3x lower latency here) and a dead peer is noticed by its
    # TCP connection or, failing that, the caller's deadline.
    peer_errors: bool = False


@dataclass(frozen=True)
class ServerEntry:
    rank: int
    host: str
    port: int
    pid: int
    data_dir: str


def atomic_write_json(path: Path, record: object) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        # Every process of the job reads these, whatever its uid (mkstemp makes 0600).
        os.fchmod(fd, 0o644)
        with os.fdopen(fd, "w") as out:
            json.dump(record, out)
            out.flush()
            os.fsync(out.fileno())
        os.rename(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def write_cluster_config(registry: Path, config: ClusterConfig) -> None:
    registry.mkdir(parents=True, exist_ok=True)
    atomic_write_json(registry / CLUSTER_FILE, asdict(config))


def read_cluster_config(registry: Path) -> ClusterConfig:
    try:
        raw = json.loads((registry / CLUSTER_FILE).read_text())
    except FileNotFoundError:
        raise FileNotFoundError(
            f"no benchfs cluster registered in {registry} (missing {CLUSTER_FILE}); "
            "start one with `benchfs cluster up`"
        ) from None
    return ClusterConfig(
        servers=int(raw["servers"]),
        chunk_size=int(raw.get("chunk_size", DEFAULT_CHUNK_SIZE)),
        ucx_env={str(k): str(v) for k, v in raw.get("ucx_env", {}).items()},
        permissions=bool(raw.get("permissions", True)),
        peer_errors=bool(raw.get("peer_errors", False)),
    )


def server_file(registry: Path, rank: int) -> Path:
    return registry / f"server-{rank}.json"


def publish_server(registry: Path, entry: ServerEntry) -> None:
    atomic_write_json(server_file(registry, entry.rank), asdict(entry))


def withdraw_server(registry: Path, rank: int, pid: int) -> None:
    """Remove our entry, unless a restarted server already replaced it."""
    entry = read_server(registry, rank)
    if entry is not None and entry.pid == pid:
        server_file(registry, rank).unlink(missing_ok=True)


def read_server(registry: Path, rank: int) -> ServerEntry | None:
    try:
        raw = json.loads(server_file(registry, rank).read_text())
    except FileNotFoundError:
        return None
    return ServerEntry(**raw)


def read_servers(registry: Path, count: int) -> dict[int, ServerEntry]:
    found = {}
    for rank in range(count):
        entry = read_server(registry, rank)
        if entry is not None:
            found[rank] = entry
    return found
