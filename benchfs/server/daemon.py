"""The server process: one engine loop, the metadata store, the registry entry.

The loop sleeps inside the engine when idle (D1). Python only sees batches of
events for metadata requests; bulk reads and writes never come up here.
"""

from __future__ import annotations

import os
import signal
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

from loguru import logger

from benchfs._native.engine import Engine, EngineConfig, Event, EventKind
from benchfs.core.placement import PlacementRing
from benchfs.registry import (
    DEFAULT_CHUNK_SIZE,
    ClusterConfig,
    ServerEntry,
    publish_server,
    read_cluster_config,
    withdraw_server,
    write_cluster_config,
)
from benchfs.server.handlers import RequestHandlers
from benchfs.server.metadata import MetadataStore

# How long one loop turn may sleep: the bound on noticing a stop request when
# a signal arrives between two waits.
_WAKE_MS = 1000


@dataclass(frozen=True)
class ServerOptions:
    data_dir: Path
    registry: Path
    rank: int = 0
    servers: int = 1
    host: str = "127.0.0.1"
    port: int = 0
    chunk_size: int | None = None
    spin_us: int = 20
    o_direct: bool = False


class Server:
    def __init__(self, options: ServerOptions) -> None:
        self.options = options
        self.cluster = self._cluster_config()
        ring = PlacementRing([str(rank) for rank in range(self.cluster.servers)])
        options.data_dir.mkdir(parents=True, exist_ok=True)
        self.engine = Engine(EngineConfig(
            listen_host=options.host, listen_port=options.port,
            data_dir=str(options.data_dir), spin_us=options.spin_us,
            pool_buf_size=self.cluster.chunk_size, o_direct=options.o_direct,
        ))
        self.store = MetadataStore(options.rank, ring.server_for_path("/") == str(options.rank))
        self.handlers = RequestHandlers(self.store, self.engine, str(options.data_dir))
        self._stopping = False

    def _cluster_config(self) -> ClusterConfig:
        """The cluster's shape: from the registry, or created by the first server."""
        registry = self.options.registry
        try:
            config = read_cluster_config(registry)
        except FileNotFoundError:
            config = ClusterConfig(
                servers=self.options.servers,
                chunk_size=self.options.chunk_size or DEFAULT_CHUNK_SIZE,
            )
            write_cluster_config(registry, config)
        if not 0 <= self.options.rank < config.servers:
            raise ValueError(f"rank {self.options.rank} outside a cluster of {config.servers}")
        return config

    def _request_stop(self, signum: int, _frame: FrameType | None) -> None:
        logger.info("received {}, shutting down", signal.Signals(signum).name)
        self._stopping = True

    def run(self) -> None:
        signal.signal(signal.SIGTERM, self._request_stop)
        signal.signal(signal.SIGINT, self._request_stop)
        entry = ServerEntry(
            rank=self.options.rank, host=self.options.host, port=self.engine.listen_port,
            pid=os.getpid(), data_dir=str(self.options.data_dir),
        )
        publish_server(self.options.registry, entry)
        logger.info("server {} listening on {}:{} (data in {})",
                    entry.rank, entry.host, entry.port, entry.data_dir)
        try:
            while not self._stopping:
                for event in self.engine.progress(_WAKE_MS):
                    self._dispatch(event)
        finally:
            withdraw_server(self.options.registry, self.options.rank, os.getpid())
            self.engine.close()
            logger.info("server {} stopped", self.options.rank)

    def _dispatch(self, event: Event) -> None:
        if event.kind == EventKind.REQUEST:
            status, body = self.handlers.handle(event.opcode, event.payload or b"")
            self.engine.reply(event.req_id, status, body)
        elif event.kind == EventKind.MALFORMED:
            logger.warning("dropped a malformed frame (reason {}) from peer {}",
                           event.status, event.conn)
        elif event.kind == EventKind.CONN_ERROR:
            logger.debug("peer {} went away", event.conn)
