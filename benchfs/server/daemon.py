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
from benchfs.auth import create_secret, load_secret
from benchfs.auth.gate import Gate
from benchfs.auth.peer import PeerHellos
from benchfs.config import ConfigError, check_fields
from benchfs.core.wire import Op
from benchfs.metrics.prometheus import serve as serve_prometheus
from benchfs.metrics.server import ServerMetrics
from benchfs.registry import (
    DEFAULT_CHUNK_SIZE,
    ClusterConfig,
    ServerEntry,
    check_rank,
    create_cluster_config,
    publish_server,
    read_cluster_config,
    withdraw_server,
)
from benchfs.server.faults import Faults
from benchfs.server.handlers import RequestHandlers
from benchfs.server.health import DEFAULT_FAILURE_TIMEOUT, HealthMonitor
from benchfs.server.metadata import MetadataStore
from benchfs.server.plans import Placement
from benchfs.server.throttle import ThrottledWarning
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
    insecure: bool = False  # accept a registry secret others can read (benchfs.auth)
    metrics_port: int | None = None  # Prometheus text on 127.0.0.1:port (benchfs.metrics)
    metrics: bool = True  # count requests (off: to measure what counting costs)

    def __post_init__(self) -> None:
        check_fields(self)
    failure_timeout: float = DEFAULT_FAILURE_TIMEOUT  # a silent peer is down after this


class Server:
    def __init__(self, options: ServerOptions) -> None:
        self.options = options
        self.cluster = self._cluster_config()
        # The first server of a cluster creates its secret (benchfs.auth).
        create_secret(options.registry)
        secret = load_secret(options.registry, self.cluster.cluster_id, options.insecure)
        options.data_dir.mkdir(parents=True, exist_ok=True)
        self.engine = Engine(EngineConfig(
            listen_host=options.host, listen_port=options.port,
            data_dir=str(options.data_dir), spin_us=options.spin_us,
            pool_buf_size=self.cluster.chunk_size, o_direct=options.o_direct,
            direct_min=options.direct_min,
            err_mode_peer=self.cluster.peer_errors, require_auth=True,
        ))
        self.gate = Gate(self.engine, secret)
        self.metrics = ServerMetrics(options.rank, self.engine, options.metrics)
        self.metrics.extra["hellos_refused"] = lambda: self.gate.refused
        peers = Peers(self.engine, options.registry, PeerHellos(self.engine, secret))
        self.health = HealthMonitor(options.rank, self.engine, options.registry,
                                    self.cluster.servers, peers, options.failure_timeout)
        where = Placement(self.health.view.table)
        self.health.on_view = lambda view: where.adopt(view.table)
        self.wal = WriteAheadLog(options.data_dir / "meta")
        self.store = MetadataStore(options.rank, where.of_path("/") == options.rank,
                                   journal=self.metrics.journaling(self.wal.append))
        replayed = 0
        for record in self.wal.replay():
            self.store.apply(record)
            replayed += 1
        if replayed:
            logger.info("recovered metadata: {} log records replayed", replayed)
        self.handlers = RequestHandlers(self.store, self.engine, str(options.data_dir),
                                        lambda: self.wal.short_of_space)
        self.handlers.serve(Op.STATS, self.metrics.snapshot)
        self.faults = Faults.from_env(self.wal.flush)
        self.coordinator = Coordinator(options.rank, where, self.store, self.handlers,
                                       self.engine, peers, self.faults)
        self.coordinator.resume()
        self._stopping = False
        self._malformed_warning = ThrottledWarning()
        self._next_compaction = 0.0  # monotonic time before which compaction waits

    def _cluster_config(self) -> ClusterConfig:
        """The cluster's shape: from the registry, or created by the first server."""
        options = self.options
        try:
            config = read_cluster_config(options.registry)
        except FileNotFoundError:
            config = ClusterConfig(servers=options.servers,
                                   chunk_size=options.chunk_size or DEFAULT_CHUNK_SIZE)
            check_rank(options.rank, config.servers)
            # Ranks started together race to create it: one wins, all use its record.
            config = create_cluster_config(options.registry, config)
        check_rank(options.rank, config.servers)
        if options.chunk_size is not None and options.chunk_size != config.chunk_size:
            raise ConfigError("chunk_size", options.chunk_size,
                              f"differs from the registry's chunk_size {config.chunk_size}")
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
        if self.options.metrics_port is not None:
            self._serve_metrics(self.options.metrics_port)
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

    def _serve_metrics(self, port: int) -> None:
        try:
            serve_prometheus(port, lambda: self.metrics.published)
        except OSError as exc:
            self.engine.close()
            self.wal.close()
            raise ConfigError("metrics_port", port, f"cannot be served: {exc.strerror}") from None

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
                if event.opcode in Gate.OPS:
                    self.gate.handle(event)
                    continue
                self.metrics.arrived(event.req_id, event.opcode, len(body))
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
        self.metrics.publish_due()
        if not (events or replies or self.coordinator.sends_waiting):
            return
        failed = self._commit()
        if failed:
            replies = [(handle, failed, b"") for handle, _, _ in replies]
        for handle, status, body in replies:
            self.engine.reply(handle, status, body)
            self.metrics.replied(handle, status, len(body))
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
                started = time.perf_counter_ns()
                self.wal.sync()
                self.metrics.committed(time.perf_counter_ns() - started)
            else:
                self.wal.flush()
                self.metrics.committed(None)
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
            self._malformed_warning("dropped a malformed frame (reason {}) from peer {}",
                                    event.status, event.conn)
        elif event.kind == EventKind.CONN_ERROR:
            logger.debug("peer {} went away", event.conn)
            self.gate.forget(event.conn)
            self.coordinator.on_conn_error(event.conn)
