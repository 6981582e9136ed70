"""Warnings a peer can cause at network speed (malformed frames, refused hellos):
logged at most once a second each, with a count of the ones folded in, so that a
flood of garbage cannot fill the disk with the log or slow the loop down."""

from __future__ import annotations

import time
from typing import Any

from loguru import logger


class ThrottledWarning:
    def __init__(self, interval: float = 1.0) -> None:
        self._interval = interval
        self._next = 0.0
        self._folded = 0

    def __call__(self, message: str, *args: Any) -> None:
        now = time.monotonic()
        if now < self._next:
            self._folded += 1
            return
        folded, self._folded = self._folded, 0
        suffix = f" (and {folded} more since the last such warning)" if folded else ""
        logger.opt(depth=1).warning(message + suffix, *args)
        self._next = now + self._interval
