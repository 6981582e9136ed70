"""ls, cat, du, find and stat on local paths and bfs:PATHs, with GNU coreutils' options,
output (C locale, output not a terminal: one name per line, names unquoted) and exit codes.
"""

from __future__ import annotations

import argparse
import fnmatch
import grp
import os
import pwd
import re
import stat
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from benchfs.tools.diagnostics import Diagnostics
from benchfs.tools.paths import Location, Resolver, add_registry_option

SIX_MONTHS = 31556952 // 2  # GNU ls: older (or future) times show the year


def out(data: bytes) -> None:
    sys.stdout.buffer.write(data)


def human(size: int) -> str:
    """GNU's -h: powers of 1024, rounded up, one decimal below 10 (1.5K, 10K, 1.1M)."""
    if size < 1024:
        return str(size)
    for power, unit in enumerate("KMGTPE", 1):
        scale = 1024 ** power
        if size < 1024 * scale or unit == "E":
            tenths = -(-size * 10 // scale)
            if tenths < 100:
                return f"{tenths // 10}.{tenths % 10}{unit}"
            whole = -(-size // scale)
            if whole < 1024 or unit == "E":
                return f"{whole}{unit}"
            # 1023.x rounds up to 1024 of this unit: that is the next unit's 1.0
    raise AssertionError("unreachable")


def _children(location: Location) -> list[bytes]:
    with location.fs.scandir(location.path) as listing:
        return sorted(entry.name for entry in listing)


def _user(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def _group(gid: int) -> str:
    try:
        return grp.getgrgid(gid).gr_name
    except KeyError:
        return str(gid)


# -- ls --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Listed:
    name: bytes  # as shown
    location: Location
    st: os.stat_result


def _ls_date(mtime: float, now: float) -> str:
    moment = time.localtime(mtime)
    if now - SIX_MONTHS < mtime <= now:
        return time.strftime("%b %e %H:%M", moment)
    return time.strftime("%b %e  %Y", moment)


def _ls_long(items: list[Listed], human_sizes: bool) -> list[bytes]:
    now = time.time()
    rows = []
    for item in items:
        st = item.st
        size = human(st.st_size) if human_sizes else str(st.st_size)
        name = item.name
        if stat.S_ISLNK(st.st_mode):
            try:
                name += b" -> " + os.fsencode(item.location.fs.readlink(item.location.path))
            except OSError:
                pass
        rows.append((stat.filemode(st.st_mode), str(st.st_nlink), _user(st.st_uid),
                     _group(st.st_gid), size, _ls_date(st.st_mtime, now), name))
    widths = [max((len(row[i]) for row in rows), default=0) for i in range(5)]
    return [f"{r[0]} {r[1]:>{widths[1]}} {r[2]:<{widths[2]}} {r[3]:<{widths[3]}} "
            f"{r[4]:>{widths[4]}} {r[5]} ".encode() + r[6] for r in rows]


def _total(items: list[Listed], human_sizes: bool) -> bytes:
    kib = sum(-(-item.st.st_blocks * 512 // 1024) for item in items)
    return b"total " + (human(kib * 1024) if human_sizes else str(kib)).encode()


def cmd_ls(args: argparse.Namespace) -> int:
    diagnostics = Diagnostics("benchfs ls")
    serious = 0
    show_all = args.all
    with Resolver(args.registry) as resolver:
        operands = [resolver.locate(o) for o in args.paths or ["bfs:/"]]
        files: list[Listed] = []
        directories: list[Listed] = []
        for location in operands:
            try:
                st = location.fs.lstat(location.path)
                follows = stat.S_ISLNK(st.st_mode) and not (args.long or args.directory)
                if follows:
                    st = location.fs.stat(location.path)
            except OSError as error:
                diagnostics.os_error("cannot access", location, error)
                serious = 2
                continue
            item = Listed(location.shown, location, st)
            (directories if stat.S_ISDIR(st.st_mode) and not args.directory
             else files).append(item)

        def show(items: list[Listed]) -> None:
            lines = _ls_long(items, args.human) if args.long else [i.name for i in items]
            for line in lines:
                out(line + b"\n")

        files.sort(key=lambda i: i.name)
        directories.sort(key=lambda i: i.name)
        show(files)
        headers = bool(files) or len(directories) > 1 or args.recursive
        first = not files

        def list_dir(item: Listed, top: bool) -> None:
            nonlocal first, serious
            try:
                names = _children(item.location)
            except OSError as error:
                diagnostics.os_error("cannot open directory", item.location, error)
                serious = max(serious, 2 if top else 1)
                return
            if not show_all:
                names = [n for n in names if not n.startswith(b".")]
            entries = []
            for name in sorted(([b".", b".."] if show_all else []) + names):
                location = item.location if name == b"." else item.location.join(name)
                try:
                    st = location.fs.lstat(location.path)
                except OSError as error:
                    diagnostics.os_error("cannot access", location, error)
                    serious = max(serious, 1)
                    continue
                entries.append(Listed(name, location, st))
            if headers:
                out((b"" if first else b"\n") + item.location.shown + b":\n")
            first = False
            if args.long:
                out(_total(entries, args.human) + b"\n")
            show(entries)
            if args.recursive:
                for entry in entries:
                    if stat.S_ISDIR(entry.st.st_mode) and entry.name not in (b".", b".."):
                        list_dir(Listed(entry.location.shown, entry.location, entry.st), False)

        for item in directories:
            list_dir(item, True)
    sys.stdout.flush()
    return serious or (1 if diagnostics.count else 0)


# -- cat -------------------------------------------------------------------------------------


def cmd_cat(args: argparse.Namespace) -> int:
    diagnostics = Diagnostics("benchfs cat")
    with Resolver(args.registry) as resolver:
        for operand in args.paths:
            location = resolver.locate(operand)
            try:
                fd = location.fs.open(location.path, os.O_RDONLY)
            except OSError as error:
                diagnostics.fail(f"{location.text}: {error.strerror}")  # GNU: no quotes
                continue
            try:
                offset = 0
                while data := location.fs.pread(fd, 1 << 20, offset):
                    out(data)
                    offset += len(data)
            except OSError as error:
                diagnostics.fail(f"{location.text}: {error.strerror}")
            finally:
                location.fs.close(fd)
    sys.stdout.flush()
    return 1 if diagnostics.count else 0


# -- du --------------------------------------------------------------------------------------


def cmd_du(args: argparse.Namespace) -> int:
    diagnostics = Diagnostics("benchfs du")
    seen: set[tuple[int, int]] = set()  # GNU du counts a hard-linked file once

    def size_of(st: os.stat_result) -> int:
        return st.st_size if args.bytes or args.apparent_size else st.st_blocks * 512

    def shown(size: int) -> bytes:
        if args.human:
            return human(size).encode()
        if args.bytes:
            return str(size).encode()
        return str(-(-size // 1024)).encode()

    def visit(location: Location, depth: int) -> int:
        try:
            st = location.fs.lstat(location.path)
        except OSError as error:
            diagnostics.os_error("cannot access", location, error)
            return 0
        key = (st.st_dev, st.st_ino)
        if key in seen:
            return 0
        seen.add(key)
        total = size_of(st)
        if stat.S_ISDIR(st.st_mode):
            try:
                names = _children(location)
            except OSError as error:
                diagnostics.os_error("cannot read directory", location, error)
                names = []
            for name in names:
                total += visit(location.join(name), depth + 1)
            if not args.summarize or depth == 0:
                out(shown(total) + b"\t" + location.shown + b"\n")
        elif depth == 0 or (args.all and not args.summarize):
            out(shown(total) + b"\t" + location.shown + b"\n")
        return total

    with Resolver(args.registry) as resolver:
        grand = sum(visit(resolver.locate(o), 0) for o in args.paths or ["bfs:/"])
    if args.total:
        out(shown(grand) + b"\ttotal\n")
    sys.stdout.flush()
    return 1 if diagnostics.count else 0


# -- find ------------------------------------------------------------------------------------

_SIZE = re.compile(r"^([+-]?)(\d+)([bcwkMG]?)$")
_UNITS = {"b": 512, "c": 1, "w": 2, "k": 1024, "M": 1 << 20, "G": 1 << 30, "": 512}
_TYPES = {"f": stat.S_IFREG, "d": stat.S_IFDIR, "l": stat.S_IFLNK}

Test = Callable[[bytes, os.stat_result], bool]


def _size_test(text: str) -> Test:
    match = _SIZE.match(text)
    if match is None:
        raise argparse.ArgumentTypeError(f"invalid argument `{text}' to `-size'")
    sign, number, unit = match.group(1), int(match.group(2)), _UNITS[match.group(3)]

    def test(_name: bytes, st: os.stat_result) -> bool:
        units = -(-st.st_size // unit)  # GNU find rounds up to whole units
        return units > number if sign == "+" else units < number if sign == "-" \
            else units == number
    return test


def _find_tests(args: argparse.Namespace) -> list[Test]:
    tests: list[Test] = []
    if args.name is not None:
        pattern = os.fsencode(args.name)
        tests.append(lambda name, _st: fnmatch.fnmatchcase(name, pattern))
    if args.type is not None:
        if args.type not in _TYPES:
            raise argparse.ArgumentTypeError(f"Unknown argument to -type: {args.type}")
        wanted = _TYPES[args.type]
        tests.append(lambda _name, st: stat.S_IFMT(st.st_mode) == wanted)
    if args.size is not None:
        tests.append(_size_test(args.size))
    return tests


def walk_tree(location: Location, diagnostics: Diagnostics, depth: int = 0,
              max_depth: int | None = None
              ) -> Iterator[tuple[Location, os.stat_result, int]]:
    """Preorder (location, lstat, depth), never following symlinks; names sorted."""
    try:
        st = location.fs.lstat(location.path)
    except OSError as error:
        diagnostics.fail(f"'{location.text}': {error.strerror}")
        return
    yield location, st, depth
    if stat.S_ISDIR(st.st_mode) and (max_depth is None or depth < max_depth):
        try:
            names = _children(location)
        except OSError as error:
            diagnostics.fail(f"'{location.text}': {error.strerror}")
            return
        for name in names:
            yield from walk_tree(location.join(name), diagnostics, depth + 1, max_depth)


def cmd_find(args: argparse.Namespace) -> int:
    diagnostics = Diagnostics("benchfs find")
    try:
        tests = _find_tests(args)
    except argparse.ArgumentTypeError as error:
        diagnostics.fail(str(error))
        return 1
    end = b"\0" if args.print0 else b"\n"
    with Resolver(args.registry) as resolver:
        for operand in args.paths or ["bfs:/"]:
            for location, st, depth in walk_tree(resolver.locate(operand), diagnostics,
                                                 max_depth=args.maxdepth):
                if depth < args.mindepth:
                    continue
                if all(test(location.name, st) for test in tests):
                    out(location.shown + end)
    sys.stdout.flush()
    return 1 if diagnostics.count else 0


# -- stat ------------------------------------------------------------------------------------

_FILE_TYPES = {stat.S_IFREG: "regular file", stat.S_IFDIR: "directory",
               stat.S_IFLNK: "symbolic link", stat.S_IFIFO: "fifo", stat.S_IFSOCK: "socket",
               stat.S_IFCHR: "character special file", stat.S_IFBLK: "block special file"}

DEFAULT_STAT_FORMAT = (
    "  File: %n\n  Size: %-10s\tBlocks: %-10b IO Block: %-6o %F\n"
    "Device: %Hd,%Ld\tInode: %-11i Links: %h\n"
    "Access: (%04a/%10.10A)  Uid: (%5u/%8U)   Gid: (%5g/%8G)\n"
    "Access: %x\nModify: %y\nChange: %z\n Birth: -\n")

_DIRECTIVE = re.compile(rb"%([-#0 +]*\d*(?:\.\d+)?)(H?L?[a-zA-Z%])")


def _time_text(ns: int) -> str:
    seconds, fraction = divmod(ns, 10**9)
    moment = time.localtime(seconds)
    return time.strftime("%Y-%m-%d %H:%M:%S", moment) + f".{fraction:09d} " + \
        time.strftime("%z", moment)


def _stat_field(code: str, location: Location, st: os.stat_result) -> str | int:
    file_type = _FILE_TYPES.get(stat.S_IFMT(st.st_mode), "weird file")
    if stat.S_ISREG(st.st_mode) and st.st_size == 0:
        file_type = "regular empty file"
    name = location.text
    quoted = f"'{name}'"
    if code == "N" and stat.S_ISLNK(st.st_mode):
        target = os.fsdecode(location.fs.readlink(location.path))
        return f"{quoted} -> '{target}'"
    fields: dict[str, str | int] = {
        "n": name, "N": quoted, "s": st.st_size, "b": st.st_blocks, "B": 512,
        "o": st.st_blksize, "F": file_type, "i": st.st_ino, "h": st.st_nlink,
        "a": f"{stat.S_IMODE(st.st_mode):o}", "A": stat.filemode(st.st_mode),
        "f": f"{st.st_mode:x}", "u": st.st_uid, "U": _user(st.st_uid), "g": st.st_gid,
        "G": _group(st.st_gid), "x": _time_text(st.st_atime_ns),
        "y": _time_text(st.st_mtime_ns), "z": _time_text(st.st_ctime_ns),
        "X": st.st_atime_ns // 10**9, "Y": st.st_mtime_ns // 10**9,
        "Z": st.st_ctime_ns // 10**9, "d": st.st_dev, "D": f"{st.st_dev:x}",
        "Hd": os.major(st.st_dev), "Ld": os.minor(st.st_dev), "%": "%",
    }
    if code not in fields:
        raise ValueError(code)
    return fields[code]


def _printf(flags: str, value: str | int) -> str:
    """One printf conversion: "-" aligns left, "0" pads numbers with zeros, and
    a width alone aligns right, whatever the type (Python's default differs)."""
    match = re.fullmatch(r"([-#0 +]*)(\d*)(\.\d+)?", flags)
    assert match is not None
    marks, width, precision = match.group(1), match.group(2), match.group(3) or ""
    if "0" in marks and isinstance(value, int) and "-" not in marks:
        return f"{value:0{width}}"
    text = f"{value:{precision}}" if precision and isinstance(value, str) else str(value)
    return f"{text:{'<' if '-' in marks else '>'}{width}}" if width else text


def format_stat(format_text: bytes, location: Location, st: os.stat_result) -> bytes:
    def replace(match: re.Match[bytes]) -> bytes:
        flags, code = match.group(1).decode(), match.group(2).decode()
        value = _stat_field(code, location, st)
        if code == "a":
            value = int(str(value), 8) if "0" in flags else value
            if isinstance(value, int):
                return os.fsencode(_printf(flags, int(f"{value:o}")))
        return os.fsencode(_printf(flags, value))
    return _DIRECTIVE.sub(replace, format_text)


def cmd_stat(args: argparse.Namespace) -> int:
    diagnostics = Diagnostics("benchfs stat")
    if args.format is not None:
        format_text = os.fsencode(args.format) + b"\n"
    elif args.printf is not None:
        format_text = os.fsencode(args.printf).decode("unicode_escape").encode("latin-1")
    else:
        format_text = DEFAULT_STAT_FORMAT.encode()
    with Resolver(args.registry) as resolver:
        for operand in args.paths:
            location = resolver.locate(operand)
            try:
                st = (location.fs.stat(location.path) if args.dereference
                      else location.fs.lstat(location.path))
                out(format_stat(format_text, location, st))
            except OSError as error:
                diagnostics.os_error("cannot stat", location, error)
            except ValueError as error:
                diagnostics.fail(f"'{error}': invalid directive")
                return 1
    sys.stdout.flush()
    return 1 if diagnostics.count else 0


# -- the parsers -----------------------------------------------------------------------------


def add_listing_parsers(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    ls = commands.add_parser("ls", help="list directories (GNU ls)", add_help=False)
    ls.add_argument("--help", action="help")
    ls.add_argument("paths", nargs="*")
    ls.add_argument("-l", dest="long", action="store_true")
    ls.add_argument("-a", "--all", action="store_true")
    ls.add_argument("-R", "--recursive", action="store_true")
    ls.add_argument("-h", "--human-readable", dest="human", action="store_true")
    ls.add_argument("-1", dest="one_per_line", action="store_true",
                    help="one name per line (always so)")
    ls.add_argument("-d", "--directory", action="store_true")
    add_registry_option(ls)
    ls.set_defaults(func=cmd_ls)

    cat = commands.add_parser("cat", help="print files (GNU cat)")
    cat.add_argument("paths", nargs="+")
    add_registry_option(cat)
    cat.set_defaults(func=cmd_cat)

    du = commands.add_parser("du", help="disk usage (GNU du)", add_help=False)
    du.add_argument("--help", action="help")
    du.add_argument("paths", nargs="*")
    du.add_argument("-s", "--summarize", action="store_true")
    du.add_argument("-h", "--human-readable", dest="human", action="store_true")
    du.add_argument("-a", "--all", action="store_true")
    du.add_argument("-c", "--total", action="store_true")
    du.add_argument("-b", "--bytes", action="store_true", help="apparent size in bytes")
    du.add_argument("--apparent-size", action="store_true")
    add_registry_option(du)
    du.set_defaults(func=cmd_du)

    find = commands.add_parser("find", help="search a tree (GNU find's common tests)",
                               prefix_chars="-")
    find.add_argument("paths", nargs="*")
    find.add_argument("-name")
    find.add_argument("-type")
    find.add_argument("-size")
    find.add_argument("-maxdepth", type=int)
    find.add_argument("-mindepth", type=int, default=0)
    find.add_argument("-print0", action="store_true")
    find.add_argument("-print", action="store_true", help="the default action")
    add_registry_option(find)
    find.set_defaults(func=cmd_find)

    stat_parser = commands.add_parser("stat", help="file status (GNU stat)")
    stat_parser.add_argument("paths", nargs="+")
    stat_parser.add_argument("-c", "--format")
    stat_parser.add_argument("--printf")
    stat_parser.add_argument("-L", "--dereference", action="store_true")
    add_registry_option(stat_parser)
    stat_parser.set_defaults(func=cmd_stat)
