"""The server process: one engine loop, the metadata store, the registry entry.

The loop sleeps inside the engine when idle (D1). Python only sees batches of
events for metadata requests, and the replies to this server's own requests of the
transactions it coordinates (benchfs.server.transactions); bulk reads and writes
never come up here.
"""

from __future__ import annotations

import errno
import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

from loguru import logger

from benchfs._native.engine import Engine, EngineConfig, Event, EventKind
from benchfs.registry import (
    DEFAULT_CHUNK_SIZE,
    ClusterConfig,
    ServerEntry,
    publish_server,
    read_cluster_config,
    withdraw_server,
    write_cluster_config,
)
from benchfs.server.faults import Faults
from benchfs.server.handlers import RequestHandlers
from benchfs.server.health import DEFAULT_FAILURE_TIMEOUT, HealthMonitor
from benchfs.server.metadata import MetadataStore
from benchfs.server.plans import Placement
from benchfs.server.transactions import Coordinator, Peers
from benchfs.server.wal import WALError, WriteAheadLog
from benchfs.settings import DEFAULT_DIRECT_MIN, DEFAULT_SPIN_US

# How long one loop turn may sleep: the bound on noticing a stop request when
# a signal arrives between two waits.
_WAKE_MS = 1000
# After a failed compaction (a full disk), the log grows on for this long before
# the next try: each try rewrites the whole state.
_COMPACT_RETRY_S = 30.0


@dataclass(frozen=True)
class ServerOptions:
    data_dir: Path
    registry: Path
    rank: int = 0
    servers: int = 1
    host: str = "127.0.0.1"
    port: int = 0
    chunk_size: int | None = None
    spin_us: int = DEFAULT_SPIN_US
    o_direct: bool = False
    direct_min: int = DEFAULT_DIRECT_MIN
    failure_timeout: float = DEFAULT_FAILURE_TIMEOUT  # a silent peer is down after this


class Server:
    def __init__(self, options: ServerOptions) -> None:
        self.options = options
        self.cluster = self._cluster_config()
        options.data_dir.mkdir(parents=True, exist_ok=True)
        self.engine = Engine(EngineConfig(
            listen_host=options.host, listen_port=options.port,
            data_dir=str(options.data_dir), spin_us=options.spin_us,
            pool_buf_size=self.cluster.chunk_size, o_direct=options.o_direct,
            direct_min=options.direct_min,
            err_mode_peer=self.cluster.peer_errors,
        ))
        peers = Peers(self.engine, options.registry)
        self.health = HealthMonitor(options.rank, self.engine, options.registry,
                                    self.cluster.servers, peers, options.failure_timeout)
        where = Placement(self.health.view.table)
        self.health.on_view = lambda view: where.adopt(view.table)
        self.wal = WriteAheadLog(options.data_dir / "meta")
        self.store = MetadataStore(options.rank, where.of_path("/") == options.rank,
                                   journal=self.wal.append)
        replayed = 0
        for record in self.wal.replay():
            self.store.apply(record)
            replayed += 1
        if replayed:
            logger.info("recovered metadata: {} log records replayed", replayed)
        self.handlers = RequestHandlers(self.store, self.engine, str(options.data_dir),
                                        lambda: self.wal.short_of_space)
        self.faults = Faults.from_env(self.wal.flush)
        self.coordinator = Coordinator(options.rank, where, self.store, self.handlers,
                                       self.engine, peers, self.faults)
        self.coordinator.resume()
        self._stopping = False
        self._next_compaction = 0.0  # monotonic time before which compaction waits

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
        self.health.refute_down()
        logger.info("server {} listening on {}:{} (data in {})",
                    entry.rank, entry.host, entry.port, entry.data_dir)
        try:
            while not self._stopping:
                wait_ms = self.health.wait_ms(self.coordinator.wait_ms(_WAKE_MS))
                self._serve_batch(self.engine.progress(wait_ms))
        finally:
            withdraw_server(self.options.registry, self.options.rank, os.getpid())
            self.engine.close()
            self.wal.close()
            logger.info("server {} stopped", self.options.rank)

    def _serve_batch(self, events: list[Event]) -> None:
        """Handle a batch, make its metadata changes survive a crash, then reply.

        The log is written once per batch (group commit) before any reply leaves:
        a client never sees a change the server could forget by dying (kill -9
        leaves the page cache). A client's fsync in the batch makes it an fdatasync.
        Transactions this server coordinates send their steps to other servers only
        after the commit, so their intent records are in the log first.
        """
        replies = []
        for event in events:
            if event.kind == EventKind.REQUEST:
                body = event.payload or b""
                if event.opcode in Coordinator.OPS:
                    self.coordinator.begin(event.req_id, event.opcode, body)
                elif event.opcode in HealthMonitor.OPS:
                    self.health.on_request(event.req_id, event.opcode, body)
                else:
                    replies.append((event.req_id, *self.handlers.handle(event.opcode, body)))
                    self.faults.after_request(event.opcode, body)
            elif event.kind == EventKind.REPLY:
                if not self.health.on_reply(event):
                    self.coordinator.on_reply(event)
            else:
                self._note(event)
        self.health.follow()
        self.health.tick()
        self.coordinator.tick()
        replies += self.coordinator.take_replies() + self.health.take_replies()
        if not (events or replies or self.coordinator.sends_waiting):
            return
        failed = self._commit()
        if failed:
            replies = [(handle, failed, b"") for handle, _, _ in replies]
        for handle, status, body in replies:
            self.engine.reply(handle, status, body)
        if failed:
            return  # steps of transactions wait for a commit that holds their intents
        self.coordinator.send_queued()
        if time.monotonic() >= self._next_compaction and self.wal.should_compact():
            self._compact()

    def _commit(self) -> int:
        """Write the batch's log records (and sync them when a client fsync asked):
        0, or the errno every reply of the batch carries instead.

        On a failed write (ENOSPC) the records stay buffered for the next flush;
        until one succeeds no request of this batch may be acknowledged. A log
        broken by a failed fsync answers EIO until the server restarts.
        """
        try:
            if self.handlers.sync_requested:
                self.wal.sync()
            else:
                self.wal.flush()
        except (OSError, WALError) as exc:
            logger.error("metadata log write failed: {}", exc)
            return getattr(exc, "errno", None) or errno.EIO
        finally:
            self.handlers.sync_requested = False
        return 0

    def _compact(self) -> None:
        """A failure leaves the old generation in use; it is tried again later."""
        try:
            self.wal.compact(self.store.snapshot_records())
        except (OSError, WALError) as exc:
            logger.error("metadata log compaction failed, next try in {:.0f} s: {}",
                         _COMPACT_RETRY_S, exc)
            self._next_compaction = time.monotonic() + _COMPACT_RETRY_S

    def _note(self, event: Event) -> None:
        if event.kind == EventKind.MALFORMED:
            logger.warning("dropped a malformed frame (reason {}) from peer {}",
                           event.status, event.conn)
        elif event.kind == EventKind.CONN_ERROR:
            logger.debug("peer {} went away", event.conn)
            self.coordinator.on_conn_error(event.conn)
