"""Run as a child: connect, drop to an unprivileged uid, try each operation on
benchfs and on the real os, print both outcomes as JSON lines."""

from __future__ import annotations

import json
import os
import sys

import benchfs

UID = GID = 4242


def outcome(call: object) -> list[object]:
    try:
        result = call()  # type: ignore[operator]
    except OSError as exc:
        return ["error", exc.errno]
    return ["ok", result if isinstance(result, (bool, int, str, type(None))) else "value"]


def main() -> None:
    registry, local_root, ops_json = sys.argv[1:4]
    client = benchfs.connect(registry)
    # Reach every server while still root: the test's registry sits in a private
    # (0700) pytest directory the unprivileged uid cannot read.
    client.statvfs("/")
    os.setgroups([])
    os.setgid(GID)
    os.setuid(UID)
    sides = {"benchfs": (client, "/perm"), "os": (os, local_root)}
    run_ops(sides, json.loads(ops_json))


def run_ops(sides: dict[str, tuple[object, str]], ops: list[list[object]]) -> None:
    """Try each operation on every side; print one JSON line of outcomes per op."""
    for name, args, kwargs in ops:
        row = {}
        for side, (api, root) in sides.items():
            real_args = [
                f"{root}/{a[2:]}" if isinstance(a, str) and a.startswith("P:")
                else tuple(a) if isinstance(a, list) else a  # JSON turned tuples to lists
                for a in args
            ]
            if name == "open":
                def call(api=api, real_args=real_args, kwargs=kwargs):  # noqa: ANN001
                    api.close(api.open(*real_args, **kwargs))
                    return "opened"
            else:
                def call(api=api, name=name, real_args=real_args, kwargs=kwargs):  # noqa: ANN001
                    return getattr(api, name)(*real_args, **kwargs)
            row[side] = outcome(call)
        print(json.dumps([name, args, row]), flush=True)


if __name__ == "__main__":
    main()
