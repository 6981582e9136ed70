"""The client processes of a run and the barrier between phases.

Either N local processes started here (multiprocessing, 'spawn': forking a process that
may already hold an engine would share its io_uring and UCX state), or the ranks of an
mpirun/srun launch through mpi4py. Both give each client a rank, the team's size and a
barrier that sleeps while it waits: on two cores a spinning waiter takes a core from the
servers being measured (DESIGN §4).
"""

from __future__ import annotations

import multiprocessing
import queue
import time
import traceback
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Barrier
from types import TracebackType
from typing import Any, Generic, Protocol, TypeVar

from benchfs.bench.measure import BenchError

Context = TypeVar("Context")
Result = TypeVar("Result")

# How long the collector waits for a message before it checks the clients are alive.
_LIVENESS_CHECK = 1.0
_STOP_TIMEOUT = 10.0


class Team(Protocol):
    @property
    def rank(self) -> int: ...
    @property
    def size(self) -> int: ...
    def barrier(self) -> None: ...


# A client's whole run: it yields (step, result) once per step, in step order.
ClientBody = Callable[[Team, Context], Iterable[tuple[int, Result]]]


@dataclass(frozen=True)
class ProcessTeam:
    rank: int
    size: int
    shared_barrier: Barrier

    def barrier(self) -> None:
        self.shared_barrier.wait()


@dataclass(frozen=True)
class _Message(Generic[Result]):
    rank: int
    step: int | None = None  # the step ``result`` belongs to; None once the client is done
    result: Result | None = None
    error: str | None = None  # the client's traceback


def _client_process(body: ClientBody[Context, Result], context: Context, rank: int, size: int,
                    barrier: Barrier, results: Queue[_Message[Result]]) -> None:
    try:
        for step, result in body(ProcessTeam(rank, size, barrier), context):
            results.put(_Message(rank, step, result))
        results.put(_Message(rank))
    except BaseException:
        # Release the others from the barrier they would otherwise wait at forever.
        barrier.abort()
        results.put(_Message(rank, error=traceback.format_exc()))


class LocalClients(Generic[Context, Result]):
    """``size`` spawned processes each running ``body(team, context)``."""

    def __init__(self, body: ClientBody[Context, Result], context: Context, size: int) -> None:
        spawn = multiprocessing.get_context("spawn")
        self._size = size
        self._barrier = spawn.Barrier(size)
        self._queue: Queue[_Message[Result]] = spawn.Queue()
        self._processes = [
            spawn.Process(target=_client_process, name=f"benchfs-bench-client-{rank}",
                          args=(body, context, rank, size, self._barrier, self._queue))
            for rank in range(size)
        ]

    def __enter__(self) -> LocalClients[Context, Result]:
        for process in self._processes:
            process.start()
        return self

    def results(self) -> Iterator[tuple[int, list[Result]]]:
        """Each step's results in rank order, once every client has sent its own."""
        pending: dict[int, dict[int, Result]] = {}
        finished: set[int] = set()
        while len(finished) < self._size:
            message = self._next_message(finished)
            if message.error is not None:
                raise BenchError(f"client {message.rank} failed:\n{message.error}")
            if message.step is None:
                finished.add(message.rank)
                continue
            assert message.result is not None
            step = pending.setdefault(message.step, {})
            step[message.rank] = message.result
            if len(step) == self._size:
                del pending[message.step]
                yield message.step, [step[rank] for rank in range(self._size)]

    def _next_message(self, finished: set[int]) -> _Message[Result]:
        while True:
            try:
                return self._queue.get(timeout=_LIVENESS_CHECK)
            except queue.Empty:
                for rank, process in enumerate(self._processes):
                    if rank not in finished and not process.is_alive():
                        raise BenchError(f"client {rank} died (exit code {process.exitcode})"
                                         ) from None

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        if error is not None:
            self._barrier.abort()
            for process in self._processes:
                if process.is_alive():
                    process.terminate()
        for process in self._processes:
            process.join(_STOP_TIMEOUT)
            if process.is_alive():
                process.kill()
                process.join()


class MpiTeam:
    """The ranks of COMM_WORLD, each a client."""

    def __init__(self, comm: Any) -> None:
        self._comm = comm
        self.rank: int = comm.Get_rank()
        self.size: int = comm.Get_size()

    def barrier(self) -> None:
        # MPI_Barrier spins in the progress engine; a nonblocking barrier tested
        # with a growing sleep leaves the CPU to the servers.
        request = self._comm.Ibarrier()
        delay = 50e-6
        while not request.Test():
            time.sleep(delay)
            delay = min(delay * 2, 5e-3)

    def broadcast(self, value: Context | None) -> Context:
        """Rank 0's ``value`` on every rank; the others pass None."""
        self.barrier()  # wait asleep for rank 0, then the broadcast itself is quick
        shared: Context = self._comm.bcast(value, root=0)
        return shared

    def gather(self, item: Result) -> list[Result] | None:
        """Every rank's ``item`` in rank order on rank 0; None on the others."""
        gathered: list[Result] | None = self._comm.gather(item, root=0)
        return gathered

    def abort(self) -> None:
        self._comm.Abort(1)

    def steps(self, body: ClientBody[Context, Result], context: Context,
              ) -> Iterator[tuple[int, list[Result]]]:
        """Run ``body`` as this rank; rank 0 gets each step's results of all ranks."""
        for step, result in body(self, context):
            gathered = self.gather(result)
            if gathered is not None:
                yield step, gathered


def mpi_team() -> MpiTeam:
    """COMM_WORLD, for a process that mpirun or srun started as one of several ranks."""
    try:
        from mpi4py import MPI
    except ImportError:
        # Without it every rank would start a cluster and a suite of its own.
        raise BenchError("benchfs bench was launched as several MPI ranks, but mpi4py is not "
                         "installed: pip install mpi4py, or run it without mpirun/srun") from None
    return MpiTeam(MPI.COMM_WORLD)
