"""A racing client for test_races: runs one role, prints what was acknowledged."""

from __future__ import annotations

import json
import os
import sys

import benchfs


def rename_dir(client: benchfs.Client, src: str, dst: str, rounds: int) -> list[bool]:
    done = []
    for round_no in range(rounds):
        try:
            client.rename(f"{src}{round_no}", f"{dst}{round_no}")
            done.append(True)
        except FileNotFoundError:
            done.append(False)
    return done


def create_files(client: benchfs.Client, directory: str, count: int) -> list[str]:
    """Create files until the directory is gone (renamed away) or ``count`` are made."""
    made = []
    for index in range(count):
        try:
            client.close(client.open(f"{directory}/f{index}", os.O_CREAT | os.O_WRONLY))
        except (FileNotFoundError, NotADirectoryError):
            break
        made.append(f"f{index}")
    return made


def main() -> None:
    registry, role, *args = sys.argv[1:]
    client = benchfs.connect(registry)
    if role == "rename":
        result: object = rename_dir(client, args[0], args[1], int(args[2]))
    else:
        result = create_files(client, args[0], int(args[1]))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
