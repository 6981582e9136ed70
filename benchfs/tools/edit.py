"""mkdir, rm, mv, chmod and ln on local paths and bfs:PATHs, with GNU coreutils' options,
messages and exit codes."""

from __future__ import annotations

import argparse
import os
import re
import stat

from benchfs.client.core import current_umask
from benchfs.tools.copy import archive_options
from benchfs.tools.copy_commands import is_dir
from benchfs.tools.diagnostics import Diagnostics
from benchfs.tools.listing import walk_tree
from benchfs.tools.paths import Location, Resolver, add_registry_option, split_operand
from benchfs.tools.stage import prepare, run_local

# -- mkdir -----------------------------------------------------------------------------------


def cmd_mkdir(args: argparse.Namespace) -> int:
    diagnostics = Diagnostics("benchfs mkdir")
    mode = parse_mode(args.mode, 0o777) if args.mode else 0o777
    with Resolver(args.registry) as resolver:
        for operand in args.paths:
            location = resolver.locate(operand)
            try:
                if args.parents:
                    _make_parents(location, mode)
                else:
                    location.fs.mkdir(location.path, 0o777)
                if args.mode:
                    location.fs.chmod(location.path, mode)
            except OSError as error:
                diagnostics.os_error("cannot create directory", location, error)
    return 1 if diagnostics.count else 0


def _make_parents(location: Location, mode: int) -> None:
    """mkdir -p: every missing ancestor; an existing directory is no error."""
    parts = [p for p in location.path.split(b"/") if p]
    path = b"/" if location.path.startswith(b"/") else b""
    for part in parts:
        path = os.path.join(path, part)
        try:
            location.fs.mkdir(path, 0o777)
        except FileExistsError:
            if not stat.S_ISDIR(location.fs.stat(path).st_mode):
                raise


# -- rm --------------------------------------------------------------------------------------


def _remove_tree(location: Location, diagnostics: Diagnostics) -> bool:
    """Depth first; False if anything stayed (reported)."""
    entries = list(walk_tree(location, diagnostics))
    clean = True
    for entry, st, _ in reversed(entries):
        try:
            if stat.S_ISDIR(st.st_mode):
                entry.fs.rmdir(entry.path)
            else:
                entry.fs.unlink(entry.path)
        except OSError as error:
            diagnostics.os_error("cannot remove", entry, error)
            clean = False
    return clean


def cmd_rm(args: argparse.Namespace) -> int:
    diagnostics = Diagnostics("benchfs rm")
    if not args.paths and not args.force:
        diagnostics.fail("missing operand")
        return 1
    with Resolver(args.registry) as resolver:
        for operand in args.paths:
            location = resolver.locate(operand)
            if args.recursive and location.path.rstrip(b"/") == b"":
                diagnostics.fail(f"it is dangerous to operate recursively on "
                                 f"'{location.text}'")
                continue
            try:
                st = location.fs.lstat(location.path)
            except FileNotFoundError as error:
                if not args.force:
                    diagnostics.os_error("cannot remove", location, error)
                continue
            except OSError as error:
                diagnostics.os_error("cannot remove", location, error)
                continue
            try:
                if not stat.S_ISDIR(st.st_mode):
                    location.fs.unlink(location.path)
                elif args.recursive:
                    _remove_tree(location, diagnostics)
                elif args.dir:
                    location.fs.rmdir(location.path)
                else:
                    diagnostics.fail(f"cannot remove '{location.text}': Is a directory")
                    continue
            except OSError as error:
                diagnostics.os_error("cannot remove", location, error)
                continue
            if args.verbose:
                print(f"removed '{location.text}'")
    return 1 if diagnostics.count else 0


# -- mv --------------------------------------------------------------------------------------


def cmd_mv(args: argparse.Namespace) -> int:
    diagnostics = Diagnostics("benchfs mv")
    if len(args.operands) < 2:
        diagnostics.fail("missing destination file operand")
        return 1
    with Resolver(args.registry) as resolver:
        target = resolver.locate(args.operands[-1])
        into = is_dir(target)
        if len(args.operands) > 2 and not into:
            diagnostics.fail(f"target '{target.text}' is not a directory")
            return 1
        for operand in args.operands[:-1]:
            src = resolver.locate(operand)
            dst = target.join(src.name) if into else target
            if src.remote == dst.remote:
                try:
                    src.fs.rename(src.path, dst.path)
                except OSError as error:
                    diagnostics.fail(f"cannot move '{src.text}' to '{dst.text}': "
                                     f"{error.strerror}")
                continue
            # Across file systems GNU mv copies as cp -a does, then removes the source.
            before = diagnostics.count
            job = prepare("benchfs mv", src, dst, archive_options(), args.registry,
                          diagnostics, split_at=None)
            run_local(job, 1, resolver, diagnostics)
            if diagnostics.count == before:
                _remove_tree(src, diagnostics)
    return 1 if diagnostics.count else 0


# -- chmod -----------------------------------------------------------------------------------

# "g=u" copies u's bits: [ugo] is tried first, as [rwxXst]* would match it as empty.
_CLAUSE = re.compile(r"([ugoa]*)((?:[-+=](?:[ugo]|[rwxXst]*))+)")
_ACTION = re.compile(r"([-+=])([ugo]|[rwxXst]*)")
_WHO = {"u": 0o4700, "g": 0o2070, "o": 0o1007}
_PERMS = {"r": 0o444, "w": 0o222, "x": 0o111, "s": 0o6000, "t": 0o1000}


