"""Fault injection for the crash tests: a real server that kills itself at a chosen point.

Set in a server's environment (the tests do, for one start of one server):

- ``BENCHFS_FAULT_TX=<kind>:<n>``: as a coordinator, die just before sending batch
  ``n`` (from 1) of a transaction of ``kind`` (``rename_file``, ``link``, ``unlink``,
  ``rename_dir``, ``rmdir``); the batch after the plan's last is the one telling the
  participants to forget it, so ``n`` one past the plan's batches dies after the
  finish record;
- ``BENCHFS_FAULT_STEP=<name>``: as a participant, die right after applying a request,
  before its reply leaves; ``name`` is a keyed step's store method (``add_entry``,
  ``adjust``…) or a plain opcode (``FENCE``, ``MOVE_INSERT``, ``UNFENCE``…).

Before dying, the server writes its log buffer (as a group commit would have), so
what it applied survives as it would after a kill -9 just past the commit; then it
SIGKILLs itself. Unset, these cost one comparison per step.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Callable

from loguru import logger

from benchfs.core.wire import MalformedFrame, Op, decode_request


class Faults:
    def __init__(self, flush: Callable[[], None], tx: str | None = None,
                 step: str | None = None) -> None:
        self._flush = flush
        kind, _, batch = (tx or "").partition(":")
        self._tx = (kind, int(batch)) if tx else None
        self._step = step

    @classmethod
    def from_env(cls, flush: Callable[[], None]) -> Faults:
        return cls(flush, os.environ.get("BENCHFS_FAULT_TX"),
                   os.environ.get("BENCHFS_FAULT_STEP"))

    def before_batch(self, kind: str, batch: int) -> None:
        if self._tx == (kind, batch):
            self._die(f"before batch {batch} of a {kind} transaction")

    def after_request(self, opcode: int, body: bytes) -> None:
        if self._step is None:
            return
        name = Op(opcode).name
        if opcode == Op.TX_STEP:
            try:
                name = decode_request(opcode, body)[2]
            except MalformedFrame:
                return
        if name == self._step:
            self._die(f"after {name}")

    def _die(self, where: str) -> None:
        logger.warning("fault injection: killing this server {}", where)
        self._flush()
        os.kill(os.getpid(), signal.SIGKILL)
