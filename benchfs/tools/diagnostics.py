"""GNU-style messages: ``benchfs cp: cannot stat 'x': No such file or directory``, one per
failed file, counted so the command can exit 1 at the end as GNU tools do."""

from __future__ import annotations

import os
import sys

from benchfs.tools.paths import Location


class Diagnostics:
    def __init__(self, program: str) -> None:
        self.program = program
        self.count = 0

    def fail(self, message: str) -> None:
        print(f"{self.program}: {message}", file=sys.stderr, flush=True)
        self.count += 1

    def os_error(self, what: str, location: Location, error: OSError) -> None:
        reason = error.strerror or os.strerror(error.errno or 0) or str(error)
        self.fail(f"{what} '{location.text}': {reason}")
