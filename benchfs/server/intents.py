"""The durable side of multi-server transactions, kept in the metadata log.

Two roles, both journaled like every other mutation (so snapshots and replay
carry them):

- as **coordinator**, a server keeps an *intent* per transaction it runs: its
  kind and arguments from before the first step, the decision of a directory
  rename once taken, and whether it finished. A restarted server re-drives every
  intent that did not finish (``benchfs.server.transactions``);
- as **participant**, a server keeps the result of every *step* it applied for a
  transaction, by (txid, step key), so that a step sent again (after a lost reply
  or a restart of either side) is answered with the first result instead of being
  applied twice. The coordinator tells it to forget a transaction once that is
  finished, which bounds this table by the transactions in flight.
"""

from __future__ import annotations

import errno
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import msgpack

from benchfs.server.journal import NAMES, JournaledState, MetadataError, journaled, record

# A step's stored answer: [errno or 0, reply value].
StepResult = list[Any]


@dataclass(slots=True)
class Intent:
    kind: str
    args: list[Any]
    decision: Any = None  # a directory rename's moved entries, once decided
    finished: bool = False  # outcome reached; only the participants' forgetting is left


class TransactionState(JournaledState):
    """Intents this server coordinates and step results it applied for others."""

    # The store methods a transaction step may call.
    STEP_METHODS: frozenset[str] = frozenset()

    def __init__(self, journal: Any = None) -> None:
        super().__init__(journal)
        self._intents: dict[int, Intent] = {}
        self._applied: dict[int, dict[int, StepResult]] = {}

    # -- coordinator -------------------------------------------------------------------

    @property
    def intents(self) -> dict[int, Intent]:
        return self._intents

    @journaled
    def tx_begin(self, txid: int, kind: str, args: list[Any]) -> None:
        self._intents[txid] = Intent(kind, args)

    @journaled
    def tx_decide(self, txid: int, decision: Any) -> None:
        self._intents[txid].decision = decision

    @journaled
    def tx_finish(self, txid: int) -> None:
        self._intents[txid].finished = True

    @journaled
    def tx_drop(self, txid: int) -> None:
        self._intents.pop(txid, None)

    # -- participant -------------------------------------------------------------------

    @journaled
    def tx_step(self, txid: int, key: int, method: str, packed_args: bytes,
                refused: int) -> StepResult:
        """Apply ``method(*args)`` once for (txid, key); the stored result afterwards.

        A failure is stored too, so a resend meets the same answer even when the
        state changed meanwhile: the coordinator's plan then takes the same path
        again. EAGAIN (a fenced subtree) is not an answer but a "later", and is
        raised without being stored. ``refused``: an errno to answer instead of
        running the step (a full metadata log).
        """
        done = self._applied.get(txid, {}).get(key)
        if done is not None:
            return done
        if method not in self.STEP_METHODS:
            raise MetadataError(errno.EPROTO)
        result: StepResult
        if refused:
            result = [refused, None]
        else:
            args = msgpack.unpackb(packed_args, unicode_errors=NAMES)
            try:
                value = getattr(self, method)(*args)
            except MetadataError as exc:
                if exc.errno == errno.EAGAIN:
                    raise
                result = [exc.errno, None]
            else:
                result = [0, list(value) if isinstance(value, tuple) else value]
        self._applied.setdefault(txid, {})[key] = result
        return result

    @journaled
    def tx_forget(self, txid: int) -> None:
        self._applied.pop(txid, None)

    # -- snapshots ---------------------------------------------------------------------

    def _transaction_records(self) -> Iterator[bytes]:
        for txid, intent in self._intents.items():
            yield record("_restore_intent", [txid, intent.kind, intent.args, intent.decision,
                                             intent.finished], 0)
        for txid, steps in self._applied.items():
            for key, result in steps.items():
                yield record("_restore_step", [txid, key, result], 0)

    def _restore_intent(self, txid: int, kind: str, args: list[Any], decision: Any,
                        finished: bool) -> None:
        self._intents[txid] = Intent(kind, args, decision, finished)

    def _restore_step(self, txid: int, key: int, result: StepResult) -> None:
        self._applied.setdefault(txid, {})[key] = result
