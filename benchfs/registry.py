"""The registry directory through which servers and clients find each other (D9).

Layout of a registry directory::

    cluster.json        the cluster's shape: server count, chunk size, transport
    server-<rank>.json  one per live server: its listener address and pid

Every file is written to a temporary name and renamed into place, so a reader
on a shared file system never sees half a record.
"""

from __future__ import annotations

import dataclasses
import json
import os
import secrets
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from benchfs.config import NO_VALUE, ConfigError, check_fields

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
    # Names this cluster in the hello's proofs (benchfs.auth): a proof made for
    # another cluster sharing the secret is worth nothing here.
    cluster_id: str = field(default_factory=lambda: secrets.token_hex(16))
    # A directory this cluster caches and writes back to (benchfs.tools.backend).
    backend: str | None = None

    def __post_init__(self) -> None:
        check_fields(self)


@dataclass(frozen=True)
class ServerEntry:
    rank: int
    host: str
    port: int
    pid: int
    data_dir: str


def _write_temp(path: Path, data: bytes, mode: int) -> str:
    """A synced temporary file beside ``path`` holding ``data``; its name."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
    except BaseException:
        os.unlink(tmp)
        raise
    return tmp


def atomic_write_json(path: Path, record: object) -> None:
    # Every process of the job reads these, whatever its uid (mkstemp makes 0600).
    tmp = _write_temp(path, json.dumps(record).encode(), 0o644)
    try:
        os.rename(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def atomic_create(path: Path, data: bytes, mode: int) -> bool:
    """Create ``path`` whole with ``data``, unless it exists: whether we created it.

    Linking a finished temporary file into place is atomic and exclusive, so of
    processes racing to create it one wins and no reader sees a partial file.
    """
    tmp = _write_temp(path, data, mode)
    try:
        os.link(tmp, path)
    except FileExistsError:
        return False
    finally:
        os.unlink(tmp)
    return True


def write_cluster_config(registry: Path, config: ClusterConfig) -> None:
    registry.mkdir(parents=True, exist_ok=True)
    atomic_write_json(registry / CLUSTER_FILE, asdict(config))


def create_cluster_config(registry: Path, config: ClusterConfig) -> ClusterConfig:
    """Register ``config`` unless a cluster is registered already: the registered one."""
    registry.mkdir(parents=True, exist_ok=True)
    if atomic_create(registry / CLUSTER_FILE, json.dumps(asdict(config)).encode(), 0o644):
        return config
    return read_cluster_config(registry)


def check_rank(rank: int, servers: int) -> None:
    if not 0 <= rank < servers:
        raise ConfigError("rank", rank, f"must be below the cluster's {servers} servers")


def read_cluster_config(registry: Path) -> ClusterConfig:
    path = registry / CLUSTER_FILE
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise FileNotFoundError(
            f"no benchfs cluster registered in {registry} (missing {CLUSTER_FILE}); "
            "start one with `benchfs cluster up`"
        ) from None
    try:
        raw = json.loads(text)
    except ValueError as exc:
        raise ConfigError(str(path), NO_VALUE, f"is not JSON: {exc}") from None
    return cluster_config_from_json(raw, str(path))


def cluster_config_from_json(raw: Any, where: str = CLUSTER_FILE) -> ClusterConfig:
    """A ClusterConfig from cluster.json's object; ConfigError naming the bad key."""
    if not isinstance(raw, dict):
        raise ConfigError(where, type(raw).__name__, "must hold a JSON object")
    known = {f.name for f in dataclasses.fields(ClusterConfig)}
    for key in raw:
        if key not in known:
            raise ConfigError(f"{where} key {key!r}", raw[key],
                              f"is not a setting; known keys: {', '.join(sorted(known))}")
    for key in ("servers", "cluster_id"):
        if key not in raw:
            raise ConfigError(f"{where} key {key!r}", NO_VALUE, "is required")
    try:
        return ClusterConfig(**raw)
    except ConfigError as error:
        raise error.relabel({error.name: f"{where} key {error.name!r}"}) from None


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
