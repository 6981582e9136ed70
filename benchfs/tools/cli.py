"""The tools' subcommands of ``benchfs``, added to its parser in one call."""

from __future__ import annotations

import argparse
from collections.abc import Callable

from benchfs.tools.copy_commands import add_copy_parsers
from benchfs.tools.edit import add_edit_parsers
from benchfs.tools.listing import add_listing_parsers


def add_tool_parsers(commands: argparse._SubParsersAction[argparse.ArgumentParser],
                     size: Callable[[str], int]) -> None:
    add_copy_parsers(commands, size)
    add_listing_parsers(commands)
    add_edit_parsers(commands)