def _bits(perms: str, mode: int, is_directory: bool) -> int:
    if perms in ("u", "g", "o"):  # "g=u": copy another class's bits
        return ((mode >> {"u": 6, "g": 3, "o": 0}[perms]) & 0o7) * 0o111
    value = 0
    for letter in perms:
        if letter != "X":
            value |= _PERMS[letter]
        elif is_directory or mode & 0o111:  # X: execute only where someone has it
            value |= 0o111
    return value


def parse_mode(text: str, current: int, is_directory: bool = False) -> int:
    """An octal mode, or GNU chmod's symbolic clauses ("u+x,go-w", "a=rX", "+t");
    ValueError when it is neither."""
    if re.fullmatch(r"[0-7]{1,4}", text):
        return int(text, 8)
    mode = stat.S_IMODE(current)
    for clause in text.split(","):
        match = _CLAUSE.fullmatch(clause)
        if match is None:
            raise ValueError(text)
        who = match.group(1).replace("a", "ugo")
        mask = 0
        for letter in who or "ugo":
            mask |= _WHO[letter]
        for op, perms in _ACTION.findall(match.group(2)):
            value = _bits(perms, mode, is_directory) & mask
            if not who:  # no "who": the umask's bits are left alone, as GNU chmod does
                value &= ~current_umask()
            if op == "+":
                mode |= value
            elif op == "-":
                mode &= ~value
            else:
                mode = (mode & ~mask) | value
    return mode


def cmd_chmod(args: argparse.Namespace) -> int:
    diagnostics = Diagnostics("benchfs chmod")
    try:
        parse_mode(args.mode, 0)
    except ValueError:
        diagnostics.fail(f"invalid mode: '{args.mode}'")
        return 1
    with Resolver(args.registry) as resolver:
        for operand in args.paths:
            location = resolver.locate(operand)
            targets = ([(entry, st) for entry, st, _ in walk_tree(location, diagnostics)]
                       if args.recursive else [])
            if not args.recursive:
                try:
                    targets = [(location, location.fs.stat(location.path))]
                except OSError as error:
                    diagnostics.os_error("cannot access", location, error)
                    continue
            for entry, st in targets:
                if stat.S_ISLNK(st.st_mode):
                    continue  # chmod -R leaves symlinks (Linux has no mode on them)
                try:
                    entry.fs.chmod(entry.path, parse_mode(args.mode, st.st_mode,
                                                          stat.S_ISDIR(st.st_mode)))
                except OSError as error:
                    diagnostics.os_error("changing permissions of", entry, error)
    return 1 if diagnostics.count else 0


# -- ln --------------------------------------------------------------------------------------


def cmd_ln(args: argparse.Namespace) -> int:
    diagnostics = Diagnostics("benchfs ln")
    with Resolver(args.registry) as resolver:
        target = resolver.locate(args.target)
        if args.link_name is None:  # GNU: a link of the same name here
            link = resolver.locate(target.name)
        else:
            link = resolver.locate(args.link_name)
            if is_dir(link):
                link = link.join(target.name)
        kind = "symbolic link" if args.symbolic else "hard link"
        if target.remote != link.remote and not args.symbolic:
            diagnostics.fail(f"failed to create hard link '{link.text}' => "
                             f"'{target.text}': Invalid cross-device link")
            return 1
        try:
            if args.force:
                try:
                    link.fs.unlink(link.path)
                except FileNotFoundError:
                    pass
            if args.symbolic:
                # A symlink's text is stored as given (relative stays relative).
                link.fs.symlink(split_operand(args.target)[1], link.path)
            else:
                link.fs.link(target.path, link.path)
        except OSError as error:
            diagnostics.os_error(f"failed to create {kind}", link, error)
    return 1 if diagnostics.count else 0


# -- the parsers -----------------------------------------------------------------------------


def add_edit_parsers(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    mkdir = commands.add_parser("mkdir", help="make directories (GNU mkdir)")
    mkdir.add_argument("paths", nargs="+")
    mkdir.add_argument("-p", "--parents", action="store_true")
    mkdir.add_argument("-m", "--mode")
    add_registry_option(mkdir)
    mkdir.set_defaults(func=cmd_mkdir)

    rm = commands.add_parser("rm", help="remove files or trees (GNU rm)")
    rm.add_argument("paths", nargs="*")
    rm.add_argument("-r", "-R", "--recursive", action="store_true")
    rm.add_argument("-f", "--force", action="store_true")
    rm.add_argument("-d", "--dir", action="store_true")
    rm.add_argument("-v", "--verbose", action="store_true")
    add_registry_option(rm)
    rm.set_defaults(func=cmd_rm)

    mv = commands.add_parser("mv", help="move or rename (GNU mv)")
    mv.add_argument("operands", nargs="+", metavar="SOURCE... DEST")
    add_registry_option(mv)
    mv.set_defaults(func=cmd_mv)

    chmod = commands.add_parser("chmod", help="change mode bits (GNU chmod)")
    chmod.add_argument("-R", "--recursive", action="store_true")
    chmod.add_argument("mode")
    chmod.add_argument("paths", nargs="+")
    add_registry_option(chmod)
    chmod.set_defaults(func=cmd_chmod)

    ln = commands.add_parser("ln", help="make links (GNU ln)")
    ln.add_argument("target")
    ln.add_argument("link_name", nargs="?")
    ln.add_argument("-s", "--symbolic", action="store_true")
    ln.add_argument("-f", "--force", action="store_true")
    add_registry_option(ln)
    ln.set_defaults(func=cmd_ln)
