"""Carrying out a plan, alone or as a team.

Three steps. The coordinator (rank 0, or the only process) walks the source, creates the
directories and, for each file too large for one process, an empty file of its full size.
Then every process copies its share: whole files and symlinks by count (round robin), the
pieces of the large files (chunk-aligned ranges) likewise. Last, the coordinator gives the
pieced files, then the directories (deepest first), their attributes and makes the hard
links. Times are always set last, after the data is written (and fsync'd), which is what
lets a second run skip what a first run finished (``COMPLETE``).

A team is either ``--workers N`` spawned processes or the ranks of mpirun/srun
(benchfs.bench.team provides both).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from benchfs.bench.measure import BenchError
from benchfs.bench.measure import Progress as Bar
from benchfs.bench.team import LocalClients, Team, mpi_team
from benchfs.tools.copy import Copier, CopyOptions, Progress, Written, block_size
from benchfs.tools.diagnostics import Diagnostics
from benchfs.tools.paths import Location, Resolver
from benchfs.tools.tree import DIR, FILE, HARDLINK, SYMLINK, Entry, walk

LOCAL_BLOCK = 16 << 20  # transfers between two local paths (no chunk size to align to)
BATCH = 32  # whole files written before they are fsync'd together (Copier.complete)


@dataclass(frozen=True)
class Endpoint:
    """A Location without its connection, to send to other processes."""

    remote: bool
    path: bytes
    shown: bytes

    @classmethod
    def of(cls, location: Location) -> Endpoint:
        return cls(location.remote, location.path, location.shown)

    def locate(self, resolver: Resolver) -> Location:
        return Location(resolver.fs(self.remote), self.path, self.remote, self.shown)


@dataclass(frozen=True)
class Job:
    program: str
    src: Endpoint
    dst: Endpoint
    options: CopyOptions
    registry: str | None
    block: int
    entries: list[Entry]
    whole: list[int]  # entries copied each by one process: files and symlinks
    pieces: list[tuple[int, int, int]]  # (entry, start, end) of the large files
    new_dirs: set[bytes] = field(default_factory=set)  # directories the plan created
    progress: bool = False

    def share(self, rank: int, size: int) -> tuple[list[int], list[tuple[int, int, int]]]:
        return self.whole[rank::size], self.pieces[rank::size]


@dataclass
class WorkResult:
    errors: int = 0
    copied_bytes: int = 0
    failed: set[int] = field(default_factory=set)  # pieced entries whose piece failed


def _copier(job: Job, resolver: Resolver, diagnostics: Diagnostics,
            progress: Progress | None = None) -> Copier:
    copier = Copier(job.src.locate(resolver), job.dst.locate(resolver), job.options,
                    diagnostics, job.block, progress)
    copier.new_dirs = job.new_dirs
    return copier


def prepare(program: str, src: Location, dst: Location, options: CopyOptions,
            registry: str | None, diagnostics: Diagnostics, split_at: int | None,
            piece_size: int | None = None, progress: bool = False) -> Job:
    """Walk, create the directories and the files to be pieced. ``split_at``: files of
    at least this size are copied in pieces of ``piece_size`` by several processes
    (None: every file by one process)."""
    chunk = _chunk_size(src, dst)
    block = block_size(chunk) if chunk else LOCAL_BLOCK
    piece = block_size(chunk, piece_size) if chunk and piece_size else block
    plan = walk(src, recursive=options.recursive, dereference=options.dereference,
                hard_links=options.preserve_links, diagnostics=diagnostics)
    copier = Copier(src, dst, options, diagnostics, block)
    job = Job(program, Endpoint.of(src), Endpoint.of(dst), options, registry, block,
              plan.entries, [], [], copier.new_dirs, progress)
    failed_dirs: list[bytes] = []
    for index, entry in enumerate(plan.entries):
        if any(entry.rel.startswith(prefix) for prefix in failed_dirs):
            continue  # its directory could not be made: reported once, for the directory
        if entry.kind == DIR:
            if not copier.make_dir(entry):
                failed_dirs.append(entry.rel + b"/" if entry.rel else b"")
        elif entry.kind == FILE and split_at is not None and entry.size >= split_at:
            if copier.prepare_pieces(entry):
                job.pieces.extend((index, start, min(start + piece, entry.size))
                                  for start in range(0, entry.size, piece))
        elif entry.kind in (FILE, SYMLINK):
            job.whole.append(index)
    return job


def _chunk_size(src: Location, dst: Location) -> int | None:
    for location in (dst, src):
        chunk = getattr(location.fs, "chunk_size", None)
        if isinstance(chunk, int):
            return chunk
    return None


def work(job: Job, rank: int, size: int, copier: Copier) -> WorkResult:
    """This process's share of the copying."""
    whole, pieces = job.share(rank, size)
    before = copier.diagnostics.count
    batch: list[Written] = []
    for index in whole:
        entry = job.entries[index]
        if entry.kind == SYMLINK:
            copier.make_symlink(entry)
        elif (written := copier.write_file(entry)) is not None:
            batch.append(written)
            if len(batch) == BATCH:
                copier.complete(batch)
                batch = []
    copier.complete(batch)
    failed: set[int] = set()
    for index, start, end in pieces:
        errors = copier.diagnostics.count
        copier.copy_piece(job.entries[index], start, end)
        if copier.diagnostics.count > errors:
            failed.add(index)
    return WorkResult(copier.diagnostics.count - before, copier.copied_bytes, failed)


