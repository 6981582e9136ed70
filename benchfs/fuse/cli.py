"""`benchfs mount` and `benchfs umount`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from benchfs.fuse.mount import MountError, MountOptions, mount, unmount


def _split_options(values: list[str]) -> tuple[str, ...]:
    return tuple(option for value in values for option in value.split(",") if option)


def cmd_mount(args: argparse.Namespace) -> int:
    from benchfs.settings import registry_from_env

    try:
        registry = Path(args.registry or registry_from_env())
    except RuntimeError as exc:
        print(f"benchfs mount: {exc}", file=sys.stderr)
        return 1
    options = MountOptions(Path(args.mountpoint).absolute(), registry, args.allow_other,
                           _split_options(args.options), args.read_ahead, args.spin_us)
    try:
        mount(options, args.foreground)
    except MountError as exc:
        print(f"benchfs mount: {exc}", file=sys.stderr)
        return 1
    return 0


def cmd_umount(args: argparse.Namespace) -> int:
    try:
        unmount(Path(args.mountpoint), args.lazy)
    except MountError as exc:
        print(f"benchfs umount: {exc}", file=sys.stderr)
        return 1
    return 0


def add_mount_parsers(commands: argparse._SubParsersAction[Any]) -> None:
    mount_parser = commands.add_parser(
        "mount", help="mount the cluster with FUSE, for programs that are not Python")
    mount_parser.add_argument("mountpoint")
    mount_parser.add_argument("--registry", help="the cluster (default: $BENCHFS_REGISTRY)")
    mount_parser.add_argument("--foreground", "-f", action="store_true",
                              help="serve in this process instead of detaching")
    mount_parser.add_argument("--allow-other", action="store_true",
                              help="let other users than the mounting one use the mount")
    mount_parser.add_argument("-o", dest="options", action="append", default=[],
                              metavar="OPTIONS", help="FUSE mount options, comma-separated")
    mount_parser.add_argument("--read-ahead", type=int, default=MountOptions.read_ahead_kb,
                              metavar="KiB", help="the kernel's read-ahead on the mount "
                              "(root only; default %(default)s)")
    mount_parser.add_argument("--spin-us", type=int, default=MountOptions.spin_us,
                              help="µs the mount busy-polls for a reply before sleeping "
                                   "(default %(default)s)")
    mount_parser.set_defaults(func=cmd_mount)
    umount_parser = commands.add_parser("umount", help="unmount a benchfs mount")
    umount_parser.add_argument("mountpoint")
    umount_parser.add_argument("--lazy", "-z", action="store_true",
                               help="detach now, finish when the last file closes")
    umount_parser.set_defaults(func=cmd_umount)
