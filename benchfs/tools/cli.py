"""The tools' subcommands of ``benchfs``, added to its parser in one call."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from benchfs.tools.copy_commands import add_copy_parsers
from benchfs.tools.edit import add_edit_parsers
from benchfs.tools.flush import flush
from benchfs.tools.listing import add_listing_parsers
from benchfs.tools.paths import add_registry_option


def add_tool_parsers(commands: argparse._SubParsersAction[Any],
                     size: Callable[[str], int]) -> None:
    add_copy_parsers(commands, size)
    add_listing_parsers(commands)
    add_edit_parsers(commands)
    flush_parser = commands.add_parser(
        "flush", help="write back to the backend directory what changed in benchfs",
        description="For a cluster started with --backend DIR: copy every file created or "
                    "changed in benchfs since it was read to DIR (never in place: through a "
                    "temporary name). Deletions and renames are not written back.")
    flush_parser.add_argument("--workers", type=int, default=1)
    add_registry_option(flush_parser)
    flush_parser.set_defaults(func=lambda args: flush(args.registry, args.workers))