def finish(job: Job, copier: Copier, failed: set[int]) -> None:
    """Attributes of the pieced files (never of one with a failed piece: it must not
    look complete), hard links, then the directories' attributes, deepest first."""
    for index in sorted({index for index, _, _ in job.pieces} - failed):
        copier.finish_file(job.entries[index])
    for entry in job.entries:
        if entry.kind == HARDLINK:
            copier.make_hardlink(entry)
    for entry in reversed(job.entries):
        if entry.kind == DIR:
            copier.finish_dir(entry)


# -- running a job -------------------------------------------------------------------------


def progress_bar(total: int, description: str) -> Bar | None:
    """A tqdm bar of bytes when stdout is a terminal, else (or without tqdm) nothing."""
    if not sys.stdout.isatty():
        return None
    try:
        from tqdm import tqdm
    except ImportError:
        return None
    bar: Bar = tqdm(total=total, unit="B", unit_scale=True, unit_divisor=1024,
                    desc=description)
    return bar


def _share_bytes(job: Job, rank: int, size: int) -> int:
    whole, pieces = job.share(rank, size)
    return (sum(job.entries[i].size for i in whole if job.entries[i].kind == FILE)
            + sum(end - start for _, start, end in pieces))


def _work_with_bar(job: Job, rank: int, size: int, resolver: Resolver,
                   diagnostics: Diagnostics) -> WorkResult:
    bar = (progress_bar(_share_bytes(job, rank, size),
                        "copying" if size == 1 else f"rank 0 of {size}")
           if job.progress and rank == 0 else None)
    try:
        return work(job, rank, size,
                    _copier(job, resolver, diagnostics, bar.update if bar else None))
    finally:
        if bar is not None:
            bar.close()


def _worker(team: Team, job: Job) -> Iterator[tuple[int, WorkResult]]:
    """One spawned process of ``--workers N``."""
    with Resolver(job.registry) as resolver:
        yield 0, _work_with_bar(job, team.rank, team.size, resolver, Diagnostics(job.program))


def run_local(job: Job, workers: int, resolver: Resolver, diagnostics: Diagnostics) -> None:
    """Copy, then finish, with ``workers`` processes (1: this one)."""
    if workers <= 1:
        result = _work_with_bar(job, 0, 1, resolver, diagnostics)
        finish(job, _copier(job, resolver, diagnostics), result.failed)
        return
    failed: set[int] = set()
    try:
        with LocalClients(_worker, job, workers) as team:
            for _, results in team.results():
                for result in results:
                    diagnostics.count += result.errors
                    failed |= result.failed
    except BenchError as error:
        diagnostics.fail(f"a worker failed: {error}")
        return  # no attributes: what was copied stays "incomplete" for the next run
    finish(job, _copier(job, resolver, diagnostics), failed)


def run_mpi(make_job: Callable[[Resolver, Diagnostics], Job], registry: str | None,
            program: str) -> int:
    """Every rank of mpirun/srun copies its share; rank 0 plans and finishes.
    ``make_job(resolver, diagnostics)`` runs on rank 0 only."""
    team = mpi_team()
    diagnostics = Diagnostics(program)
    with Resolver(registry) as resolver:
        job: Job | None = None
        if team.rank == 0:
            try:
                job = make_job(resolver, diagnostics)
            except Exception as error:  # the other ranks must not wait for a plan forever
                diagnostics.fail(f"cannot plan the copy: {error}")
        job = team.broadcast(job)
        if job is None:
            return 1
        result = _work_with_bar(job, team.rank, team.size, resolver, diagnostics)
        results = team.gather(result)
        if results is not None:
            failed = set().union(*(r.failed for r in results))
            others = sum(r.errors for r in results[1:])
            finish(job, _copier(job, resolver, diagnostics), failed)
            return 1 if diagnostics.count or others else 0
    return 1 if diagnostics.count else 0
