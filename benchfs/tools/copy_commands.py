"""``benchfs cp``, ``stage-in`` and ``stage-out``: option parsing and GNU cp's rules for
where a source lands; the copying itself is benchfs.tools.stage's."""

from __future__ import annotations

import argparse
import os
import posixpath
import stat
from collections.abc import Callable

from benchfs.tools.copy import COMPLETE, EXISTING, NEVER, OLDER, CopyOptions, archive_options
from benchfs.tools.diagnostics import Diagnostics
from benchfs.tools.paths import Location, Resolver, add_registry_option
from benchfs.tools.stage import Job, prepare, run_local, run_mpi


def is_dir(location: Location) -> bool:
    try:
        return stat.S_ISDIR(location.fs.stat(location.path).st_mode)
    except OSError:
        return False


def _real(location: Location) -> bytes:
    if location.remote:
        return posixpath.normpath(location.path)
    return os.path.realpath(location.path)


def _same_or_inside(src: Location, dst: Location, diagnostics: Diagnostics) -> bool:
    """cp refuses to copy a file onto itself or a directory into itself."""
    if src.remote != dst.remote:
        return False
    try:
        src_st, dst_st = src.fs.stat(src.path), dst.fs.stat(dst.path)
        if (src_st.st_dev, src_st.st_ino) == (dst_st.st_dev, dst_st.st_ino):
            diagnostics.fail(f"'{src.text}' and '{dst.text}' are the same file")
            return True
    except OSError:
        pass
    if (_real(dst) + b"/").startswith(_real(src) + b"/") and is_dir(src):
        diagnostics.fail(f"cannot copy a directory, '{src.text}', into itself, "
                         f"'{dst.text}'")
        return True
    return False


def _cp_options(args: argparse.Namespace) -> CopyOptions:
    recursive = args.recursive or args.archive
    no_dereference = args.archive or args.no_dereference_links or args.no_dereference
    preserve = args.archive or args.preserve
    skip = EXISTING if args.no_clobber else OLDER if args.update else NEVER
    return CopyOptions(
        recursive=recursive,
        # GNU cp follows symlinks unless copying recursively (or told not to).
        dereference=args.dereference or not (recursive or no_dereference),
        preserve_mode=preserve, preserve_times=preserve, preserve_owner=preserve,
        preserve_links=args.archive or args.no_dereference_links,
        skip=skip, verify=args.verify, verbose=args.verbose)


def cmd_cp(args: argparse.Namespace) -> int:
    diagnostics = Diagnostics("benchfs cp")
    if len(args.operands) < 2:
        diagnostics.fail("missing destination file operand")
        return 1
    options = _cp_options(args)
    with Resolver(args.registry) as resolver:
        target = resolver.locate(args.target_directory or args.operands[-1])
        sources = args.operands if args.target_directory else args.operands[:-1]
        into = is_dir(target) and not args.no_target_directory
        if (len(sources) > 1 or args.target_directory) and not into:
            diagnostics.fail(f"target '{target.text}' is not a directory")
            return 1
        for operand in sources:
            src = resolver.locate(operand)
            dst = target.join(src.name) if into else target
            if _same_or_inside(src, dst, diagnostics):
                continue
            job = prepare("benchfs cp", src, dst, options, args.registry, diagnostics,
                          split_at=None, progress=not args.no_progress)
            run_local(job, 1, resolver, diagnostics)
    return 1 if diagnostics.count else 0


def cmd_stage(args: argparse.Namespace) -> int:
    """stage-in: SRC local (unless prefixed), DST benchfs; stage-out: the reverse.
    DST becomes the copy of SRC (never SRC's name inside DST), so that a second run
    with the same arguments finds what the first one copied."""
    from benchfs.cli import _rank_from_launcher

    program = f"benchfs {args.command}"
    options = archive_options(COMPLETE, args.fsync, args.verify)
    inward = args.command == "stage-in"
    _, launcher_size = _rank_from_launcher(None)
    team_size = launcher_size or args.workers
    piece = args.piece_size

    def make_job(resolver: Resolver, diagnostics: Diagnostics) -> Job:
        src = resolver.locate(args.src, remote=not inward)
        dst = resolver.locate(args.dst, remote=inward)
        split_at = None if team_size <= 1 else 2 * piece
        # Under mpirun every rank's stdout is a pty, whatever the user's is: no bars there.
        progress = not args.no_progress and launcher_size is None
        return prepare(program, src, dst, options, args.registry, diagnostics,
                       split_at=split_at, piece_size=piece, progress=progress)

    if launcher_size is not None and launcher_size > 1:
        return run_mpi(make_job, args.registry, program)
    diagnostics = Diagnostics(program)
    with Resolver(args.registry) as resolver:
        run_local(make_job(resolver, diagnostics), args.workers, resolver, diagnostics)
    return 1 if diagnostics.count else 0


def add_copy_parsers(commands: argparse._SubParsersAction[argparse.ArgumentParser],
                     size: Callable[[str], int]) -> None:
    cp = commands.add_parser(
        "cp", help="copy files and trees between local paths and bfs:PATHs",
        description="GNU cp for benchfs: operands are local paths, bfs:PATH or "
                    "benchfs:///PATH, in any combination.")
    cp.add_argument("operands", nargs="+", metavar="SOURCE... DEST")
    cp.add_argument("-r", "-R", "--recursive", action="store_true")
    cp.add_argument("-a", "--archive", action="store_true", help="same as -dR -p")
    cp.add_argument("-d", dest="no_dereference_links", action="store_true",
                    help="copy symlinks as symlinks, keep hard links")
    cp.add_argument("-P", "--no-dereference", action="store_true")
    cp.add_argument("-L", "--dereference", action="store_true")
    cp.add_argument("-p", dest="preserve", action="store_true",
                    help="keep mode, ownership and times")
    cp.add_argument("-n", "--no-clobber", action="store_true",
                    help="do not overwrite an existing file")
    cp.add_argument("-u", "--update", action="store_true",
                    help="copy only when the source is newer than the destination")
    cp.add_argument("-t", "--target-directory", metavar="DIRECTORY")
    cp.add_argument("-T", "--no-target-directory", action="store_true")
    cp.add_argument("-v", "--verbose", action="store_true")
    _add_common(cp)
    cp.set_defaults(func=cmd_cp)

    for name, help_text in (("stage-in", "copy a local tree into benchfs, in parallel"),
                            ("stage-out", "copy a benchfs tree out, in parallel")):
        stage = commands.add_parser(
            name, help=help_text,
            description=f"{help_text}: as cp -a, DST becoming the copy of SRC. Under "
                        "mpirun/srun every rank copies its share, else --workers processes; "
                        "run again to resume, skipping files already complete.")
        stage.add_argument("src", metavar="SRC")
        stage.add_argument("dst", metavar="DST")
        stage.add_argument("--workers", type=int, default=1,
                           help="local processes (ignored under mpirun/srun)")
        stage.add_argument("--piece-size", type=size, default=64 << 20,
                           help="files of twice this are split into pieces of this size "
                                "(a multiple of the chunk size) across processes")
        stage.add_argument("--fsync", action=argparse.BooleanOptionalAction, default=True,
                           help="make each file durable before marking it complete")
        _add_common(stage)
        stage.set_defaults(func=cmd_stage)


def _add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--verify", action="store_true",
                        help="compare checksums of every copy with its source")
    parser.add_argument("--no-progress", action="store_true",
                        help="no progress bar even on a terminal")
    add_registry_option(parser)
